// The linear family, LibTorch side: Linear, Bilinear, Embedding, Identity. Mirrors
// src/arch/types/linear.cpp.
#include "model/build/family.h"

namespace mvc::model::build {

Builders linear() {
  Builders t;
  t.emplace_back("Linear", [](L l, C) {
    return unary(nn::Linear(
        nn::LinearOptions(l.int_opt("in_features"), l.int_opt("out_features")).bias(l.bool_opt("bias", true))));
  });
  t.emplace_back("Bilinear", [](L l, C) {
    nn::Bilinear m(nn::BilinearOptions(l.int_opt("in1_features"), l.int_opt("in2_features"), l.int_opt("out_features"))
                       .bias(l.bool_opt("bias", true)));
    return BuiltLayer{m.ptr(), [m](const Ins& in) mutable { return Outs{m->forward(in[0], in[1])}; }};
  });
  t.emplace_back("Embedding", [](L l, C) {
    nn::EmbeddingOptions o(l.int_opt("num_embeddings"), l.int_opt("embedding_dim"));
    if (l.has("padding_idx")) o.padding_idx(l.int_opt("padding_idx"));
    if (l.has("max_norm")) o.max_norm(l.float_opt("max_norm", 0));
    o.norm_type(l.float_opt("norm_type", 2.0))
        .scale_grad_by_freq(l.bool_opt("scale_grad_by_freq", false))
        .sparse(l.bool_opt("sparse", false));
    return unary(nn::Embedding(o));
  });
  t.emplace_back("Identity", [](L, C) { return unary(nn::Identity()); });
  return t;
}

}  // namespace mvc::model::build
