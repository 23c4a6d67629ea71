// Internals of libmvc_torch shared by its translation units. Includes torch: only src/model
// may include this header.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <map>
#include <memory>
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
std::string dtype_name(c10::ScalarType t);  ///< "float32"
std::string shape_str(c10::IntArrayRef shape);  ///< "[20, 10]"

// --- the module ------------------------------------------------------------------------

/// What a layer type builds: the child module registered under the layer's name (null for a
/// parameter-free operation, which registers nothing, as in Python), and how to run it.
struct BuiltLayer {
  std::shared_ptr<torch::nn::Module> module;
  std::function<at::Tensor(const std::vector<at::Tensor>&)> forward;
};

/// What a builder may need beyond the layer itself. Grows with issue 3 (blocks, arguments).
struct BuildContext {
  c10::ScalarType dtype = c10::kFloat;  ///< parameter dtype of the architecture
};

/// One entry of the layer-type registry.
struct LayerType {
  std::vector<std::string> options;  ///< the options the builder understands (others are refused)
  std::size_t min_inputs = 1;
  std::size_t max_inputs = 1;
  std::function<BuiltLayer(const arch::Layer&, const BuildContext&)> build;
};

/// The registry: module type name ("Linear") → builder.
const std::map<std::string, LayerType>& layer_types();

/// The root module: one registered child per layer, under the layer's name, run in order (or
/// along the graph's named inputs) in forward.
class ArchModule : public torch::nn::Module {
 public:
  struct Node {
    std::string name;
    std::vector<std::size_t> inputs;  ///< indices into the value table: model inputs first, then nodes
    std::function<at::Tensor(const std::vector<at::Tensor>&)> forward;
  };

  ArchModule(const std::string& name, std::vector<std::string> input_names);

  /// Appends a node. `inputs` names model inputs or earlier nodes; empty = the previous node
  /// (or the first model input for the first node).
  void add_node(const std::string& name, const std::vector<std::string>& inputs,
                std::function<at::Tensor(const std::vector<at::Tensor>&)> forward,
                const std::string& where);

  at::Tensor forward(std::vector<at::Tensor> inputs);
  const std::vector<std::string>& input_names() const { return input_names_; }

 private:
  std::vector<std::string> input_names_;
  std::vector<Node> nodes_;
  std::vector<std::size_t> last_use_;  ///< per value: index of the last node that reads it
};

/// Builds the module of an architecture (parameters initialised as PyTorch does, cast to the
/// architecture's dtype, eval mode). Throws mvc::Error(Exit::model).
std::shared_ptr<ArchModule> build_module(const arch::Architecture& a);

/// Parameters and buffers in PyTorch's state_dict order (per module: own parameters, own
/// buffers, then children), undefined tensors (absent bias, ...) skipped. Not detached.
std::vector<std::pair<std::string, at::Tensor>> module_state(const torch::nn::Module& m,
                                                             bool with_buffers = true);

}  // namespace mvc::model

namespace mvc {

struct Model::Impl {
  arch::Architecture arch;
  std::shared_ptr<model::ArchModule> root;
};

}  // namespace mvc
