// The convolution family, torch-free: Conv1d, Conv2d and ConvTranspose2d (shapes from
// spatial_out, src/arch/types/common.cpp). Mirrored by src/model/build/conv.cpp.
#include "arch/types/family.h"

namespace mvc::arch::detail::types {

namespace {

std::pair<std::string, std::string> groups_check(const Layer& l) {
  std::int64_t g = l.int_opt("groups", 1);
  if (l.int_opt("in_channels") % g != 0)
    return {"in_channels = " + std::to_string(l.int_opt("in_channels")) +
                " must be divisible by groups = " + std::to_string(g),
            "groups"};
  if (l.int_opt("out_channels") % g != 0)
    return {"out_channels = " + std::to_string(l.int_opt("out_channels")) +
                " must be divisible by groups = " + std::to_string(g),
            "groups"};
  return {};
}

}  // namespace

std::vector<LayerType> conv() {
  std::vector<LayerType> t;
  for (std::size_t nd : {1, 2}) {
    LayerType lt;
    lt.name = "Conv" + std::to_string(nd) + "d";
    lt.doc = nd == 1 ? "1-d convolution over (N, C, L)" : "2-d convolution over (N, C, H, W)";
    OptionSpec padding = tuple_opt("padding", nd, 0, "0");
    padding.kind = OptKind::padding;
    padding.choices = {"same", "valid"};
    lt.options = {int_opt("in_channels", 1),
                  int_opt("out_channels", 1),
                  tuple_opt("kernel_size", nd, 1),
                  tuple_opt("stride", nd, 1, "1"),
                  padding,
                  tuple_opt("dilation", nd, 1, "1"),
                  int_opt("groups", 1, "1"),
                  bool_opt("bias", true),
                  string_opt("padding_mode", "zeros", {"zeros", "reflect", "replicate", "circular"})};
    lt.validate = [nd](const Layer& l) -> std::pair<std::string, std::string> {
      if (auto g = groups_check(l); !g.first.empty()) return g;
      if (is_same_padding(l)) {
        for (auto v : l.ints_opt("stride", nd, 1))
          if (v != 1) return {"padding = \"same\" is not supported for strided convolutions", "padding"};
      }
      return {};
    };
    lt.tensors = [nd](const Layer& l) {
      std::int64_t in = l.int_opt("in_channels"), out = l.int_opt("out_channels"), g = l.int_opt("groups", 1);
      Ints w{out, in / g};
      for (auto k : l.ints_opt("kernel_size", nd)) w.push_back(k);
      Tensors t{{"weight", w, false, false}};
      if (l.bool_opt("bias", true)) t.push_back({"bias", {out}, false, false});
      return t;
    };
    lt.output = [nd](const Layer& l, const std::optional<Shape>& in) { return spatial_out(l, in, false, nd); };
    t.push_back(lt);
  }
  {
    LayerType lt;
    lt.name = "ConvTranspose2d";
    lt.doc = "2-d transposed convolution over (N, C, H, W)";
    lt.options = {int_opt("in_channels", 1),        int_opt("out_channels", 1),
                  tuple_opt("kernel_size", 2, 1),   tuple_opt("stride", 2, 1, "1"),
                  tuple_opt("padding", 2, 0, "0"),  tuple_opt("output_padding", 2, 0, "0"),
                  int_opt("groups", 1, "1"),        bool_opt("bias", true),
                  tuple_opt("dilation", 2, 1, "1"), string_opt("padding_mode", "zeros", {"zeros"})};
    lt.validate = [](const Layer& l) -> std::pair<std::string, std::string> {
      if (auto g = groups_check(l); !g.first.empty()) return g;
      Ints op = l.ints_opt("output_padding", 2, 0), s = l.ints_opt("stride", 2, 1), d = l.ints_opt("dilation", 2, 1);
      for (std::size_t i = 0; i < 2; ++i)
        if (op[i] >= s[i] && op[i] >= d[i])
          return {"output_padding must be smaller than either stride or dilation", "output_padding"};
      return {};
    };
    lt.tensors = [](const Layer& l) {
      std::int64_t in = l.int_opt("in_channels"), out = l.int_opt("out_channels"), g = l.int_opt("groups", 1);
      Ints k = l.ints_opt("kernel_size", 2);
      Tensors t{{"weight", {in, out / g, k[0], k[1]}, false, false}};
      if (l.bool_opt("bias", true)) t.push_back({"bias", {out}, false, false});
      return t;
    };
    lt.output = [](const Layer& l, const std::optional<Shape>& in) { return spatial_out(l, in, false, 2, true); };
    t.push_back(lt);
  }
  return t;
}

}  // namespace mvc::arch::detail::types
