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

#include "arch/layer_types.h"
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
Builders params();      ///< Parameter, Buffer: free tensors under their own keys

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

/// The sizes of a `sizes` option (arch::detail::size_list) with the entries that read another
/// input's size ("in1.size(0)") taken from `in`.
inline std::vector<std::int64_t> sizes_of(const std::vector<arch::detail::SizeEntry>& entries, const Ins& in) {
  std::vector<std::int64_t> r;
  for (const auto& e : entries) r.push_back(e.ref ? in.at(e.ref->first).size(e.ref->second) : e.value);
  return r;
}

/// A scalar option (OptKind::scalar) as an at::Scalar: an integer stays an integer.
inline at::Scalar scalar_of(const arch::Layer& l, const std::string& key) {
  const auto& v = l.options.at(key);
  if (v.kind == arch::Value::Kind::integer) return at::Scalar(v.i);
  return at::Scalar(v.f);
}

template <std::size_t D>
torch::ExpandingArray<D> expanding(const std::vector<std::int64_t>& v) {
  return torch::ExpandingArray<D>(at::IntArrayRef(v));
}

}  // namespace mvc::model::build
