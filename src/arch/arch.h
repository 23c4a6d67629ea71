// The architecture language (docs/architecture.md), torch-free: parse arch.toml, resolve
// `${hparams.key}` references, and derive from it the expected state_dict (keys, shapes,
// dtypes) and a per-layer summary. src/model builds the LibTorch module from the same
// `Architecture`; both must agree key for key and shape for shape.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace mvc::arch {

/// Where a value came from, for error messages ("arch.toml:12:5").
struct SourcePos {
  std::string file;
  std::uint32_t line = 0;
  std::uint32_t column = 0;
  std::string str() const;  ///< "file:line:column" (or "file" when line is 0)
};

/// A resolved option value: TOML scalar or array, after `${hparams...}` substitution.
struct Value {
  enum class Kind { boolean, integer, floating, string, array } kind = Kind::integer;
  bool b = false;
  std::int64_t i = 0;
  double f = 0;
  std::string s;
  std::vector<Value> items;
  SourcePos pos;
  std::string type_name() const;  ///< "boolean", "integer", "float", "string", "array"
};

/// One dimension of a declared shape: a size, or a symbolic name such as "batch".
using Dim = std::variant<std::int64_t, std::string>;
using Shape = std::vector<Dim>;
std::string shape_str(const Shape& s);  ///< "[batch, 10]"

struct InputSpec {
  std::string name;
  Shape shape;
  std::string dtype = "float32";  ///< torch name
  SourcePos pos;
};

/// A layer after parsing and hparams substitution.
struct Layer {
  /// Module path: the state_dict prefix of its tensors ("linear1", "layer1.0.conv1"); for a
  /// parameter-free operation only a node name (it registers nothing).
  std::string name;
  std::string type;                      ///< module type ("Linear") or operation ("add")
  std::map<std::string, Value> options;  ///< constructor options, as written (after substitution)
  /// The values it reads, resolved: a declared input ("x"), a layer ("layer1.0.bn2"), or one
  /// output of a layer with several ("lstm[0]"). Empty only for a first layer when no input
  /// is declared.
  std::vector<std::string> inputs;
  SourcePos pos;  ///< the [[layers]] table
  /// mvc.arch/2 `run = false`: a module that is built and registered (its tensors are in the
  /// state_dict) but never run: it reads nothing and gives no value (googlenet's aux heads).
  bool run = true;
  /// mvc.arch/2 `shares = "<layer>"`: a call of an earlier module layer's module (the same
  /// parameters: a shared encoder called twice). `type` and `options` are copied from that
  /// layer, this holds its full name; the call registers nothing.
  std::string shares;

  /// Option accessors: throw mvc::Error(Exit::model) "<pos>: layer '<name>' (<type>): option
  /// '<key>' ..." when missing (for required) or of the wrong type.
  std::int64_t int_opt(const std::string& key) const;
  std::int64_t int_opt(const std::string& key, std::int64_t def) const;
  double float_opt(const std::string& key, double def) const;  ///< integer accepted too
  bool bool_opt(const std::string& key, bool def) const;
  std::string str_opt(const std::string& key, const std::string& def) const;
  /// An int or a list of `n` ints (kernel_size = 3 or [3, 3]).
  std::vector<std::int64_t> ints_opt(const std::string& key, std::size_t n) const;
  std::vector<std::int64_t> ints_opt(const std::string& key, std::size_t n, std::int64_t def) const;
  /// An int or a list of any length (LayerNorm normalized_shape).
  std::vector<std::int64_t> int_list_opt(const std::string& key) const;
  bool has(const std::string& key) const { return options.count(key) != 0; }
};

/// A graph output: the name it is given (as written in `outputs`) and the value it is.
struct OutputSpec {
  std::string name;  ///< "logits", "lstm[1]"
  std::string ref;   ///< resolved reference, as in Layer::inputs
  SourcePos pos;
};

/// A tied weight (mvc.arch/2's `ties`): the state_dict key `key` is the same tensor as `source`,
/// which comes first in the state_dict; a weights file holds it once, under `source`.
struct Tie {
  std::string key;     ///< "lm_head.weight"
  std::string source;  ///< "transformer.wte.weight"
  SourcePos pos;
};

/// "lstm[1]" → {"lstm", 1}; "fc" → {"fc", 0}.
std::pair<std::string, std::size_t> split_ref(const std::string& ref);

/// The architecture after expansion: blocks instantiated, repetitions unrolled, `when`
/// conditions applied, every `${...}` evaluated. `layers` are in the order written, which is
/// both a topological order of the graph and the registration order of the modules.
struct Architecture {
  std::string format;  ///< "mvc.arch/1"
  std::string name;
  std::string dtype = "float32";  ///< default parameter dtype (torch name)
  std::vector<InputSpec> inputs;
  std::vector<Layer> layers;
  std::vector<OutputSpec> outputs;  ///< at least one; default: the last layer's output(s)
  std::vector<Tie> ties;            ///< tied weights (mvc.arch/2), in the order written
  std::string file;                 ///< for error messages
};

/// Parses arch.toml text. `hparams_toml` is the text of hparams.toml (empty when there is
/// none); `arch_name`/`hparams_name` name the files in errors.
/// Throws mvc::Error(Exit::model) with "<file>:<line>:<column>: <what>" for: TOML syntax
/// errors, a missing or unknown `format`, an unknown layer type (listing the known ones), a
/// missing required option or an unknown option (listing the valid ones), an unknown
/// `${hparams.key}` reference, duplicate layer names.
Architecture parse_architecture(const std::string& arch_toml, const std::string& arch_name,
                                const std::string& hparams_toml, const std::string& hparams_name);

/// Reads `<dir>/arch.toml` and, when present, `<dir>/hparams.toml`.
Architecture load_architecture(const std::filesystem::path& model_dir);

/// A tensor of the expected state_dict.
struct ExpectedTensor {
  std::string key;                  ///< "linear1.weight"
  std::vector<std::int64_t> shape;  ///< e.g. {20, 10}
  std::string dtype;                ///< torch name, e.g. "float32"; "int64" for num_batches_tracked
  bool is_buffer = false;           ///< running_mean etc.
};

/// The state_dict that the rebuilt module has, in module registration order (as PyTorch's
/// state_dict() orders it), without the tied keys of `ties` (a weights file holds a tied tensor
/// once, under its source key). Throws mvc::Error(Exit::model) on inconsistent options.
std::vector<ExpectedTensor> expected_state_dict(const Architecture& a);

/// One row of `mvc show`.
struct LayerSummary {
  std::string name;
  std::string type;
  std::string output_shape;      ///< "[batch, 20]", or "?" when it cannot be inferred
  std::uint64_t parameters = 0;  ///< trainable parameters (buffers excluded)
};
std::vector<LayerSummary> summarize(const Architecture& a);

/// The module types this version knows, sorted.
const std::vector<std::string>& known_layer_types();

}  // namespace mvc::arch
