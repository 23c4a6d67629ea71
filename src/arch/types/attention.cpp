// The attention family, torch-free: MultiheadAttention (query, key, value; outputs attn_output,
// attn_weights). Mirrored by src/model/build/attention.cpp.
#include "arch/types/family.h"

namespace mvc::arch::detail::types {

std::vector<LayerType> attention() {
  std::vector<LayerType> t;
  {
    LayerType lt;
    lt.name = "MultiheadAttention";
    lt.doc = "multi-head attention over (query, key, value); outputs: attn_output, attn_weights";
    OptionSpec kdim = int_opt("kdim", 1, "None"), vdim = int_opt("vdim", 1, "None");
    kdim.kind = vdim.kind = OptKind::optional_int;
    lt.options = {int_opt("embed_dim", 1),
                  int_opt("num_heads", 1),
                  float_opt("dropout", "0.0", 0.0, 1.0),
                  bool_opt("bias", true),
                  bool_opt("add_bias_kv", false),
                  bool_opt("add_zero_attn", false),
                  kdim,
                  vdim,
                  bool_opt("batch_first", false)};
    lt.arity = lt.max_inputs = 3;
    lt.num_outputs = [](const Layer&) -> std::size_t { return 2; };
    lt.validate = [](const Layer& l) -> std::pair<std::string, std::string> {
      if (l.int_opt("embed_dim") % l.int_opt("num_heads") != 0)
        return {"embed_dim = " + std::to_string(l.int_opt("embed_dim")) +
                    " must be divisible by num_heads = " + std::to_string(l.int_opt("num_heads")),
                "num_heads"};
      return {};
    };
    lt.tensors = [](const Layer& l) {
      std::int64_t e = l.int_opt("embed_dim"), k = l.int_opt("kdim", e), v = l.int_opt("vdim", e);
      Tensors t;
      if (k == e && v == e) {
        t.push_back({"in_proj_weight", {3 * e, e}, false, false});
      } else {
        t.push_back({"q_proj_weight", {e, e}, false, false});
        t.push_back({"k_proj_weight", {e, k}, false, false});
        t.push_back({"v_proj_weight", {e, v}, false, false});
      }
      if (l.bool_opt("bias", true)) t.push_back({"in_proj_bias", {3 * e}, false, false});
      if (l.bool_opt("add_bias_kv", false)) {
        t.push_back({"bias_k", {1, 1, e}, false, false});
        t.push_back({"bias_v", {1, 1, e}, false, false});
      }
      t.push_back({"out_proj.weight", {e, e}, false, false});
      if (l.bool_opt("bias", true)) t.push_back({"out_proj.bias", {e}, false, false});
      return t;
    };
    lt.output = same_shape;
    lt.output_n = [](const Layer& l, const std::vector<std::optional<Shape>>& in) -> Inferred {
      if (in.empty() || !in[0]) return {};
      const Shape& q = *in[0];
      if (q.size() != 2 && q.size() != 3) return err("expects a 2-d or 3-d query, got shape " + shape_str(q));
      auto last = known(q.back());
      if (last && *last != l.int_opt("embed_dim"))
        return err("embed_dim = " + std::to_string(l.int_opt("embed_dim")) + " but the query has shape " + shape_str(q),
                   "embed_dim");
      return {q, {}, {}};
    };
    t.push_back(lt);
  }
  return t;
}

}  // namespace mvc::arch::detail::types
