// Internals of libmvc_torch shared by its translation units. Includes torch: only src/model
// may include this header.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "arch/arch.h"
#include "mvc/model.h"
#include "weights/dtype.h"

namespace mvc::model {

// --- dtypes ---------------------------------------------------------------------------

c10::ScalarType to_scalar_type(weights::DType d);
/// Throws mvc::Error(Exit::model) for a dtype safetensors/mvc cannot represent.
weights::DType from_scalar_type(c10::ScalarType t, const std::string& what);
/// "float32" → kFloat; throws mvc::Error(Exit::model) naming `what` and the valid names.
c10::ScalarType scalar_type_from_name(const std::string& name, const std::string& what);
std::string dtype_name(c10::ScalarType t);      ///< "float32"
std::string shape_str(c10::IntArrayRef shape);  ///< "[20, 10]"

// --- the module ------------------------------------------------------------------------

/// A node's computation: its input tensors → its output tensors (one for most types; LSTM
/// gives output, h_n, c_n).
using Forward = std::function<std::vector<at::Tensor>(const std::vector<at::Tensor>&)>;

/// What a layer type builds: the module registered under the layer's path (null for a
/// parameter-free operation, which registers nothing, as in Python), and how to run it.
struct BuiltLayer {
  std::shared_ptr<torch::nn::Module> module;
  Forward forward;
  /// A free Parameter / Buffer: the tensor registered under the layer's own name (on the
  /// container of its parent path), instead of a module; `forward` returns it.
  at::Tensor tensor = {};
  bool buffer = false;
};

/// What a builder may need beyond the layer itself.
struct BuildContext {
  c10::ScalarType dtype = c10::kFloat;  ///< parameter dtype of the architecture
};

/// The registry: module or operation type name ("Linear", "add") → builder, the union of the
/// families of src/model/build/ (one file per family of src/arch/types/). Option names, input
/// counts and output counts come from the torch-free table (src/arch/layer_types).
using Builder = std::function<BuiltLayer(const arch::Layer&, const BuildContext&)>;
const std::map<std::string, Builder>& builders();
/// Type name → the family that builds it ("BatchNorm2d" → "norm": src/model/build/norm.cpp).
const std::map<std::string, std::string>& builder_families();

/// The root module: the layers' modules registered along their dotted paths (containers are
/// created for "layer1" and "layer1.0" of "layer1.0.conv1"), run in the order written along
/// the graph's named inputs.
class ArchModule : public torch::nn::Module {
 public:
  struct Node {
    std::string name;
    /// (value index, output index): model inputs first, then nodes.
    std::vector<std::pair<std::size_t, std::size_t>> inputs;
    Forward forward;
  };

  ArchModule(const std::string& name, std::vector<std::string> input_names);

  /// Appends a node. `inputs` are resolved references (arch::Layer::inputs): model inputs,
  /// earlier nodes, "node[k]"; empty = the first model input.
  void add_node(const std::string& name, const std::vector<std::string>& inputs, Forward forward,
                const std::string& where, bool no_inputs = false);
  /// Sets the graph outputs (references as above); default: the last node's first output.
  void set_outputs(const std::vector<std::string>& refs);

  /// Runs the graph; returns the outputs in order.
  std::vector<at::Tensor> forward(std::vector<at::Tensor> inputs);
  const std::vector<std::string>& input_names() const { return input_names_; }
  /// Makes each tie's key share its source's tensor (arch::Tie); module_state() then leaves the
  /// tied keys out, as the weights file does.
  void tie(const std::vector<arch::Tie>& ties);
  const std::set<std::string>& tied_keys() const { return tied_keys_; }
  /// Registers `module` under a dotted path, creating containers as needed.
  void register_path(const std::string& path, std::shared_ptr<torch::nn::Module> module);
  /// Registers a parameter (or buffer) under a dotted path, creating containers as needed;
  /// returns the registered tensor.
  at::Tensor register_tensor_path(const std::string& path, const at::Tensor& t, bool buffer);

 private:
  std::pair<std::size_t, std::size_t> lookup(const std::string& ref, const std::string& where) const;
  std::vector<std::string> input_names_;
  std::vector<Node> nodes_;
  std::vector<std::pair<std::size_t, std::size_t>> outputs_;
  std::vector<std::size_t> last_use_;  ///< per value: index of the last node that reads it
  std::set<std::string> tied_keys_;
};

/// Builds the module of an architecture (parameters initialised as PyTorch does, cast to the
/// architecture's dtype, eval mode). Throws mvc::Error(Exit::model).
std::shared_ptr<ArchModule> build_module(const arch::Architecture& a);

/// Parameters and buffers in PyTorch's state_dict order (per module: own parameters, own
/// buffers, then children), undefined tensors (absent bias, ...) and the tied keys of an
/// ArchModule (ArchModule::tie) skipped. Not detached.
std::vector<std::pair<std::string, at::Tensor>> module_state(const torch::nn::Module& m, bool with_buffers = true);

}  // namespace mvc::model

namespace mvc {

struct Model::Impl {
  arch::Architecture arch;
  std::shared_ptr<model::ArchModule> root;
};

}  // namespace mvc
