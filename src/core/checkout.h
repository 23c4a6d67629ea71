// `mvc checkout` in its three forms (docs/user-guide.md, docs/repository-format.md "Checkout order"):
//   checkout REV -- PATH...   the model directories' files and weights as at REV (index and
//                             work tree), HEAD unchanged — as `git checkout REV -- PATH`
//   checkout REV              move HEAD like `git checkout REV`, then restore every model's weights
//   checkout [-- PATH...]     make the work tree's weights match the work tree's pointers
//   checkout --ours|--theirs PATH...   resolve unmerged model directories with one side's
//                             version, whole: its files (work tree and index) and its weights
// Every needed object is verified (present, hash matches) into a temp file beside its target
// before the work tree is touched; the model is rebuilt and strictly loaded from those temp
// files (unless load is off); only then are files renamed into place.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/conflict.h"
#include "core/torch_bridge.h"
#include "core/workspace.h"
#include "util/progress.h"

namespace mvc::core {

struct CheckoutRequest {
  std::string rev;                           ///< "" = no revision
  std::vector<std::filesystem::path> paths;  ///< model directories (after "--")
  bool force = false;                        ///< overwrite local changes and weights that exist nowhere else
  bool load = true;                          ///< rebuild in LibTorch and load strictly (hashes are always checked)
  /// --ours / --theirs: resolve the conflicted model directories `paths` (no `rev`) with that
  /// side's version (core/conflict.h side_files): its model files are written to the work tree
  /// and staged, which removes their unmerged entries as `git add` does, and its weights are
  /// restored. A directory that is not unmerged is Exit::usage.
  std::optional<Side> side;
  /// Where the copying and verifying of weights reports progress (util/progress.h).
  util::Progress* progress = nullptr;
};

struct RestoredModel {
  std::string dir;
  std::string weights_rel;
  std::string sha256;
  std::uint64_t size = 0;            ///< of every file
  std::size_t files = 1;             ///< weights files (several: shards; weights_rel and sha256 are the first's)
  bool optimizer_state = false;      ///< the version stores optimizer state, restored with the weights
  bool written = false;              ///< false: the work tree already had these bytes
  std::vector<std::string> removed;  ///< shards of the previous version that this one lacks, removed
  bool loaded = false;
  LoadCheck load;
  bool example_verified = false;      ///< the pointer's [example] was rerun and matched
  std::vector<std::string> resolved;  ///< --ours/--theirs: the unmerged files resolved (repo-relative)
};

struct CheckoutResult {
  std::string commit;  ///< resolved REV ("" for the pointer form)
  bool moved_head = false;
  std::vector<RestoredModel> models;
};

/// Throws mvc::Error: Exit::missing / Exit::integrity for objects (nothing changed),
/// Exit::model when the version does not build or load (nothing changed), Exit::failure for
/// local changes that would be overwritten without `force` (nothing changed), Exit::model
/// ModelConflict::message() when a model directory it would read or overwrite is unmerged
/// (without `side`; nothing changed).
CheckoutResult checkout(Workspace& ws, const CheckoutRequest& req);

}  // namespace mvc::core
