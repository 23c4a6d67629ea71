// The attention family, LibTorch side: MultiheadAttention. Mirrors src/arch/types/attention.cpp.
#include <tuple>

#include "model/build/family.h"

namespace mvc::model::build {

Builders attention() {
  Builders t;
  /// Python's nn.MultiheadAttention, batch_first included (LibTorch 1.13 has no batch_first: the
  /// inputs are transposed to (L, N, E) and the output back, as Python does).
  t.emplace_back("MultiheadAttention", [](L l, C) {
    std::int64_t e = l.int_opt("embed_dim");
    nn::MultiheadAttentionOptions o(e, l.int_opt("num_heads"));
    o.dropout(l.float_opt("dropout", 0.0))
        .bias(l.bool_opt("bias", true))
        .add_bias_kv(l.bool_opt("add_bias_kv", false))
        .add_zero_attn(l.bool_opt("add_zero_attn", false))
        .kdim(l.int_opt("kdim", e))
        .vdim(l.int_opt("vdim", e));
    bool batch_first = l.bool_opt("batch_first", false);
    nn::MultiheadAttention m(o);
    return BuiltLayer{m.ptr(), [m, batch_first](const Ins& in) mutable {
                        bool swap = batch_first && in[0].dim() == 3;
                        auto tr = [swap](const at::Tensor& x) { return swap ? x.transpose(0, 1) : x; };
                        auto r = m->forward(tr(in[0]), tr(in[1]), tr(in[2]));
                        return Outs{tr(std::get<0>(r)), std::get<1>(r)};
                      }};
  });
  return t;
}

}  // namespace mvc::model::build
