// The pooling family, LibTorch side: MaxPool2d, AvgPool2d, AdaptiveAvgPool1d/2d, Upsample
// (resampling) and the functions max_pool2d and adaptive_avg_pool2d. Mirrors
// src/arch/types/pool.cpp.
#include <optional>

#include "model/build/family.h"

namespace mvc::model::build {

namespace {

BuiltLayer build_maxpool2d(const arch::Layer& l, const BuildContext&) {
  auto kernel = l.ints_opt("kernel_size", 2);
  nn::MaxPool2dOptions o(expanding<2>(kernel));
  // PyTorch: stride defaults to kernel_size.
  o.stride(expanding<2>(l.has("stride") ? l.ints_opt("stride", 2) : kernel))
      .padding(expanding<2>(l.ints_opt("padding", 2, 0)))
      .dilation(expanding<2>(l.ints_opt("dilation", 2, 1)))
      .ceil_mode(l.bool_opt("ceil_mode", false));
  if (l.bool_opt("return_indices", false)) {
    throw Error(Exit::model, where(l) +
                                 ": option 'return_indices' = true is not supported "
                                 "(the layer would return a tuple)");
  }
  return unary(nn::MaxPool2d(o));
}

BuiltLayer build_avgpool2d(const arch::Layer& l, const BuildContext&) {
  auto kernel = l.ints_opt("kernel_size", 2);
  nn::AvgPool2dOptions o(expanding<2>(kernel));
  o.stride(expanding<2>(l.has("stride") ? l.ints_opt("stride", 2) : kernel))
      .padding(expanding<2>(l.ints_opt("padding", 2, 0)))
      .ceil_mode(l.bool_opt("ceil_mode", false))
      .count_include_pad(l.bool_opt("count_include_pad", true));
  if (l.has("divisor_override")) o.divisor_override(l.int_opt("divisor_override"));
  return unary(nn::AvgPool2d(o));
}

namespace {

/// LibTorch's interpolation mode for a `mode` option of Upsample and interpolate (the names
/// F.interpolate takes; the description has checked that `mode` is one of them).
torch::nn::functional::InterpolateFuncOptions::mode_t interpolate_mode(const std::string& mode) {
  if (mode == "nearest") return torch::kNearest;
  if (mode == "linear") return torch::kLinear;
  if (mode == "bilinear") return torch::kBilinear;
  if (mode == "bicubic") return torch::kBicubic;
  if (mode == "trilinear") return torch::kTrilinear;
  if (mode == "area") return torch::kArea;
  return torch::kNearestExact;
}

}  // namespace

BuiltLayer build_upsample(const arch::Layer& l, const BuildContext&) {
  std::optional<std::vector<std::int64_t>> size;
  if (l.has("size")) size = l.int_list_opt("size");
  double scale = l.float_opt("scale_factor", 1.0);
  std::string mode = l.str_opt("mode", "nearest");
  std::optional<bool> align;
  if (l.has("align_corners")) align = l.bool_opt("align_corners", false);
  return BuiltLayer{nullptr, [=](const Ins& in) {
                      namespace F = torch::nn::functional;
                      std::size_t nd = static_cast<std::size_t>(std::max<std::int64_t>(in[0].dim() - 2, 1));
                      F::InterpolateFuncOptions o;
                      if (size)
                        o.size(size->size() == 1 ? std::vector<std::int64_t>(nd, (*size)[0]) : *size);
                      else
                        o.scale_factor(std::vector<double>(nd, scale));
                      o.mode(interpolate_mode(mode));
                      if (align) o.align_corners(*align);
                      return Outs{F::interpolate(in[0], o)};
                    }};
}

}  // namespace

Builders pool() {
  Builders t;
  t.emplace_back("MaxPool2d", build_maxpool2d);
  t.emplace_back("max_pool2d", build_maxpool2d);
  t.emplace_back("AvgPool2d", build_avgpool2d);
  t.emplace_back("avg_pool2d", build_avgpool2d);
  t.emplace_back("AdaptiveAvgPool1d", [](L l, C) {
    return unary(nn::AdaptiveAvgPool1d(nn::AdaptiveAvgPool1dOptions(l.ints_opt("output_size", 1)[0])));
  });
  t.emplace_back("AdaptiveAvgPool2d", [](L l, C) {
    auto o = l.ints_opt("output_size", 2);
    return unary(nn::AdaptiveAvgPool2d(nn::AdaptiveAvgPool2dOptions({o[0], o[1]})));
  });
  t.emplace_back("Upsample", build_upsample);
  t.emplace_back("interpolate", [](L l, C) {
    auto size = arch::detail::size_list(l, "size");
    std::optional<double> scale;
    if (l.has("scale_factor")) scale = l.float_opt("scale_factor", 1.0);
    std::string mode = l.str_opt("mode", "nearest");
    std::optional<bool> align;
    if (l.has("align_corners")) align = l.bool_opt("align_corners", false);
    return fn([=](const Ins& in) {
      namespace F = torch::nn::functional;
      std::size_t nd = static_cast<std::size_t>(std::max<std::int64_t>(in[0].dim() - 2, 1));
      F::InterpolateFuncOptions o;
      if (!size.empty()) {
        auto s = sizes_of(size, in);
        o.size(s.size() == 1 ? std::vector<std::int64_t>(nd, s[0]) : s);
      } else {
        o.scale_factor(std::vector<double>(nd, *scale));
      }
      o.mode(interpolate_mode(mode));
      if (align) o.align_corners(*align);
      return F::interpolate(in[0], o);
    });
  });
  t.emplace_back("adaptive_avg_pool2d", [](L l, C) {
    auto o = l.ints_opt("output_size", 2);
    return fn([o](const Ins& in) { return torch::adaptive_avg_pool2d(in[0], o); });
  });
  return t;
}

}  // namespace mvc::model::build
