// Torch-free internal entry point of libmvc_torch, so that bridge.cpp (the extern "C" side)
// needs no torch header.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "mvc/model.h"

namespace mvc::model {

struct LoadCheck {
  std::uint64_t parameters = 0;  ///< trainable parameters (buffers excluded)
  std::uint64_t tensors = 0;     ///< state_dict entries (parameters and buffers)
};

/// Model::load, then counts. Throws what Model::load throws.
LoadCheck load_check(const ModelSource& source);

/// One tensor that `run_files` wrote.
struct RunOutput {
  std::string name;
  std::vector<std::int64_t> shape;
  std::string dtype;  ///< torch name
};

/// Model::load, then Model::run on the tensors of the safetensors file `input` (named as the
/// architecture's inputs), and writes the outputs to the safetensors file `output`
/// (deterministic writer). Throws what Model::load / Model::run / the reader throw.
std::vector<RunOutput> run_files(const ModelSource& source, const std::filesystem::path& input,
                                 const std::filesystem::path& output);

}  // namespace mvc::model
