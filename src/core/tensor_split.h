// How a weights file is cut into segment objects (docs/repository-format.md, "Object store"):
// a safetensors file is its header (the 8-byte size and the JSON), then its tensors in file
// order; a tensor of at least kSegmentMin bytes is a segment of its own, and runs of smaller
// ones are packed into segments of at least kSegmentMin bytes (the last may be smaller), so that
// many small tensors do not make many small objects. A file that gives fewer than three
// segments, and every other file (torch.save zips included), is stored whole.
#pragma once

#include <cstdint>

#include "store/object_store.h"

namespace mvc::core {

/// The smallest segment (but the header and a file's last pack): 1 MiB.
inline constexpr std::uint64_t kSegmentMin = 1 << 20;

/// The Splitter every Workspace installs in its ObjectStore.
store::Splitter weights_splitter();

}  // namespace mvc::core
