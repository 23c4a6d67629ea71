// `mvc checkout` in its three forms (docs/user-guide.md, docs/repository-format.md "Checkout order"):
//   checkout REV -- PATH...   the model directories' files and weights as at REV (index and
//                             work tree), HEAD unchanged — as `git checkout REV -- PATH`
//   checkout REV              move HEAD like `git checkout REV`, then restore every model's weights
//   checkout [-- PATH...]     make the work tree's weights match the work tree's pointers
// Every needed object is verified (present, hash matches) into a temp file beside its target
// before the work tree is touched; the model is rebuilt and strictly loaded from those temp
// files (unless load is off); only then are files renamed into place.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "core/torch_bridge.h"
#include "core/workspace.h"

namespace mvc::core {

struct CheckoutRequest {
  std::string rev;                         ///< "" = no revision
  std::vector<std::filesystem::path> paths;  ///< model directories (after "--")
  bool force = false;  ///< overwrite local changes and weights that exist nowhere else
  bool load = true;    ///< rebuild in LibTorch and load strictly (hashes are always checked)
};

struct RestoredModel {
  std::string dir;
  std::string weights_rel;
  std::string sha256;
  std::uint64_t size = 0;
  bool written = false;  ///< false: the work tree already had these bytes
  bool loaded = false;
  LoadCheck load;
  bool example_verified = false;  ///< the pointer's [example] was rerun and matched
};

struct CheckoutResult {
  std::string commit;  ///< resolved REV ("" for the pointer form)
  bool moved_head = false;
  std::vector<RestoredModel> models;
};

/// Throws mvc::Error: Exit::missing / Exit::integrity for objects (nothing changed),
/// Exit::model when the version does not build or load (nothing changed), Exit::failure for
/// local changes that would be overwritten without `force` (nothing changed).
CheckoutResult checkout(Workspace& ws, const CheckoutRequest& req);

}  // namespace mvc::core
