// The layer families of the LibTorch builder (src/model/internal.h, builders()): one file per
// family in src/model/build/, mirroring src/arch/types/<family>.cpp name for name and type for
// type (docs/conventions.md, "Adding a layer type"). This header declares the families and the
// helpers their builders share. Includes torch: only src/model may include it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "model/internal.h"
#include "mvc/error.h"

namespace mvc::model::build {

namespace nn = torch::nn;
using Ins = std::vector<at::Tensor>;
using Outs = std::vector<at::Tensor>;
using L = const arch::Layer&;
using C = const BuildContext&;
/// A family's builders: type name → builder, in any order (the registry checks that no type is
/// built by two families and records each type's family).
using Builders = std::vector<std::pair<std::string, Builder>>;

// --- the families ------------------------------------------------------------------------------
// A family's name is its file's name, here and in src/arch/types/.

Builders linear();      ///< Linear, Bilinear, Embedding, Identity
Builders conv();        ///< Conv1d, Conv2d, ConvTranspose2d
Builders norm();        ///< BatchNorm1d/2d, LayerNorm, GroupNorm
Builders pool();        ///< pooling and resampling (Upsample), modules and functions
Builders recurrent();   ///< LSTM, GRU
Builders attention();   ///< MultiheadAttention
Builders activation();  ///< activations and Dropout, modules and functions
Builders ops();         ///< Flatten and the parameter-free tensor operations

// --- helpers -----------------------------------------------------------------------------------

/// "arch.toml:3:5: layer 'conv' (Conv2d)", the start of a builder's messages.
std::string where(const arch::Layer& l);

/// A torch::nn module holder with a single-tensor forward.
template <class Holder>
BuiltLayer unary(Holder h) {
  return BuiltLayer{h.ptr(), [h](const Ins& in) mutable { return Outs{h->forward(in[0])}; }};
}

/// A parameter-free function of the inputs (registers nothing).
inline BuiltLayer fn(std::function<at::Tensor(const Ins&)> f) {
  return BuiltLayer{nullptr, [f](const Ins& in) { return Outs{f(in)}; }};
}

template <std::size_t D>
torch::ExpandingArray<D> expanding(const std::vector<std::int64_t>& v) {
  return torch::ExpandingArray<D>(at::IntArrayRef(v));
}

}  // namespace mvc::model::build
