// The table of module types (docs/architecture.md): for each type, its constructor options (names,
// kinds, PyTorch's defaults), the tensors it registers (in PyTorch's order) and its
// output-shape rule. Torch-free. The types are grouped in families, one file each in
// src/arch/types/, mirrored by the LibTorch builders of src/model/build/; adding a type is the
// checklist of docs/conventions.md, "Adding a layer type".
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "arch/arch.h"

namespace mvc::arch::detail {

/// How an option's value may be written.
enum class OptKind {
  integer,         ///< 3
  floating,        ///< 0.1 (an integer is accepted)
  boolean,         ///< true
  string,          ///< "zeros" (one of `choices`)
  int_or_tuple,    ///< 3 or [3, 3] (`tuple_size` elements)
  padding,         ///< like int_or_tuple, or one of `choices` ("same", "valid")
  int_or_list,     ///< 16 or [4, 16] (any length >= 1)
  optional_int,    ///< absent means None
  optional_float,  ///< absent means None
  scalar,          ///< a number, kept an integer when written as one (x * 2 vs x * 2.0); inf allowed
  sizes,           ///< a list of sizes: integers >= `min`, or "in<k>.size(<d>)" (a size of input k)
  size,            ///< one integer, or "in<k>.size(<d>)" (mvc.arch/2); absent means None
};

struct OptionSpec {
  std::string name;
  OptKind kind = OptKind::integer;
  bool required = false;
  std::string default_text;          ///< PyTorch's default as documented ("1", "None", "kernel_size")
  std::optional<std::int64_t> min;   ///< lower bound of an integer (of each element)
  std::size_t tuple_size = 0;        ///< for int_or_tuple / padding
  std::vector<std::string> choices;  ///< accepted strings for string / padding
  std::optional<double> fmin, fmax;  ///< bounds of a float (inclusive)
  /// The arch format version that introduced the option: a layer that writes it needs
  /// `format = "mvc.arch/<since>"` or later (docs/architecture.md, "Format versions").
  int since = 1;
};

/// A tensor of one module, relative to the module's name ("weight").
struct TensorSpec {
  std::string name;
  std::vector<std::int64_t> shape;
  bool is_buffer = false;
  bool is_int64 = false;   ///< num_batches_tracked; otherwise the architecture's dtype
  std::string dtype = {};  ///< a Buffer's own dtype when set (canonical name); else as above
  /// The tensor's key is the layer's name itself (Parameter, Buffer), not "<layer>.<name>".
  bool is_layer = false;
};

/// The state_dict key of a layer's tensor: "<layer>.<tensor>", or the layer's name for a free
/// Parameter / Buffer.
std::string tensor_key(const Layer& l, const TensorSpec& t);
/// The dtype of a layer's tensor in an architecture of dtype `arch_dtype`.
std::string tensor_dtype(const TensorSpec& t, const std::string& arch_dtype);

/// Result of an output-shape rule: a shape (dims may be "?"), nullopt when even the rank is
/// unknown, or an error (the forward pass would fail) naming the option at fault.
struct Inferred {
  std::optional<Shape> shape = {};
  std::string error = {};                        ///< non-empty: the layer cannot take this input
  std::string option = {};                       ///< the option the error is about (for its position), may be empty
  std::vector<std::optional<Shape>> extra = {};  ///< shapes of outputs 1.. of a multi-output type
};

struct LayerType {
  std::string name;
  std::string doc;                  ///< one line, for docs and messages
  std::string family;               ///< "norm": defined in src/arch/types/norm.cpp
  std::vector<OptionSpec> options;  ///< in PyTorch's constructor order
  std::size_t arity = 1;            ///< tensors it takes (at least)
  std::size_t max_inputs = 1;       ///< tensors it takes at most
  bool is_op = false;               ///< a parameter-free operation (registers no module)
  /// The arch format version that introduced the type (docs/architecture.md, "Format versions").
  int since = 1;
  /// Number of outputs (LSTM: 3, chunk: chunks); null = 1.
  std::function<std::size_t(const Layer&)> num_outputs;
  /// Output-shape rule over several inputs; when set, used instead of `output`.
  std::function<Inferred(const Layer&, const std::vector<std::optional<Shape>>& in)> output_n;
  /// Semantic checks beyond the option kinds (in_channels % groups, ...). Returns an error
  /// message and the option at fault, or an empty message.
  std::function<std::pair<std::string, std::string>(const Layer&)> validate;
  std::function<std::vector<TensorSpec>(const Layer&)> tensors;
  /// `in` is the input shape, nullopt when unknown.
  std::function<Inferred(const Layer&, const std::optional<Shape>& in)> output;
  const OptionSpec* option(const std::string& key) const;
  std::string option_names() const;  ///< "in_features, out_features, bias"
};

/// What in `l` needs arch format 2 or later ("layer type 'Hardsigmoid'", "option 'scalar'", "a
/// size read from an input in 'shape'"), empty when format 1 describes it.
std::string format2_construct(const Layer& l, const LayerType& t);

/// An entry of a size list that reads a size of another input: "in1.size(0)" → {1, 0}.
std::optional<std::pair<std::size_t, std::int64_t>> parse_size_ref(const std::string& s);

/// One entry of a `sizes` option: a size (-1: inferred or kept), or a size of another input.
struct SizeEntry {
  std::int64_t value = 0;
  std::optional<std::pair<std::size_t, std::int64_t>> ref;  ///< (input index, dimension)
};
/// The entries of a `sizes` option (an integer is a list of one).
std::vector<SizeEntry> size_list(const Layer& l, const std::string& key);

/// nullptr when unknown.
const LayerType* find_layer_type(const std::string& name);
const std::vector<LayerType>& layer_types();

/// Checks a layer against its type: unknown options, option kinds and bounds, required
/// options, then the type's semantic checks. `origins` maps an option to the reference it came
/// from ("${hparams.x}"), for messages. Throws mvc::Error(Exit::model) naming the position.
void validate_layer(const Layer& l, const LayerType& t, const std::map<std::string, std::string>* origins = nullptr);

/// "arch.toml:3:5: <what>" as mvc::Error(Exit::model).
[[noreturn]] void fail(const SourcePos& pos, const std::string& what);
/// "layer 'conv' (Conv2d)"
std::string layer_label(const Layer& l);
/// "integer 3", "string \"x\"", "array [1, 2]"
std::string describe(const Value& v);
/// TOML-like text of a value: 3, 2.5, true, "x", [1, 2].
std::string value_text(const Value& v);
/// Checks a value against an option's kind and bounds; returns an error ("must be ...") or "".
std::string check_option(const OptionSpec& spec, const Value& v);
/// Closest candidate by edit distance, when close enough to be a likely typo.
std::optional<std::string> suggest(const std::string& word, const std::vector<std::string>& candidates);
/// The element count of a shape (all dims known).
std::uint64_t numel(const std::vector<std::int64_t>& shape);
/// Joins with ", ".
std::string join(const std::vector<std::string>& items);

/// Canonical torch dtype name for a name or alias torch accepts ("float" → "float32"),
/// nullopt when unknown.
std::optional<std::string> canonical_dtype(const std::string& name);
bool is_floating_dtype(const std::string& canonical);
/// "float64, float32, ..." (canonical names).
std::string dtype_names(bool floating_only);

/// Output shapes of every layer (nullopt when unknown). With `strict`, a layer that cannot
/// take its input throws mvc::Error(Exit::model) naming the layer's position.
std::vector<std::optional<Shape>> propagate_shapes(const Architecture& a, bool strict);

}  // namespace mvc::arch::detail
