// Conversion of a weights file into canonical safetensors (`mvc import`), torch-free.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "weights/torch_zip.h"

namespace mvc::weights {

struct ConvertResult {
  std::uint64_t tensors = 0;
  std::uint64_t elements = 0;  ///< sum of numel over the tensors
  std::string key;             ///< where the state dict was found in a wrapping checkpoint ("" = top level)
};

/// Reads the state dict of `src` (a torch.save zip checkpoint or a safetensors file, after
/// `opts.key` / `opts.strip_prefix`) and writes it to `dst` with write_safetensors: names
/// sorted, views made contiguous (gathered along their strides; tensors that shared a storage
/// become separate copies, as safetensors has no sharing), bytes copied bit for bit, no
/// metadata. Deterministic: the same state dict gives the same bytes. `dst` is written
/// atomically; on error nothing is written. Throws what read_torch_checkpoint /
/// read_safetensors_header throw; mvc::Error(Exit::model) for a key given with a safetensors
/// source.
ConvertResult convert_to_safetensors(const std::filesystem::path& src, const std::filesystem::path& dst,
                                     const StateDictOptions& opts);

}  // namespace mvc::weights
