// Torch-free internal entry point of libmvc_torch, so that bridge.cpp (the extern "C" side)
// needs no torch header.
#pragma once

#include <cstdint>

#include "mvc/model.h"

namespace mvc::model {

struct LoadCheck {
  std::uint64_t parameters = 0;  ///< trainable parameters (buffers excluded)
  std::uint64_t tensors = 0;     ///< state_dict entries (parameters and buffers)
};

/// Model::load, then counts. Throws what Model::load throws.
LoadCheck load_check(const ModelSource& source);

}  // namespace mvc::model
