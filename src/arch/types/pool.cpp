// The pooling family, torch-free: MaxPool2d, AvgPool2d, AdaptiveAvgPool1d/2d, Upsample (resampling)
// and the functions max_pool2d and adaptive_avg_pool2d. Mirrored by src/model/build/pool.cpp.
#include <cmath>

#include "arch/types/family.h"

namespace mvc::arch::detail::types {

namespace {

/// PyTorch's rule for MaxPool2d/AvgPool2d (ATen pool2d_shape_check: "pad should be smaller
/// than or equal to half of kernel size"), per dimension, dilation not counted.
std::pair<std::string, std::string> check_pool2d_padding(const Layer& l) {
  Ints k = l.ints_opt("kernel_size", 2), p = l.ints_opt("padding", 2, 0);
  for (std::size_t i = 0; i < 2; ++i)
    if (p[i] > k[i] / 2)
      return {"padding = " + std::to_string(p[i]) + " must be at most half of kernel_size = " + std::to_string(k[i]),
              "padding"};
  return {};
}

/// Output shape of Upsample and interpolate: (N, C, *spatial) with the spatial sizes `size` (one
/// for all, or one each), else each scaled by `scale_factor` and floored, as F.interpolate does.
Inferred resized(const Layer& l, const Shape& in, const std::optional<Shape>& size) {
  if (in.size() < 3) return err("expects an input (N, C, *spatial), got shape " + shape_str(in));
  Shape out = in;
  std::size_t nd = in.size() - 2;
  if (size) {
    const Shape& sz = *size;
    if (sz.size() != 1 && sz.size() != nd)
      return err("size has " + std::to_string(sz.size()) + " values for " + std::to_string(nd) + " spatial dimensions",
                 "size");
    for (std::size_t i = 0; i < nd; ++i) out[2 + i] = sz.size() == 1 ? sz[0] : sz[i];
  } else {
    double f = l.float_opt("scale_factor", 1.0);
    for (std::size_t i = 0; i < nd; ++i) {
      auto v = known(out[2 + i]);
      out[2 + i] = v ? Dim{static_cast<std::int64_t>(std::floor(static_cast<double>(*v) * f))} : kUnknown;
    }
  }
  return {out, {}, {}};
}

}  // namespace

std::vector<LayerType> pool() {
  std::vector<LayerType> t;
  {
    LayerType lt;
    lt.name = "MaxPool2d";
    lt.doc = "2-d max pooling over (N, C, H, W)";
    lt.options = {tuple_opt("kernel_size", 2, 1),    tuple_opt("stride", 2, 1, "kernel_size"),
                  tuple_opt("padding", 2, 0, "0"),   tuple_opt("dilation", 2, 1, "1"),
                  bool_opt("return_indices", false), bool_opt("ceil_mode", false)};
    lt.validate = [](const Layer& l) -> std::pair<std::string, std::string> {
      if (l.bool_opt("return_indices", false))
        return {
            "return_indices = true is not supported in mvc.arch/1 (the layer would return a pair of tensors, "
            "which no layer takes)",
            "return_indices"};
      return check_pool2d_padding(l);
    };
    lt.tensors = no_tensors;
    lt.output = [](const Layer& l, const std::optional<Shape>& in) { return spatial_out(l, in, true); };
    t.push_back(lt);
    lt.name = "max_pool2d";  // F.max_pool2d: the same options, registers nothing
    lt.doc = "F.max_pool2d(x, kernel_size, ...)";
    lt.is_op = true;
    t.push_back(lt);
  }
  {
    LayerType lt;
    lt.name = "AvgPool2d";
    lt.doc = "2-d average pooling over (N, C, H, W)";
    OptionSpec div = int_opt("divisor_override", 1, "None");
    div.kind = OptKind::optional_int;
    lt.options = {tuple_opt("kernel_size", 2, 1),      tuple_opt("stride", 2, 1, "kernel_size"),
                  tuple_opt("padding", 2, 0, "0"),     bool_opt("ceil_mode", false),
                  bool_opt("count_include_pad", true), div};
    lt.validate = [](const Layer& l) -> std::pair<std::string, std::string> { return check_pool2d_padding(l); };
    lt.tensors = no_tensors;
    lt.output = [](const Layer& l, const std::optional<Shape>& in) { return spatial_out(l, in, true, 2, false, true); };
    t.push_back(lt);
    lt.name = "avg_pool2d";  // F.avg_pool2d (inception_v3): the same options, registers nothing
    lt.doc = "F.avg_pool2d(x, kernel_size, ...)";
    lt.is_op = true;
    lt.since = 2;
    t.push_back(lt);
  }
  for (std::size_t nd : {1, 2}) {
    LayerType lt;
    lt.name = "AdaptiveAvgPool" + std::to_string(nd) + "d";
    lt.doc = "adaptive average pooling to output_size";
    lt.options = {tuple_opt("output_size", nd, 1)};
    lt.validate = no_check;
    lt.tensors = no_tensors;
    lt.output = [nd](const Layer& l, const std::optional<Shape>& in) -> Inferred {
      if (!in) return {};
      if (in->size() != nd + 1 && in->size() != nd + 2)
        return err("expects a " + std::to_string(nd + 1) + "-d or " + std::to_string(nd + 2) + "-d input, got shape " +
                   shape_str(*in));
      Shape out = *in;
      Ints o = l.ints_opt("output_size", nd);
      for (std::size_t i = 0; i < nd; ++i) out[in->size() - nd + i] = o[i];
      return {out, {}, {}};
    };
    t.push_back(lt);
  }
  {
    LayerType lt;
    lt.name = "Upsample";
    lt.doc = "upsampling by size or scale_factor";
    OptionSpec size = tuple_opt("size", 2, 1, "None");
    size.kind = OptKind::int_or_list;
    OptionSpec scale = float_opt("scale_factor", "None", 0.0);
    OptionSpec align = bool_opt("align_corners", false);
    align.default_text = "None";
    lt.options = {size, scale, string_opt("mode", "nearest", {"nearest", "linear", "bilinear", "bicubic", "trilinear"}),
                  align};
    lt.validate = [](const Layer& l) -> std::pair<std::string, std::string> {
      if (l.has("size") == l.has("scale_factor")) return {"exactly one of size and scale_factor must be given", "size"};
      std::string m = l.str_opt("mode", "nearest");
      if (l.has("align_corners") && m == "nearest")
        return {"align_corners can only be set with mode linear, bilinear, bicubic or trilinear", "align_corners"};
      return {};
    };
    lt.tensors = no_tensors;
    lt.output = [](const Layer& l, const std::optional<Shape>& in) -> Inferred {
      if (!in) return {};
      if (!l.has("size")) return resized(l, *in, std::nullopt);
      Ints sz = l.int_list_opt("size");
      return resized(l, *in, Shape(sz.begin(), sz.end()));
    };
    t.push_back(lt);
  }
  {
    OptionSpec size = sizes_opt("size", 1, "None");
    OptionSpec scale = float_opt("scale_factor", "None", 0.0);
    scale.kind = OptKind::optional_float;
    OptionSpec align = bool_opt("align_corners", false);
    align.default_text = "None";
    LayerType& lt = add_op(
        t, "interpolate", "F.interpolate(x, size or scale_factor, mode, align_corners); size may read other inputs",
        {size, scale,
         string_opt("mode", "nearest",
                    {"nearest", "linear", "bilinear", "bicubic", "trilinear", "area", "nearest-exact"}),
         align},
        1, SIZE_MAX);
    lt.since = 2;
    lt.validate = [](const Layer& l) -> std::pair<std::string, std::string> {
      if (l.has("size") == l.has("scale_factor")) return {"exactly one of size and scale_factor must be given", "size"};
      std::string m = l.str_opt("mode", "nearest");
      if (l.has("align_corners") && m != "linear" && m != "bilinear" && m != "bicubic" && m != "trilinear")
        return {"align_corners can only be set with mode linear, bilinear, bicubic or trilinear", "align_corners"};
      return {};
    };
    lt.output_n = [](const Layer& l, const std::vector<std::optional<Shape>>& ins) -> Inferred {
      Inferred sizes = l.has("size") ? resolve_sizes(l, "size", ins) : Inferred{};
      if (!sizes.error.empty()) return sizes;
      if (ins.empty() || !ins[0]) return {};
      return resized(l, *ins[0], l.has("size") ? sizes.shape : std::nullopt);
    };
  }
  add_op(t, "adaptive_avg_pool2d", "F.adaptive_avg_pool2d(x, output_size)", {tuple_opt("output_size", 2, 1)}, 1, 1)
      .output = [](const Layer& l, const std::optional<Shape>& in) -> Inferred {
    if (!in) return {};
    if (in->size() != 3 && in->size() != 4) return err("expects a 3-d or 4-d input, got shape " + shape_str(*in));
    Shape out = *in;
    Ints o = l.ints_opt("output_size", 2);
    out[out.size() - 2] = o[0];
    out[out.size() - 1] = o[1];
    return {out, {}, {}};
  };
  return t;
}

}  // namespace mvc::arch::detail::types
