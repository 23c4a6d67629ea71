// The recurrent family, torch-free: LSTM and GRU (several outputs: output, h_n, c_n).
// Mirrored by src/model/build/recurrent.cpp.
#include "arch/types/family.h"

namespace mvc::arch::detail::types {

std::vector<LayerType> recurrent() {
  std::vector<LayerType> t;
  for (const char* rnn : {"LSTM", "GRU"}) {
    const bool lstm = std::string(rnn) == "LSTM";
    LayerType lt;
    lt.name = rnn;
    lt.doc = lstm ? "multi-layer long short-term memory; outputs: output, h_n, c_n"
                  : "multi-layer gated recurrent unit; outputs: output, h_n";
    lt.options = {int_opt("input_size", 1),        int_opt("hidden_size", 1),
                  int_opt("num_layers", 1, "1"),   bool_opt("bias", true),
                  bool_opt("batch_first", false),  float_opt("dropout", "0.0", 0.0, 1.0),
                  bool_opt("bidirectional", false)};
    if (lstm) lt.options.push_back(int_opt("proj_size", 0, "0"));
    lt.validate = [](const Layer& l) -> std::pair<std::string, std::string> {
      if (l.int_opt("proj_size", 0) >= l.int_opt("hidden_size"))
        return {"proj_size = " + std::to_string(l.int_opt("proj_size", 0)) +
                    " must be smaller than hidden_size = " + std::to_string(l.int_opt("hidden_size")),
                "proj_size"};
      return {};
    };
    lt.num_outputs = [lstm](const Layer&) -> std::size_t { return lstm ? 3 : 2; };
    lt.tensors = [lstm](const Layer& l) {
      // PyTorch's RNNBase._flat_weights_names: per layer, per direction: w_ih, w_hh, b_ih, b_hh, w_hr.
      std::int64_t h = l.int_opt("hidden_size"), proj = l.int_opt("proj_size", 0);
      std::int64_t real_h = proj > 0 ? proj : h, gates = (lstm ? 4 : 3) * h;
      std::int64_t dirs = l.bool_opt("bidirectional", false) ? 2 : 1;
      Tensors t;
      for (std::int64_t k = 0; k < l.int_opt("num_layers", 1); ++k) {
        std::int64_t in = k == 0 ? l.int_opt("input_size") : real_h * dirs;
        for (std::int64_t d = 0; d < dirs; ++d) {
          std::string sfx = "_l" + std::to_string(k) + (d ? "_reverse" : "");
          t.push_back({"weight_ih" + sfx, {gates, in}, false, false});
          t.push_back({"weight_hh" + sfx, {gates, real_h}, false, false});
          if (l.bool_opt("bias", true)) {
            t.push_back({"bias_ih" + sfx, {gates}, false, false});
            t.push_back({"bias_hh" + sfx, {gates}, false, false});
          }
          if (proj > 0) t.push_back({"weight_hr" + sfx, {proj, h}, false, false});
        }
      }
      return t;
    };
    lt.output = [lstm](const Layer& l, const std::optional<Shape>& in) -> Inferred {
      if (!in) return {};
      if (in->size() != 2 && in->size() != 3)
        return err("expects a 2-d (L, H_in) or 3-d input, got shape " + shape_str(*in));
      auto last = known(in->back());
      if (last && *last != l.int_opt("input_size"))
        return err(
            "input_size = " + std::to_string(l.int_opt("input_size")) + " but its input has shape " + shape_str(*in),
            "input_size");
      std::int64_t h = l.int_opt("hidden_size"), proj = l.int_opt("proj_size", 0);
      std::int64_t real_h = proj > 0 ? proj : h, dirs = l.bool_opt("bidirectional", false) ? 2 : 1;
      std::int64_t layers = l.int_opt("num_layers", 1);
      Shape out = *in;
      out.back() = real_h * dirs;
      Shape hn{layers * dirs};
      if (in->size() == 3) hn.push_back((*in)[l.bool_opt("batch_first", false) ? 0 : 1]);
      Shape cn = hn;
      hn.push_back(real_h);
      cn.push_back(h);
      Inferred r{out, {}, {}};
      r.extra.push_back(hn);
      if (lstm) r.extra.push_back(cn);
      return r;
    };
    t.push_back(lt);
  }
  return t;
}

}  // namespace mvc::arch::detail::types
