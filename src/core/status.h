// `mvc status`: how each model directory differs from its last commit.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/conflict.h"
#include "core/workspace.h"

namespace mvc::core {

/// One side of a conflicted model directory, as status shows it.
struct ConflictSideStatus {
  std::optional<PointerFile> pointer;  ///< the side's pointer (nullopt: none, or `error`)
  std::string error;                   ///< why the side's pointer cannot be read ("" = fine)
  std::string commit;                  ///< the side's commit (HEAD, MERGE_HEAD, ...; "" = none recorded)
  /// The side's metrics.toml flattened (core::flatten_toml); one ("(invalid metrics.toml)", "")
  /// pair when it does not parse.
  std::vector<std::pair<std::string, std::string>> metrics;
};

struct ModelStatus {
  std::string dir;                        ///< repo-relative model directory
  std::vector<std::string> changes;       ///< empty = clean. Each one of: "not committed",
                                          ///< "deleted", "weights missing", "weights modified",
                                          ///< "object not in cache", "arch.toml modified",
                                          ///< "hparams.toml modified", "metrics.toml modified",
                                          ///< "optimizer.toml modified", "optimizer state
                                          ///< missing", "optimizer state modified",
                                          ///< "pointer modified", "weights added: NAME" (a
                                          ///< new shard commit would take), "INDEX added",
                                          ///< "INDEX removed", "INDEX modified" (the shard
                                          ///< index), "pointer size wrong" (the
                                          ///< weights hash to the pointer's sha256 but have
                                          ///< another size than it records), or "unmerged"
                                          ///< alone (then `conflict` says more)
  std::optional<PointerFile> pointer;     ///< the work tree's pointer
  std::string weights_sha256;             ///< of the work tree's weights file ("" if absent)
  std::optional<ModelConflict> conflict;  ///< unmerged files (a merge stopped on a conflict)
  ConflictSideStatus ours, theirs;        ///< each side's pointer, when `conflict`
  bool clean() const { return changes.empty(); }
};

/// Status of every model directory in the work tree and in HEAD, sorted by directory. A
/// conflicted directory is reported "unmerged" with both sides' pointers, never read from the
/// work tree (its files hold conflict markers).
std::vector<ModelStatus> model_status(Workspace& ws);

}  // namespace mvc::core
