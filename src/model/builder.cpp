// The LibTorch module builder: a registry of layer type → builder, the root module that runs
// the layers in order, and the Model methods that do not touch weights files.
#include <algorithm>
#include <set>
#include <sstream>

#include "model/internal.h"
#include "mvc/error.h"

namespace mvc::model {

namespace nn = torch::nn;
using weights::DType;

// --- dtypes ---------------------------------------------------------------------------

c10::ScalarType to_scalar_type(DType d) {
  switch (d) {
    case DType::F64: return c10::kDouble;
    case DType::F32: return c10::kFloat;
    case DType::F16: return c10::kHalf;
    case DType::BF16: return c10::kBFloat16;
    case DType::I64: return c10::kLong;
    case DType::I32: return c10::kInt;
    case DType::I16: return c10::kShort;
    case DType::I8: return c10::kChar;
    case DType::U8: return c10::kByte;
    case DType::BOOL: return c10::kBool;
    case DType::C64: return c10::kComplexFloat;
  }
  throw Error(Exit::failure, "internal error: unknown dtype");
}

DType from_scalar_type(c10::ScalarType t, const std::string& what) {
  switch (t) {
    case c10::kDouble: return DType::F64;
    case c10::kFloat: return DType::F32;
    case c10::kHalf: return DType::F16;
    case c10::kBFloat16: return DType::BF16;
    case c10::kLong: return DType::I64;
    case c10::kInt: return DType::I32;
    case c10::kShort: return DType::I16;
    case c10::kChar: return DType::I8;
    case c10::kByte: return DType::U8;
    case c10::kBool: return DType::BOOL;
    case c10::kComplexFloat: return DType::C64;
    default: break;
  }
  throw Error(Exit::model, what + ": dtype " + std::string(c10::toString(t)) +
                               " cannot be stored (valid: " + weights::torch_names_list() + ")");
}

c10::ScalarType scalar_type_from_name(const std::string& name, const std::string& what) {
  auto d = weights::dtype_from_torch(name);
  if (!d) {
    throw Error(Exit::model, what + ": unknown dtype '" + name + "' (valid: " +
                                 weights::torch_names_list() + ")");
  }
  return to_scalar_type(*d);
}

std::string dtype_name(c10::ScalarType t) {
  switch (t) {
    case c10::kDouble: case c10::kFloat: case c10::kHalf: case c10::kBFloat16:
    case c10::kLong: case c10::kInt: case c10::kShort: case c10::kChar: case c10::kByte:
    case c10::kBool: case c10::kComplexFloat:
      return std::string(weights::torch_name(from_scalar_type(t, "")));
    default:
      return c10::toString(t);
  }
}

std::string shape_str(c10::IntArrayRef shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

// --- the registry ---------------------------------------------------------------------

namespace {

std::string where(const arch::Layer& l) {
  return l.pos.str() + ": layer '" + l.name + "' (" + l.type + ")";
}

/// A torch::nn module holder with a single-tensor forward.
template <class Holder>
BuiltLayer unary(Holder h) {
  return BuiltLayer{h.ptr(), [h](const std::vector<at::Tensor>& in) mutable { return h->forward(in[0]); }};
}

template <std::size_t D>
torch::ExpandingArray<D> expanding(const std::vector<std::int64_t>& v) {
  return torch::ExpandingArray<D>(at::IntArrayRef(v));
}

nn::detail::conv_padding_mode_t padding_mode(const arch::Layer& l) {
  std::string m = l.str_opt("padding_mode", "zeros");
  if (m == "zeros") return torch::kZeros;
  if (m == "reflect") return torch::kReflect;
  if (m == "replicate") return torch::kReplicate;
  if (m == "circular") return torch::kCircular;
  throw Error(Exit::model, where(l) + ": option 'padding_mode' is '" + m +
                               "' (valid: zeros, reflect, replicate, circular)");
}

template <std::size_t D>
nn::detail::conv_padding_t<D> conv_padding(const arch::Layer& l) {
  auto it = l.options.find("padding");
  if (it != l.options.end() && it->second.kind == arch::Value::Kind::string) {
    if (it->second.s == "same") return torch::kSame;
    if (it->second.s == "valid") return torch::kValid;
    throw Error(Exit::model, where(l) + ": option 'padding' is '" + it->second.s +
                                 "' (valid: an integer, a list of integers, \"same\", \"valid\")");
  }
  return expanding<D>(l.ints_opt("padding", D, 0));
}

BuiltLayer build_linear(const arch::Layer& l, const BuildContext&) {
  return unary(nn::Linear(nn::LinearOptions(l.int_opt("in_features"), l.int_opt("out_features"))
                              .bias(l.bool_opt("bias", true))));
}

/// LibTorch 1.13's ConvNdImpl computes padding="same" with a non-zeros padding_mode in the
/// wrong dimension order (it does not reverse the per-dimension pads as Python's
/// `_reversed_padding_repeated_twice` does), so [3, 1] kernels pad the wrong axis. This subclass
/// recomputes the pads as Python does; parameters and state_dict are those of Conv2d.
class Conv2dSameImpl : public nn::Conv2dImpl {
 public:
  explicit Conv2dSameImpl(nn::Conv2dOptions o) : nn::Conv2dImpl(std::move(o)) { fix_padding(); }
  void reset() override {
    nn::Conv2dImpl::reset();
    fix_padding();
  }

 private:
  void fix_padding() {
    if (!c10::get_if<torch::enumtype::kSame>(&options.padding())) return;
    constexpr std::size_t D = 2;
    _reversed_padding_repeated_twice.assign(2 * D, 0);
    for (std::size_t d = 0; d < D; ++d) {
      std::int64_t total = (*options.dilation())[d] * ((*options.kernel_size())[d] - 1);
      std::size_t i = D - 1 - d;  // F::pad lists the last dimension first
      _reversed_padding_repeated_twice[2 * i] = total / 2;
      _reversed_padding_repeated_twice[2 * i + 1] = total - total / 2;
    }
  }
};
TORCH_MODULE(Conv2dSame);

BuiltLayer build_conv2d(const arch::Layer& l, const BuildContext&) {
  nn::Conv2dOptions o(l.int_opt("in_channels"), l.int_opt("out_channels"),
                      expanding<2>(l.ints_opt("kernel_size", 2)));
  o.stride(expanding<2>(l.ints_opt("stride", 2, 1)))
      .padding(conv_padding<2>(l))
      .dilation(expanding<2>(l.ints_opt("dilation", 2, 1)))
      .groups(l.int_opt("groups", 1))
      .bias(l.bool_opt("bias", true))
      .padding_mode(padding_mode(l));
  return unary(Conv2dSame(o));
}

template <class Holder, class Options>
BuiltLayer build_batchnorm(const arch::Layer& l) {
  Options o(l.int_opt("num_features"));
  o.eps(l.float_opt("eps", 1e-5))
      .momentum(l.float_opt("momentum", 0.1))
      .affine(l.bool_opt("affine", true))
      .track_running_stats(l.bool_opt("track_running_stats", true));
  return unary(Holder(o));
}

BuiltLayer build_layernorm(const arch::Layer& l, const BuildContext&) {
  nn::LayerNormOptions o(l.int_list_opt("normalized_shape"));
  o.eps(l.float_opt("eps", 1e-5)).elementwise_affine(l.bool_opt("elementwise_affine", true));
  return unary(nn::LayerNorm(o));
}

BuiltLayer build_embedding(const arch::Layer& l, const BuildContext&) {
  nn::EmbeddingOptions o(l.int_opt("num_embeddings"), l.int_opt("embedding_dim"));
  if (l.has("padding_idx")) o.padding_idx(l.int_opt("padding_idx"));
  if (l.has("max_norm")) o.max_norm(l.float_opt("max_norm", 0));
  o.norm_type(l.float_opt("norm_type", 2.0))
      .scale_grad_by_freq(l.bool_opt("scale_grad_by_freq", false))
      .sparse(l.bool_opt("sparse", false));
  return unary(nn::Embedding(o));
}

BuiltLayer build_maxpool2d(const arch::Layer& l, const BuildContext&) {
  auto kernel = l.ints_opt("kernel_size", 2);
  nn::MaxPool2dOptions o(expanding<2>(kernel));
  // PyTorch: stride defaults to kernel_size.
  o.stride(expanding<2>(l.has("stride") ? l.ints_opt("stride", 2) : kernel))
      .padding(expanding<2>(l.ints_opt("padding", 2, 0)))
      .dilation(expanding<2>(l.ints_opt("dilation", 2, 1)))
      .ceil_mode(l.bool_opt("ceil_mode", false));
  if (l.bool_opt("return_indices", false)) {
    throw Error(Exit::model, where(l) + ": option 'return_indices' = true is not supported "
                                        "(the layer would return a tuple)");
  }
  return unary(nn::MaxPool2d(o));
}

const std::map<std::string, LayerType>& registry() {
  static const std::map<std::string, LayerType> types = [] {
    std::map<std::string, LayerType> t;
    t["Linear"] = {{"in_features", "out_features", "bias"}, 1, 1, build_linear};
    t["Conv2d"] = {{"in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
                    "groups", "bias", "padding_mode"},
                   1, 1, build_conv2d};
    const std::vector<std::string> bn_opts{"num_features", "eps", "momentum", "affine",
                                           "track_running_stats"};
    t["BatchNorm1d"] = {bn_opts, 1, 1, [](const arch::Layer& l, const BuildContext&) {
                          return build_batchnorm<nn::BatchNorm1d, nn::BatchNorm1dOptions>(l);
                        }};
    t["BatchNorm2d"] = {bn_opts, 1, 1, [](const arch::Layer& l, const BuildContext&) {
                          return build_batchnorm<nn::BatchNorm2d, nn::BatchNorm2dOptions>(l);
                        }};
    t["LayerNorm"] = {{"normalized_shape", "eps", "elementwise_affine"}, 1, 1, build_layernorm};
    t["Embedding"] = {{"num_embeddings", "embedding_dim", "padding_idx", "max_norm", "norm_type",
                       "scale_grad_by_freq", "sparse"},
                      1, 1, build_embedding};
    t["Dropout"] = {{"p", "inplace"}, 1, 1, [](const arch::Layer& l, const BuildContext&) {
                      // inplace only saves memory; the result is the same, so it is not passed on
                      // (an in-place first layer would overwrite the caller's input).
                      (void)l.bool_opt("inplace", false);
                      return unary(nn::Dropout(nn::DropoutOptions(l.float_opt("p", 0.5))));
                    }};
    t["Flatten"] = {{"start_dim", "end_dim"}, 1, 1, [](const arch::Layer& l, const BuildContext&) {
                      return unary(nn::Flatten(nn::FlattenOptions()
                                                   .start_dim(l.int_opt("start_dim", 1))
                                                   .end_dim(l.int_opt("end_dim", -1))));
                    }};
    t["MaxPool2d"] = {{"kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"},
                      1, 1, build_maxpool2d};
    t["ReLU"] = {{"inplace"}, 1, 1, [](const arch::Layer& l, const BuildContext&) {
                   (void)l.bool_opt("inplace", false);
                   return unary(nn::ReLU());
                 }};
    t["GELU"] = {{"approximate"}, 1, 1, [](const arch::Layer& l, const BuildContext&) {
                   std::string a = l.str_opt("approximate", "none");
                   if (a != "none" && a != "tanh") {
                     throw Error(Exit::model, where(l) + ": option 'approximate' is '" + a +
                                                  "' (valid: none, tanh)");
                   }
                   return unary(nn::GELU(nn::GELUOptions().approximate(a)));
                 }};
    t["Tanh"] = {{}, 1, 1, [](const arch::Layer&, const BuildContext&) { return unary(nn::Tanh()); }};
    t["Sigmoid"] = {{}, 1, 1, [](const arch::Layer&, const BuildContext&) { return unary(nn::Sigmoid()); }};
    t["Identity"] = {{}, 1, 1, [](const arch::Layer&, const BuildContext&) { return unary(nn::Identity()); }};
    return t;
  }();
  return types;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s.empty() ? "none" : s;
}

/// First line of a c10::Error, without the C++ backtrace.
std::string torch_message(const c10::Error& e) {
  std::string m = e.what_without_backtrace();
  auto nl = m.find('\n');
  if (nl != std::string::npos) m.resize(nl);
  return m;
}

}  // namespace

const std::map<std::string, LayerType>& layer_types() { return registry(); }

// --- the root module ------------------------------------------------------------------

ArchModule::ArchModule(const std::string& name, std::vector<std::string> input_names)
    : torch::nn::Module(name), input_names_(std::move(input_names)) {
  last_use_.assign(input_names_.size(), 0);
}

void ArchModule::add_node(const std::string& name, const std::vector<std::string>& inputs,
                          std::function<at::Tensor(const std::vector<at::Tensor>&)> fwd,
                          const std::string& where) {
  Node n{name, {}, std::move(fwd)};
  std::size_t self = input_names_.size() + nodes_.size();
  if (inputs.empty()) {
    if (self == 0) throw Error(Exit::model, where + ": the architecture declares no input");
    n.inputs.push_back(nodes_.empty() ? 0 : self - 1);
  }
  for (const auto& in : inputs) {
    std::size_t idx = self;
    for (std::size_t i = 0; i < input_names_.size(); ++i)
      if (input_names_[i] == in) idx = i;
    for (std::size_t i = 0; i < nodes_.size(); ++i)
      if (nodes_[i].name == in) idx = input_names_.size() + i;
    if (idx == self) {
      throw Error(Exit::model, where + ": input '" + in +
                                   "' is neither a declared input nor an earlier layer");
    }
    n.inputs.push_back(idx);
  }
  for (auto i : n.inputs) last_use_[i] = nodes_.size();
  last_use_.push_back(nodes_.size());
  nodes_.push_back(std::move(n));
}

at::Tensor ArchModule::forward(std::vector<at::Tensor> inputs) {
  if (inputs.size() != input_names_.size()) {
    throw Error(Exit::model, "forward: the model takes " + std::to_string(input_names_.size()) +
                                 " input(s), got " + std::to_string(inputs.size()));
  }
  if (nodes_.empty()) return inputs.at(0);
  std::vector<at::Tensor> values = std::move(inputs);
  values.resize(input_names_.size() + nodes_.size());
  std::vector<at::Tensor> args;
  for (std::size_t k = 0; k < nodes_.size(); ++k) {
    const Node& n = nodes_[k];
    args.clear();
    for (auto i : n.inputs) args.push_back(values[i]);
    values[input_names_.size() + k] = n.forward(args);
    // Drop intermediate values no later node reads.
    for (auto i : n.inputs)
      if (last_use_[i] == k) values[i] = at::Tensor();
  }
  return values.back();
}

std::vector<std::pair<std::string, at::Tensor>> module_state(const torch::nn::Module& m,
                                                             bool with_buffers) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  std::function<void(const torch::nn::Module&, const std::string&)> walk =
      [&](const torch::nn::Module& mod, const std::string& prefix) {
        for (const auto& p : mod.named_parameters(/*recurse=*/false))
          if (p.value().defined()) out.emplace_back(prefix + p.key(), p.value());
        if (with_buffers) {
          for (const auto& b : mod.named_buffers(/*recurse=*/false))
            if (b.value().defined()) out.emplace_back(prefix + b.key(), b.value());
        }
        for (const auto& c : mod.named_children()) walk(*c.value(), prefix + c.key() + ".");
      };
  walk(m, "");
  return out;
}

std::shared_ptr<ArchModule> build_module(const arch::Architecture& a) {
  std::string file = a.file.empty() ? "arch.toml" : a.file;
  BuildContext ctx;
  ctx.dtype = scalar_type_from_name(a.dtype, file + ": dtype");
  if (!c10::isFloatingType(ctx.dtype)) {
    throw Error(Exit::model, file + ": dtype '" + a.dtype +
                                 "' is not a floating-point type (valid: float64, float32, float16, bfloat16)");
  }
  std::vector<std::string> input_names;
  for (const auto& in : a.inputs) input_names.push_back(in.name);
  auto root = std::make_shared<ArchModule>(a.name.empty() ? "Model" : a.name, input_names);

  torch::NoGradGuard no_grad;
  const auto& types = layer_types();
  for (const auto& l : a.layers) {
    auto it = types.find(l.type);
    if (it == types.end()) {
      std::vector<std::string> known;
      for (const auto& [k, v] : types) known.push_back(k);
      throw Error(Exit::model, where(l) + ": the LibTorch builder does not know type '" + l.type +
                                   "' (known: " + join(known) + ")");
    }
    const LayerType& type = it->second;
    for (const auto& [key, value] : l.options) {
      if (std::find(type.options.begin(), type.options.end(), key) == type.options.end()) {
        throw Error(Exit::model, where(l) + ": option '" + key +
                                     "' is not supported (valid: " + join(type.options) + ")");
      }
    }
    if (l.name.empty() || l.name.find('.') != std::string::npos) {
      throw Error(Exit::model, where(l) + ": a layer name must be non-empty and contain no '.'");
    }
    std::size_t n_in = l.inputs.empty() ? 1 : l.inputs.size();
    if (n_in < type.min_inputs || n_in > type.max_inputs) {
      throw Error(Exit::model, where(l) + ": takes " + std::to_string(type.min_inputs) +
                                   (type.max_inputs != type.min_inputs
                                        ? " to " + std::to_string(type.max_inputs)
                                        : std::string()) +
                                   " input(s), " + std::to_string(n_in) + " given");
    }
    BuiltLayer built;
    try {
      built = type.build(l, ctx);
      if (built.module) root->register_module(l.name, built.module);
    } catch (const c10::Error& e) {
      throw Error(Exit::model, where(l) + ": " + torch_message(e));
    }
    root->add_node(l.name, l.inputs, std::move(built.forward), where(l));
  }

  // The architecture's dtype, for floating-point tensors only (as Python's Module.to(dtype):
  // num_batches_tracked stays int64).
  if (ctx.dtype != c10::kFloat) {
    for (auto& [key, t] : module_state(*root)) {
      if (t.is_floating_point()) t.set_data(t.to(ctx.dtype));
    }
  }
  root->eval();
  return root;
}

}  // namespace mvc::model

