// The normalization family, LibTorch side: BatchNorm1d, BatchNorm2d, LayerNorm and GroupNorm.
// Mirrors src/arch/types/norm.cpp.
#include "model/build/family.h"

namespace mvc::model::build {

namespace {

template <class Holder, class Options>
BuiltLayer build_batchnorm(const arch::Layer& l) {
  Options o(l.int_opt("num_features"));
  o.eps(l.float_opt("eps", 1e-5))
      .momentum(l.float_opt("momentum", 0.1))
      .affine(l.bool_opt("affine", true))
      .track_running_stats(l.bool_opt("track_running_stats", true));
  return unary(Holder(o));
}

}  // namespace

Builders norm() {
  Builders t;
  t.emplace_back("BatchNorm1d", [](L l, C) { return build_batchnorm<nn::BatchNorm1d, nn::BatchNorm1dOptions>(l); });
  t.emplace_back("BatchNorm2d", [](L l, C) { return build_batchnorm<nn::BatchNorm2d, nn::BatchNorm2dOptions>(l); });
  t.emplace_back("LayerNorm", [](L l, C) {
    nn::LayerNormOptions o(l.int_list_opt("normalized_shape"));
    o.eps(l.float_opt("eps", 1e-5)).elementwise_affine(l.bool_opt("elementwise_affine", true));
    return unary(nn::LayerNorm(o));
  });
  t.emplace_back("LayerNorm2d", [](L l, C) {
    // torchvision's LayerNorm2d: an nn.LayerNorm over the channels, applied with the channels last.
    nn::LayerNormOptions o(std::vector<std::int64_t>{l.int_opt("normalized_shape")});
    o.eps(l.float_opt("eps", 1e-5)).elementwise_affine(l.bool_opt("elementwise_affine", true));
    nn::LayerNorm m(o);
    return BuiltLayer{m.ptr(), [m](const Ins& in) mutable {
                        return Outs{m->forward(in[0].permute({0, 2, 3, 1})).permute({0, 3, 1, 2})};
                      }};
  });
  t.emplace_back("GroupNorm", [](L l, C) {
    return unary(nn::GroupNorm(nn::GroupNormOptions(l.int_opt("num_groups"), l.int_opt("num_channels"))
                                   .eps(l.float_opt("eps", 1e-5))
                                   .affine(l.bool_opt("affine", true))));
  });
  return t;
}

}  // namespace mvc::model::build
