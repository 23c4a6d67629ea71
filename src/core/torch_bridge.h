// Loads libmvc_torch.so on demand (dlopen) so that the mvc binary pays LibTorch's start-up
// cost (~0.5 s, ~160 MB) only when a module must be built (docs/conventions.md, "LibTorch only where a module is
// built").
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/pointer.h"
#include "mvc/source.h"

namespace mvc::core {

struct LoadCheck {
  std::uint64_t parameters = 0;
  std::uint64_t tensors = 0;
};

/// Rebuilds the model from `source` (arch/hparams text, weights file, [load] options) in
/// LibTorch and loads the weights strictly. Errors name `source.weights_display()`.
/// Throws mvc::Error with the code the LibTorch side reports (Exit::model for a model that
/// does not build or load), or Exit::failure when libmvc_torch.so cannot be loaded
/// (it is looked for in $MVC_TORCH_LIBRARY, then beside libmvc_core.so).
LoadCheck torch_load_check(const ModelSource& source);

/// One output tensor of torch_run.
struct RunOutput {
  std::string name;
  std::vector<std::int64_t> shape;
  std::string dtype;
};

/// Rebuilds the model, loads its weights strictly, runs it in eval mode on the tensors of the
/// safetensors file `input` (named as arch.toml's [inputs]; dtypes and shapes checked) and
/// writes the outputs (named as arch.toml's `outputs`) to the safetensors file `output`.
/// Throws as torch_load_check; Exit::model for inputs that do not match.
std::vector<RunOutput> torch_run(const ModelSource& source, const std::filesystem::path& input,
                                 const std::filesystem::path& output);

/// `source` with the pointer's [load] table applied (key, strip_prefix, cast).
ModelSource with_load(ModelSource source, const LoadOptions& load);

}  // namespace mvc::core
