// The LibTorch module builder: the registry of layer type → builder (the union of the families
// of src/model/build/, which mirror src/arch/types/), the root module that runs the layers in
// order, and the Model methods that do not touch weights files.
#include <algorithm>
#include <set>
#include <sstream>

#include "arch/layer_types.h"
#include "model/build/family.h"
#include "model/internal.h"
#include "mvc/error.h"

namespace mvc::model {

using weights::DType;

// --- dtypes ---------------------------------------------------------------------------

c10::ScalarType to_scalar_type(DType d) {
  switch (d) {
    case DType::F64:
      return c10::kDouble;
    case DType::F32:
      return c10::kFloat;
    case DType::F16:
      return c10::kHalf;
    case DType::BF16:
      return c10::kBFloat16;
    case DType::I64:
      return c10::kLong;
    case DType::I32:
      return c10::kInt;
    case DType::I16:
      return c10::kShort;
    case DType::I8:
      return c10::kChar;
    case DType::U8:
      return c10::kByte;
    case DType::BOOL:
      return c10::kBool;
    case DType::C64:
      return c10::kComplexFloat;
  }
  throw Error(Exit::failure, "internal error: unknown dtype");
}

DType from_scalar_type(c10::ScalarType t, const std::string& what) {
  switch (t) {
    case c10::kDouble:
      return DType::F64;
    case c10::kFloat:
      return DType::F32;
    case c10::kHalf:
      return DType::F16;
    case c10::kBFloat16:
      return DType::BF16;
    case c10::kLong:
      return DType::I64;
    case c10::kInt:
      return DType::I32;
    case c10::kShort:
      return DType::I16;
    case c10::kChar:
      return DType::I8;
    case c10::kByte:
      return DType::U8;
    case c10::kBool:
      return DType::BOOL;
    case c10::kComplexFloat:
      return DType::C64;
    default:
      break;
  }
  throw Error(Exit::model, what + ": dtype " + std::string(c10::toString(t)) +
                               " cannot be stored (valid: " + weights::torch_names_list() + ")");
}

c10::ScalarType scalar_type_from_name(const std::string& name, const std::string& what) {
  auto d = weights::dtype_from_torch(name);
  if (!d) {
    throw Error(Exit::model, what + ": unknown dtype '" + name + "' (valid: " + weights::torch_names_list() + ")");
  }
  return to_scalar_type(*d);
}

std::string dtype_name(c10::ScalarType t) {
  switch (t) {
    case c10::kDouble:
    case c10::kFloat:
    case c10::kHalf:
    case c10::kBFloat16:
    case c10::kLong:
    case c10::kInt:
    case c10::kShort:
    case c10::kChar:
    case c10::kByte:
    case c10::kBool:
    case c10::kComplexFloat:
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

std::string build::where(const arch::Layer& l) { return l.pos.str() + ": layer '" + l.name + "' (" + l.type + ")"; }

namespace {

using build::where;

/// The families, by name: the names of their files here in src/model/build/ and in
/// src/arch/types/, and the LayerType::family of their types.
struct Family {
  const char* name;
  build::Builders (*builders)();
};
const Family kFamilies[] = {
    {"linear", build::linear},
    {"conv", build::conv},
    {"norm", build::norm},
    {"pool", build::pool},
    {"recurrent", build::recurrent},
    {"attention", build::attention},
    {"activation", build::activation},
    {"ops", build::ops},
    {"params", build::params},
};

struct Registry {
  std::map<std::string, Builder> builders;
  std::map<std::string, std::string> families;
};

const Registry& registry() {
  static const Registry r = [] {
    Registry t;
    for (const auto& f : kFamilies) {
      for (auto& [name, b] : f.builders()) {
        if (!t.families.emplace(name, f.name).second)
          throw Error(Exit::failure, "internal error: layer type '" + name + "' is built by two families (" +
                                         t.families[name] + ", " + f.name + ")");
        t.builders.emplace(name, std::move(b));
      }
    }
    return t;
  }();
  return r;
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

const std::map<std::string, Builder>& builders() { return registry().builders; }
const std::map<std::string, std::string>& builder_families() { return registry().families; }

// --- the root module ------------------------------------------------------------------

namespace {
/// A container for a dotted path's intermediate modules ("layer1", "layer1.0"): registers
/// children only, as Python's nn.Sequential / nn.ModuleList / a custom nn.Module would.
class Container : public torch::nn::Module {
 public:
  using torch::nn::Module::Module;
};
}  // namespace

ArchModule::ArchModule(const std::string& name, std::vector<std::string> input_names)
    : torch::nn::Module(name), input_names_(std::move(input_names)) {
  last_use_.assign(input_names_.size(), 0);
}

at::Tensor ArchModule::register_tensor_path(const std::string& path, const at::Tensor& t, bool buffer) {
  torch::nn::Module* parent = this;
  auto dot = path.rfind('.');
  if (dot != std::string::npos) {
    std::size_t start = 0;
    const std::string dir = path.substr(0, dot);
    for (;;) {
      auto d = dir.find('.', start);
      std::string seg = dir.substr(start, d == std::string::npos ? std::string::npos : d - start);
      std::shared_ptr<torch::nn::Module> child;
      for (const auto& c : parent->named_children())
        if (c.key() == seg) child = c.value();
      if (!child) child = parent->register_module(seg, std::make_shared<Container>(seg));
      parent = child.get();
      if (d == std::string::npos) break;
      start = d + 1;
    }
  }
  const std::string leaf = dot == std::string::npos ? path : path.substr(dot + 1);
  return buffer ? parent->register_buffer(leaf, t) : parent->register_parameter(leaf, t);
}

void ArchModule::register_path(const std::string& path, std::shared_ptr<torch::nn::Module> module) {
  torch::nn::Module* parent = this;
  std::size_t start = 0;
  for (;;) {
    auto dot = path.find('.', start);
    std::string seg = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (dot == std::string::npos) {
      parent->register_module(seg, module);
      return;
    }
    std::shared_ptr<torch::nn::Module> child;
    for (const auto& c : parent->named_children())
      if (c.key() == seg) child = c.value();
    if (!child) child = parent->register_module(seg, std::make_shared<Container>(seg));
    parent = child.get();
    start = dot + 1;
  }
}

std::pair<std::size_t, std::size_t> ArchModule::lookup(const std::string& ref, const std::string& where) const {
  auto [name, k] = arch::split_ref(ref);
  for (std::size_t i = 0; i < input_names_.size(); ++i)
    if (input_names_[i] == ref) return {i, 0};
  for (std::size_t i = nodes_.size(); i-- > 0;) {
    if (nodes_[i].name == ref) return {input_names_.size() + i, 0};
    if (nodes_[i].name == name) return {input_names_.size() + i, k};
  }
  throw Error(Exit::model, where + ": input '" + ref + "' is neither a declared input nor an earlier layer");
}

void ArchModule::add_node(const std::string& name, const std::vector<std::string>& inputs, Forward fwd,
                          const std::string& where, bool no_inputs) {
  Node n{name, {}, std::move(fwd)};
  if (inputs.empty() && !no_inputs) {
    if (input_names_.empty()) throw Error(Exit::model, where + ": the architecture declares no input");
    n.inputs.emplace_back(0, 0);
  }
  for (const auto& in : inputs) n.inputs.push_back(lookup(in, where));
  for (auto [i, k] : n.inputs) last_use_[i] = nodes_.size();
  last_use_.push_back(nodes_.size());
  nodes_.push_back(std::move(n));
}

void ArchModule::set_outputs(const std::vector<std::string>& refs) {
  outputs_.clear();
  for (const auto& r : refs) {
    auto o = lookup(r, "outputs");
    outputs_.push_back(o);
    last_use_[o.first] = SIZE_MAX;  // kept to the end
  }
}

std::vector<at::Tensor> ArchModule::forward(std::vector<at::Tensor> inputs) {
  if (inputs.size() != input_names_.size()) {
    throw Error(Exit::model, "forward: the model takes " + std::to_string(input_names_.size()) + " input(s), got " +
                                 std::to_string(inputs.size()));
  }
  if (nodes_.empty()) return {inputs.at(0)};
  std::vector<std::vector<at::Tensor>> values(input_names_.size() + nodes_.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) values[i] = {std::move(inputs[i])};
  std::vector<at::Tensor> args;
  for (std::size_t k = 0; k < nodes_.size(); ++k) {
    const Node& n = nodes_[k];
    args.clear();
    for (auto [i, j] : n.inputs) args.push_back(values[i].at(j));
    values[input_names_.size() + k] = n.forward(args);
    // Drop intermediate values no later node reads.
    for (auto [i, j] : n.inputs)
      if (last_use_[i] == k) values[i].clear();
  }
  if (outputs_.empty()) return {values.back().at(0)};
  std::vector<at::Tensor> out;
  for (auto [i, j] : outputs_) out.push_back(values[i].at(j));
  return out;
}

void ArchModule::tie(const std::vector<arch::Tie>& ties) {
  if (ties.empty()) return;
  std::map<std::string, at::Tensor> all;
  for (auto& [k, t] : module_state(*this)) all.emplace(k, t);
  for (const auto& t : ties) {
    auto k = all.find(t.key), s = all.find(t.source);
    if (k == all.end() || s == all.end())
      throw Error(Exit::model,
                  t.pos.str() + ": ties: '" + t.key + "' or '" + t.source + "' is not a tensor of the module");
    k->second.set_data(s->second);  // one storage: what is loaded into the source is the tied key's
    tied_keys_.insert(t.key);
  }
}

std::vector<std::pair<std::string, at::Tensor>> module_state(const torch::nn::Module& m, bool with_buffers) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  std::function<void(const torch::nn::Module&, const std::string&)> walk = [&](const torch::nn::Module& mod,
                                                                               const std::string& prefix) {
    for (const auto& p : mod.named_parameters(/*recurse=*/false))
      if (p.value().defined()) out.emplace_back(prefix + p.key(), p.value());
    if (with_buffers) {
      for (const auto& b : mod.named_buffers(/*recurse=*/false))
        if (b.value().defined()) out.emplace_back(prefix + b.key(), b.value());
    }
    for (const auto& c : mod.named_children()) walk(*c.value(), prefix + c.key() + ".");
  };
  walk(m, "");
  if (const auto* am = dynamic_cast<const ArchModule*>(&m); am && !am->tied_keys().empty())
    out.erase(std::remove_if(out.begin(), out.end(), [&](const auto& p) { return am->tied_keys().count(p.first); }),
              out.end());
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
  const auto& types = builders();
  std::map<std::string, Forward> module_calls;  // module layer → its call, for `shares`
  for (const auto& l : a.layers) {
    auto it = types.find(l.type);
    const arch::detail::LayerType* spec = arch::detail::find_layer_type(l.type);
    if (it == types.end() || !spec) {
      std::vector<std::string> known;
      for (const auto& [k, v] : types) known.push_back(k);
      throw Error(Exit::model,
                  where(l) + ": the LibTorch builder does not know type '" + l.type + "' (known: " + join(known) + ")");
    }
    arch::detail::validate_layer(l, *spec);
    const bool no_inputs = spec->max_inputs == 0;  // Parameter, Buffer
    std::size_t n_in = l.inputs.empty() ? (no_inputs ? 0 : 1) : l.inputs.size();
    if (n_in < spec->arity || n_in > spec->max_inputs) {
      throw Error(Exit::model, where(l) + ": takes " + std::to_string(spec->arity) +
                                   (spec->max_inputs != spec->arity ? " or more" : std::string()) + " input(s), " +
                                   std::to_string(n_in) + " given");
    }
    if (!l.shares.empty()) {  // a second call of an earlier layer's module: its forward
      auto src = module_calls.find(l.shares);
      if (src == module_calls.end())
        throw Error(Exit::model, where(l) + ": shares '" + l.shares + "', which is not an earlier module layer");
      Forward f = [w = where(l), f = src->second](const std::vector<at::Tensor>& in) {
        try {
          return f(in);
        } catch (const c10::Error& e) {
          throw Error(Exit::model, w + ": " + torch_message(e));
        }
      };
      root->add_node(l.name, l.inputs, std::move(f), where(l), false);
      continue;
    }
    BuiltLayer built;
    try {
      built = it->second(l, ctx);
      if (built.module && !spec->is_op) root->register_path(l.name, built.module);
      if (built.tensor.defined()) {
        at::Tensor held = root->register_tensor_path(l.name, built.tensor, built.buffer);
        built.forward = [held](const std::vector<at::Tensor>&) { return std::vector<at::Tensor>{held}; };
      }
    } catch (const c10::Error& e) {
      throw Error(Exit::model, where(l) + ": " + torch_message(e));
    }
    if (!spec->is_op) module_calls[l.name] = built.forward;
    if (!l.run) continue;  // registered above, never run
    Forward f = [w = where(l), f = std::move(built.forward)](const std::vector<at::Tensor>& in) {
      try {
        return f(in);
      } catch (const c10::Error& e) {
        throw Error(Exit::model, w + ": " + torch_message(e));
      }
    };
    root->add_node(l.name, l.inputs, std::move(f), where(l), no_inputs);
  }
  std::vector<std::string> outs;
  for (const auto& o : a.outputs) outs.push_back(o.ref);
  if (!outs.empty()) root->set_outputs(outs);

  // The architecture's dtype, for floating-point tensors only (as Python's Module.to(dtype):
  // num_batches_tracked stays int64).
  if (ctx.dtype != c10::kFloat) {
    for (auto& [key, t] : module_state(*root)) {
      if (t.is_floating_point()) t.set_data(t.to(ctx.dtype));
    }
  }
  root->tie(a.ties);  // after the cast, which gives every tensor its own storage
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
  bool ok = x.defined() && x.scalar_type() == want && static_cast<std::size_t>(x.dim()) == spec.shape.size();
  if (ok) {
    for (std::size_t i = 0; i < spec.shape.size(); ++i) {
      if (auto* n = std::get_if<std::int64_t>(&spec.shape[i]); n && x.size(i) != *n) ok = false;
    }
  }
  if (!ok) {
    throw Error(Exit::model, "input '" + spec.name + "': expected " + spec.dtype + " " + shape_of_spec(spec) +
                                 ", got " +
                                 (x.defined() ? model::dtype_name(x.scalar_type()) + " " + model::shape_str(x.sizes())
                                              : std::string("an undefined tensor")));
  }
}

at::Tensor run_one(const arch::Architecture& arch, model::ArchModule& root, const at::Tensor& input) {
  if (arch.inputs.size() != 1) {
    throw Error(Exit::model, arch.file + ": forward takes a single input, the architecture declares " +
                                 std::to_string(arch.inputs.size()));
  }
  check_input(arch.inputs[0], input);
  try {
    return root.forward(std::vector<at::Tensor>{input}).at(0);
  } catch (const c10::Error& e) {
    throw Error(Exit::model, "forward of " + arch.file + ": " + model::torch_message(e));
  }
}

}  // namespace

Model Model::build(const ModelSource& source) {
  auto impl = std::make_shared<Impl>();
  impl->arch = arch::parse_architecture(source.arch_toml, source.arch_name, source.hparams_toml, source.hparams_name);
  if (impl->arch.file.empty()) impl->arch.file = source.arch_name;
  impl->root = model::build_module(impl->arch);
  return Model(std::move(impl));
}

std::shared_ptr<torch::nn::Module> Model::module() const { return impl_->root; }

std::vector<std::pair<std::string, at::Tensor>> Model::run(
    const std::vector<std::pair<std::string, at::Tensor>>& inputs) const {
  const auto& a = impl_->arch;
  std::vector<std::string> missing, unexpected;
  std::vector<at::Tensor> ordered;
  for (const auto& spec : a.inputs) {
    auto it = std::find_if(inputs.begin(), inputs.end(), [&](const auto& p) { return p.first == spec.name; });
    if (it == inputs.end()) {
      missing.push_back(spec.name);
      continue;
    }
    check_input(spec, it->second);
    ordered.push_back(it->second);
  }
  for (const auto& [name, t] : inputs)
    if (std::none_of(a.inputs.begin(), a.inputs.end(), [&](const auto& s) { return s.name == name; }))
      unexpected.push_back(name);
  if (!missing.empty() || !unexpected.empty()) {
    std::vector<std::string> declared;
    for (const auto& s : a.inputs) declared.push_back(s.name);
    std::string msg = a.file + ": the inputs do not match the declared inputs (" +
                      (declared.empty() ? std::string("none") : model::join(declared)) + ")";
    if (!missing.empty()) msg += "; missing: " + model::join(missing);
    if (!unexpected.empty()) msg += "; unexpected: " + model::join(unexpected);
    throw Error(Exit::model, msg);
  }
  torch::NoGradGuard no_grad;
  bool was_training = impl_->root->is_training();
  impl_->root->eval();
  std::vector<at::Tensor> outs;
  try {
    outs = impl_->root->forward(ordered);
  } catch (const c10::Error& e) {
    if (was_training) impl_->root->train();
    throw Error(Exit::model, "forward of " + a.file + ": " + model::torch_message(e));
  } catch (...) {
    if (was_training) impl_->root->train();
    throw;
  }
  if (was_training) impl_->root->train();
  std::vector<std::pair<std::string, at::Tensor>> r;
  for (std::size_t i = 0; i < outs.size(); ++i)
    r.emplace_back(i < a.outputs.size() ? a.outputs[i].name : "output", outs[i]);
  return r;
}

at::Tensor Model::forward(const at::Tensor& input) const {
  torch::NoGradGuard no_grad;
  if (!impl_->root->is_training()) return run_one(impl_->arch, *impl_->root, input);
  // Called in the middle of training: run in eval mode, then give the module its mode back.
  impl_->root->eval();
  struct Restore {
    torch::nn::Module& m;
    ~Restore() { m.train(); }
  } restore{*impl_->root};
  return run_one(impl_->arch, *impl_->root, input);
}

at::Tensor Model::forward_train(const at::Tensor& input) const { return run_one(impl_->arch, *impl_->root, input); }

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
