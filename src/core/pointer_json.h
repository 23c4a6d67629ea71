// The JSON record of a version's weights (docs/json.md): one function for `log --json`,
// `show --json` and the Python package's mvc.commit, so that they can never disagree.
#pragma once

#include <nlohmann/json.hpp>

#include "core/pointer.h"

namespace mvc::core {

/// {"path", "sha256", "size", "kind", "tensors", "parameters", "digest", "files"}: `size`,
/// `tensors` and `parameters` count every weights file; `path`, `sha256` and `kind` are the
/// first file's (all there is for one file); `digest` is Pointer::weights_digest (what names
/// the weights in log, diff and report: the file's sha256, or for sharded weights the digest
/// of every file); `files` has one {"path", "kind", "size", "tensors", "sha256"} per weights
/// file, in the pointer's order. The optimizer state is not part of it.
nlohmann::ordered_json weights_record(const Pointer& p);

}  // namespace mvc::core
