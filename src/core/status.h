// `mvc status`: how each model directory differs from its last commit.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/workspace.h"

namespace mvc::core {

struct ModelStatus {
  std::string dir;                   ///< repo-relative model directory
  std::vector<std::string> changes;  ///< empty = clean. Each one of: "not committed",
                                     ///< "deleted", "weights missing", "weights modified",
                                     ///< "object not in cache", "arch.toml modified",
                                     ///< "hparams.toml modified", "metrics.toml modified",
                                     ///< "pointer modified", "pointer size wrong" (the
                                     ///< weights hash to the pointer's sha256 but have
                                     ///< another size than it records)
  std::optional<PointerFile> pointer;  ///< the work tree's pointer
  std::string weights_sha256;          ///< of the work tree's weights file ("" if absent)
  bool clean() const { return changes.empty(); }
};

/// Status of every model directory in the work tree and in HEAD, sorted by directory.
std::vector<ModelStatus> model_status(Workspace& ws);

}  // namespace mvc::core
