// The linear family, torch-free: Linear, Bilinear, Embedding and Identity (PyTorch's "Linear
// Layers" and "Sparse Layers"). Mirrored by src/model/build/linear.cpp.
#include "arch/types/family.h"

namespace mvc::arch::detail::types {

namespace {

Inferred linear_out(const Layer& l, const std::optional<Shape>& in) {
  if (!in) return {};
  std::int64_t in_f = l.int_opt("in_features"), out_f = l.int_opt("out_features");
  if (in->empty()) return err("needs an input of at least 1 dimension, got a 0-d tensor");
  auto last = known(in->back());
  if (last && *last != in_f)
    return err("in_features = " + std::to_string(in_f) + " but its input has shape " + shape_str(*in) +
                   " (last dimension " + std::to_string(*last) + ")",
               "in_features");
  Shape out = *in;
  out.back() = out_f;
  return {out, {}, {}};
}

}  // namespace

std::vector<LayerType> linear() {
  std::vector<LayerType> t;
  {
    LayerType lt;
    lt.name = "Linear";
    lt.doc = "y = x W^T + b on the last dimension";
    lt.options = {int_opt("in_features", 1), int_opt("out_features", 1), bool_opt("bias", true)};
    lt.validate = no_check;
    lt.tensors = [](const Layer& l) {
      std::int64_t in = l.int_opt("in_features"), out = l.int_opt("out_features");
      Tensors t{{"weight", {out, in}, false, false}};
      if (l.bool_opt("bias", true)) t.push_back({"bias", {out}, false, false});
      return t;
    };
    lt.output = linear_out;
    t.push_back(lt);
  }
  {
    LayerType lt;
    lt.name = "Bilinear";
    lt.doc = "y = x1^T A x2 + b over two inputs";
    lt.options = {int_opt("in1_features", 1), int_opt("in2_features", 1), int_opt("out_features", 1),
                  bool_opt("bias", true)};
    lt.arity = lt.max_inputs = 2;
    lt.validate = no_check;
    lt.tensors = [](const Layer& l) {
      std::int64_t o = l.int_opt("out_features");
      Tensors t{{"weight", {o, l.int_opt("in1_features"), l.int_opt("in2_features")}, false, false}};
      if (l.bool_opt("bias", true)) t.push_back({"bias", {o}, false, false});
      return t;
    };
    lt.output = same_shape;
    lt.output_n = [](const Layer& l, const std::vector<std::optional<Shape>>& in) -> Inferred {
      if (in.size() != 2 || !in[0] || in[0]->empty()) return {};
      for (std::size_t k = 0; k < 2; ++k) {
        if (!in[k] || in[k]->empty()) continue;
        std::string opt = k == 0 ? "in1_features" : "in2_features";
        auto last = known(in[k]->back());
        if (last && *last != l.int_opt(opt))
          return err(opt + " = " + std::to_string(l.int_opt(opt)) + " but input " + std::to_string(k + 1) +
                         " has shape " + shape_str(*in[k]),
                     opt);
      }
      Shape out = *in[0];
      out.back() = l.int_opt("out_features");
      return {out, {}, {}};
    };
    t.push_back(lt);
  }
  {
    LayerType lt;
    lt.name = "Embedding";
    lt.doc = "lookup table: integer indices → vectors";
    OptionSpec pidx;
    pidx.name = "padding_idx";
    pidx.kind = OptKind::optional_int;
    pidx.default_text = "None";
    OptionSpec max_norm;
    max_norm.name = "max_norm";
    max_norm.kind = OptKind::optional_float;
    max_norm.default_text = "None";
    lt.options = {int_opt("num_embeddings", 1),
                  int_opt("embedding_dim", 1),
                  pidx,
                  max_norm,
                  float_opt("norm_type", "2.0"),
                  bool_opt("scale_grad_by_freq", false),
                  bool_opt("sparse", false)};
    lt.validate = [](const Layer& l) -> std::pair<std::string, std::string> {
      if (!l.has("padding_idx")) return {};
      std::int64_t n = l.int_opt("num_embeddings"), p = l.int_opt("padding_idx");
      if (p < -n || p >= n)
        return {"padding_idx = " + std::to_string(p) + " must be within num_embeddings (" + std::to_string(-n) +
                    " <= padding_idx < " + std::to_string(n) + ")",
                "padding_idx"};
      return {};
    };
    lt.tensors = [](const Layer& l) {
      return Tensors{{"weight", {l.int_opt("num_embeddings"), l.int_opt("embedding_dim")}, false, false}};
    };
    lt.output = [](const Layer& l, const std::optional<Shape>& in) -> Inferred {
      if (!in) return {};
      Shape out = *in;
      out.push_back(l.int_opt("embedding_dim"));
      return {out, {}, {}};
    };
    t.push_back(lt);
  }
  add_shape_preserving(t, "Identity", "returns its input", {});
  return t;
}

}  // namespace mvc::arch::detail::types