// --- Model ---------------------------------------------------------------------------

namespace mvc {

namespace {

std::string shape_of_spec(const arch::InputSpec& s) { return arch::shape_str(s.shape); }

/// Checks a forward input against the declared input: dtype and rank, and fixed sizes.
void check_input(const arch::InputSpec& spec, const at::Tensor& x) {
  auto want = model::scalar_type_from_name(spec.dtype, "input '" + spec.name + "'");
  bool ok = x.defined() && x.scalar_type() == want &&
            static_cast<std::size_t>(x.dim()) == spec.shape.size();
  if (ok) {
    for (std::size_t i = 0; i < spec.shape.size(); ++i) {
      if (auto* n = std::get_if<std::int64_t>(&spec.shape[i]); n && x.size(i) != *n) ok = false;
    }
  }
  if (!ok) {
    throw Error(Exit::model, "input '" + spec.name + "': expected " + spec.dtype + " " +
                                 shape_of_spec(spec) + ", got " +
                                 (x.defined() ? model::dtype_name(x.scalar_type()) + " " +
                                                    model::shape_str(x.sizes())
                                              : std::string("an undefined tensor")));
  }
}

at::Tensor run(const Model::Impl& impl, const at::Tensor& input) {
  if (impl.arch.inputs.size() != 1) {
    throw Error(Exit::model, impl.arch.file + ": forward takes a single input, the architecture declares " +
                                 std::to_string(impl.arch.inputs.size()));
  }
  check_input(impl.arch.inputs[0], input);
  try {
    return impl.root->forward(std::vector<at::Tensor>{input});
  } catch (const c10::Error& e) {
    throw Error(Exit::model, "forward of " + impl.arch.file + ": " + model::torch_message(e));
  }
}

}  // namespace

Model Model::build(const ModelSource& source) {
  auto impl = std::make_shared<Impl>();
  impl->arch = arch::parse_architecture(source.arch_toml, source.arch_name, source.hparams_toml,
                                        source.hparams_name);
  if (impl->arch.file.empty()) impl->arch.file = source.arch_name;
  impl->root = model::build_module(impl->arch);
  return Model(std::move(impl));
}

std::shared_ptr<torch::nn::Module> Model::module() const { return impl_->root; }

at::Tensor Model::forward(const at::Tensor& input) const {
  torch::NoGradGuard no_grad;
  if (!impl_->root->is_training()) return run(*impl_, input);
  // Called in the middle of training: run in eval mode, then give the module its mode back.
  impl_->root->eval();
  struct Restore {
    torch::nn::Module& m;
    ~Restore() { m.train(); }
  } restore{*impl_->root};
  return run(*impl_, input);
}

at::Tensor Model::forward_train(const at::Tensor& input) const { return run(*impl_, input); }

std::uint64_t Model::parameter_count() const {
  std::uint64_t n = 0;
  for (const auto& [k, t] : model::module_state(*impl_->root, /*with_buffers=*/false))
    n += static_cast<std::uint64_t>(t.numel());
  return n;
}

std::vector<std::pair<std::string, at::Tensor>> Model::state_dict() const {
  auto s = model::module_state(*impl_->root);
  for (auto& [k, t] : s) t = t.detach();
  return s;
}

}  // namespace mvc
