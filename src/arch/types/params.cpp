// The free-tensor family, torch-free: Parameter and Buffer, a tensor registered under the layer's
// own name (ViT's class_token, encoder.pos_embedding; ConvNeXt's layer_scale; a causal-mask
// buffer) whose output is the tensor itself. Mirrored by src/model/build/params.cpp.
#include "arch/types/family.h"

namespace mvc::arch::detail::types {

namespace {

OptionSpec shape_opt() {
  OptionSpec o = int_opt("shape", 0);
  o.kind = OptKind::int_or_list;
  return o;
}

Inferred tensor_out(const Layer& l, const std::optional<Shape>&) {
  Ints s = l.int_list_opt("shape");
  return {Shape(s.begin(), s.end()), {}, {}};
}

std::pair<std::string, std::string> check_shape(const Layer& l) {
  Ints s = l.int_list_opt("shape");
  if (s.size() > 8) return {"shape has more than 8 dimensions", "shape"};
  std::uint64_t n = 1;
  for (auto d : s)
    if (d > 0 && __builtin_mul_overflow(n, static_cast<std::uint64_t>(d), &n))
      return {"shape has too many elements", "shape"};
  if (n > (std::uint64_t{1} << 40)) return {"shape has too many elements", "shape"};
  return {};
}

}  // namespace

std::vector<LayerType> params() {
  std::vector<LayerType> t;
  {
    LayerType lt;
    lt.name = "Parameter";
    lt.doc = "nn.Parameter: a learned tensor under the layer's own name; its output is the tensor";
    lt.since = 2;
    lt.arity = 0;
    lt.max_inputs = 0;
    lt.options = {shape_opt()};
    lt.validate = check_shape;
    lt.tensors = [](const Layer& l) {
      TensorSpec s{"", l.int_list_opt("shape"), false, false};
      s.is_layer = true;
      return Tensors{s};
    };
    lt.output = tensor_out;
    t.push_back(lt);
  }
  {
    LayerType lt;
    lt.name = "Buffer";
    lt.doc = "register_buffer: a persistent tensor under the layer's own name; its output is the tensor";
    lt.since = 2;
    lt.arity = 0;
    lt.max_inputs = 0;
    OptionSpec dtype;
    dtype.name = "dtype";
    dtype.kind = OptKind::string;
    dtype.default_text = "None";
    dtype.choices = {"int64", "int32", "int16", "int8", "uint8", "bool"};
    lt.options = {shape_opt(), dtype};
    lt.validate = check_shape;
    lt.tensors = [](const Layer& l) {
      TensorSpec s{"", l.int_list_opt("shape"), true, false};
      s.is_layer = true;
      if (l.has("dtype")) s.dtype = l.str_opt("dtype", "");
      return Tensors{s};
    };
    lt.output = tensor_out;
    t.push_back(lt);
  }
  return t;
}

}  // namespace mvc::arch::detail::types
