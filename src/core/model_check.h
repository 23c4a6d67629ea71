// Torch-free checks of a weights file against an architecture (DESIGN.md §7a): the expected
// state_dict derived from arch.toml compared with the weights file's header, without reading
// tensor data.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "arch/arch.h"
#include "weights/safetensors.h"

namespace mvc::core {

struct WeightsInfo {
  std::string kind;  ///< "safetensors" (the only kind this version reads)
  weights::SafetensorsHeader header;
};

/// Detects the format of a weights file and reads its header. Throws mvc::Error(Exit::model)
/// "<display>: <why>" for a file mvc cannot read (a torch.save zip or legacy pickle, a
/// TorchScript archive, anything else), with what to do instead.
WeightsInfo inspect_weights(const std::filesystem::path& path, const std::string& display);

struct Fit {
  std::uint64_t tensors = 0;
  std::uint64_t parameters = 0;  ///< elements of trainable parameters (buffers excluded)
};

/// Strict check: every expected key present, none extra, same shape and dtype. Throws ONE
/// mvc::Error(Exit::model) listing every missing and unexpected tensor and every shape and
/// dtype mismatch: "<weights> does not fit <arch>: missing tensor 'linear2.bias' [1] float32; ...".
Fit check_fit(const arch::Architecture& a, const WeightsInfo& w, const std::string& weights_name,
              const std::string& arch_name);

/// "1.2 MiB"
std::string human_bytes(std::uint64_t n);

}  // namespace mvc::core
