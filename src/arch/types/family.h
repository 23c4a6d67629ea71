// The layer families of the type table (src/arch/layer_types.h), torch-free: one file per family
// in src/arch/types/, each mirrored by the LibTorch builders of src/model/build/<family>.cpp
// (docs/conventions.md, "Adding a layer type"). This header declares the families and the helpers
// they share: option specs and output-shape rules.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "arch/layer_types.h"

namespace mvc::arch::detail::types {

using Tensors = std::vector<TensorSpec>;
using Ints = std::vector<std::int64_t>;

// --- the families ------------------------------------------------------------------------------
// Each returns its types, modules and operations alike, in any order (the table sorts them by
// name and sets LayerType::family). A family's name is its file's name.

std::vector<LayerType> linear();      ///< Linear, Bilinear, Embedding, Identity
std::vector<LayerType> conv();        ///< Conv1d, Conv2d, ConvTranspose2d
std::vector<LayerType> norm();        ///< BatchNorm1d/2d, LayerNorm, GroupNorm
std::vector<LayerType> pool();        ///< pooling and resampling (Upsample), modules and functions
std::vector<LayerType> recurrent();   ///< LSTM, GRU
std::vector<LayerType> attention();   ///< MultiheadAttention
std::vector<LayerType> activation();  ///< activations and Dropout, modules and functions
std::vector<LayerType> ops();         ///< Flatten and the parameter-free tensor operations
std::vector<LayerType> params();      ///< Parameter, Buffer: free tensors under their own keys

// --- option specs ------------------------------------------------------------------------------

/// An integer option, required when `def` is empty; `min` bounds it from below.
OptionSpec int_opt(std::string name, std::optional<std::int64_t> min, std::string def = {});
/// An integer or a list of `n` integers, each >= `min`.
OptionSpec tuple_opt(std::string name, std::size_t n, std::int64_t min, std::string def = {});
/// A number, bounded by `fmin` / `fmax` (inclusive) when given.
OptionSpec float_opt(std::string name, std::string def, std::optional<double> fmin = {},
                     std::optional<double> fmax = {});
OptionSpec bool_opt(std::string name, bool def);
/// One of `choices`; `def` is written quoted in docs and messages.
OptionSpec string_opt(std::string name, std::string def, std::vector<std::string> choices);
/// An integer of any sign (a dimension index).
OptionSpec any_int(std::string name, std::string def = {});
/// A list of sizes >= `min` whose entries may read a size of another input ("in1.size(0)").
OptionSpec sizes_opt(std::string name, std::int64_t min, std::string def = {});
/// One optional size: an integer, or "in<k>.size(<d>)" read from input k (mvc.arch/2).
OptionSpec size_opt(std::string name);
/// A number operand (x * 0.5); absent means None.
OptionSpec scalar_opt(std::string name);

// --- output-shape rules and other helpers ------------------------------------------------------

/// The size of a dimension, nullopt when symbolic or unknown.
std::optional<std::int64_t> known(const Dim& d);
/// The sizes of a `sizes` option with the sizes it reads from the inputs filled in (symbolic or
/// "?" when they are); an error when an entry names an input the layer does not have, or a
/// dimension out of range.
Inferred resolve_sizes(const Layer& l, const std::string& key, const std::vector<std::optional<Shape>>& in);

/// The dimension "?": a size the rules cannot tell.
extern const Dim kUnknown;

/// The layer cannot take its input: `what`, about `option` (may be empty).
Inferred err(std::string what, std::string option = {});
/// "<opt> = <d> is out of range for input shape ..." about `opt`.
Inferred bad_dim(const std::string& opt, std::int64_t d, const Shape& in);
/// Normalizes a dimension index against a rank; nullopt when out of range.
std::optional<std::size_t> norm_dim(std::int64_t d, std::size_t rank);

Inferred same_shape(const Layer&, const std::optional<Shape>& in);
std::pair<std::string, std::string> no_check(const Layer&);
Tensors no_tensors(const Layer&);

/// True when the layer's padding is the string "same".
bool is_same_padding(const Layer& l);
/// The output shape of an `nd`-d convolution (pool = false), transposed convolution
/// (transposed = true), max pooling (pool = true) or average pooling (pool = avg = true) over an
/// (N, C, *) or (C, *) input, with PyTorch's formulas (in 128 bits: no overflow).
Inferred spatial_out(const Layer& l, const std::optional<Shape>& in, bool pool, std::size_t nd = 2,
                     bool transposed = false, bool avg = false);

/// Appends a parameter-free operation (is_op: registers no module) taking `min_in`..`max_in`
/// inputs, with no semantic check, no tensors and its input's shape; returns it for the caller
/// to set its rules (valid until the next append).
LayerType& add_op(std::vector<LayerType>& t, std::string name, std::string doc, std::vector<OptionSpec> opts,
                  std::size_t min_in, std::size_t max_in);
/// Appends a module with no tensors whose output has its input's shape (ReLU, Dropout, ...).
void add_shape_preserving(std::vector<LayerType>& t, std::string name, std::string doc, std::vector<OptionSpec> opts);

}  // namespace mvc::arch::detail::types
