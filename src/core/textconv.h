// The textconv driver of pointer files (diff.mvc.textconv, docs/repository-format.md "Git
// settings"): what `git diff`, `git log -p` and `git show` print for a pointer, so that git's line
// diff shows which tensors changed. Torch-free: tensor bytes are read by src/weights.
#pragma once

#include <optional>
#include <string>

#include "core/workspace.h"

namespace mvc::core {

/// The text of pointer `text`: a summary (path, size, sha256, kind, tensors, parameters, load
/// options, example) and, when `ws` is given and holds the object in its cache, one line per
/// tensor: "tensor NAME DTYPE [SHAPE] sha256:DIGEST12" (DIGEST12: the first 12 hex digits of the
/// sha256 of the tensor's C-contiguous bytes). Text that is not a valid pointer comes back as
/// it is (git still shows a diff). Never throws for a missing or unreadable object: a line says
/// why there are no tensor lines.
std::string textconv_pointer(const std::string& text, Workspace* ws);

}  // namespace mvc::core
