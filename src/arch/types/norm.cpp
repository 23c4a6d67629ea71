// The normalization family, torch-free: BatchNorm1d, BatchNorm2d, LayerNorm and GroupNorm.
// Mirrored by src/model/build/norm.cpp.
#include <algorithm>

#include "arch/types/family.h"

namespace mvc::arch::detail::types {

namespace {

Tensors batchnorm_tensors(const Layer& l) {
  std::int64_t n = l.int_opt("num_features");
  Tensors t;
  if (l.bool_opt("affine", true)) {
    t.push_back({"weight", {n}, false, false});
    t.push_back({"bias", {n}, false, false});
  }
  if (l.bool_opt("track_running_stats", true)) {
    t.push_back({"running_mean", {n}, true, false});
    t.push_back({"running_var", {n}, true, false});
    t.push_back({"num_batches_tracked", {}, true, true});
  }
  return t;
}

std::function<Inferred(const Layer&, const std::optional<Shape>&)> batchnorm_out(std::vector<std::size_t> ranks,
                                                                                 std::string expect) {
  return [ranks, expect](const Layer& l, const std::optional<Shape>& in) -> Inferred {
    if (!in) return {};
    if (std::find(ranks.begin(), ranks.end(), in->size()) == ranks.end())
      return err("expects " + expect + " input, got shape " + shape_str(*in));
    std::int64_t n = l.int_opt("num_features");
    auto ch = known((*in)[1]);
    if (ch && *ch != n)
      return err("num_features = " + std::to_string(n) + " but its input has shape " + shape_str(*in) + " (" +
                     std::to_string(*ch) + " channels)",
                 "num_features");
    return {in, {}, {}};
  };
}

std::vector<OptionSpec> batchnorm_options() {
  return {int_opt("num_features", 1), float_opt("eps", "1e-05"), float_opt("momentum", "0.1"), bool_opt("affine", true),
          bool_opt("track_running_stats", true)};
}

Inferred layernorm_out(const Layer& l, const std::optional<Shape>& in) {
  if (!in) return {};
  Ints ns = l.int_list_opt("normalized_shape");
  bool ok = in->size() >= ns.size();
  for (std::size_t i = 0; ok && i < ns.size(); ++i) {
    auto v = known((*in)[in->size() - ns.size() + i]);
    if (v && *v != ns[i]) ok = false;
  }
  if (!ok) {
    Shape nss(ns.begin(), ns.end());
    return err(
        "normalized_shape = " + shape_str(nss) + " does not match the last dimensions of its input " + shape_str(*in),
        "normalized_shape");
  }
  return {in, {}, {}};
}

}  // namespace

std::vector<LayerType> norm() {
  std::vector<LayerType> t;
  {
    LayerType lt;
    lt.name = "BatchNorm1d";
    lt.doc = "batch normalization over (N, C) or (N, C, L)";
    lt.options = batchnorm_options();
    lt.validate = no_check;
    lt.tensors = batchnorm_tensors;
    lt.output = batchnorm_out({2, 3}, "a 2-d (N, C) or 3-d (N, C, L)");
    t.push_back(lt);
    lt.name = "BatchNorm2d";
    lt.doc = "batch normalization over (N, C, H, W)";
    lt.output = batchnorm_out({4}, "a 4-d (N, C, H, W)");
    t.push_back(lt);
  }
  {
    LayerType lt;
    lt.name = "LayerNorm";
    lt.doc = "layer normalization over the last dimensions";
    OptionSpec ns = int_opt("normalized_shape", 1);
    ns.kind = OptKind::int_or_list;
    lt.options = {ns, float_opt("eps", "1e-05"), bool_opt("elementwise_affine", true)};
    lt.validate = no_check;
    lt.tensors = [](const Layer& l) {
      Tensors t;
      if (l.bool_opt("elementwise_affine", true)) {
        Ints ns = l.int_list_opt("normalized_shape");
        t.push_back({"weight", ns, false, false});
        t.push_back({"bias", ns, false, false});
      }
      return t;
    };
    lt.output = layernorm_out;
    t.push_back(lt);
  }
  {
    LayerType lt;
    lt.name = "LayerNorm2d";
    lt.doc = "torchvision's LayerNorm2d: layer normalization over the channels of (N, C, H, W)";
    lt.since = 2;
    lt.options = {int_opt("normalized_shape", 1), float_opt("eps", "1e-05"), bool_opt("elementwise_affine", true)};
    lt.validate = no_check;
    lt.tensors = [](const Layer& l) {
      Tensors t;
      if (l.bool_opt("elementwise_affine", true)) {
        std::int64_t c = l.int_opt("normalized_shape");
        t.push_back({"weight", {c}, false, false});
        t.push_back({"bias", {c}, false, false});
      }
      return t;
    };
    lt.output = [](const Layer& l, const std::optional<Shape>& in) -> Inferred {
      if (!in) return {};
      if (in->size() != 4) return err("expects a 4-d (N, C, H, W) input, got shape " + shape_str(*in));
      auto ch = known((*in)[1]);
      if (ch && *ch != l.int_opt("normalized_shape"))
        return err("normalized_shape = " + std::to_string(l.int_opt("normalized_shape")) + " but its input has shape " +
                       shape_str(*in) + " (" + std::to_string(*ch) + " channels)",
                   "normalized_shape");
      return {in, {}, {}};
    };
    t.push_back(lt);
  }
  {
    LayerType lt;
    lt.name = "GroupNorm";
    lt.doc = "group normalization over (N, C, *)";
    lt.options = {int_opt("num_groups", 1), int_opt("num_channels", 1), float_opt("eps", "1e-05"),
                  bool_opt("affine", true)};
    lt.validate = [](const Layer& l) -> std::pair<std::string, std::string> {
      if (l.int_opt("num_channels") % l.int_opt("num_groups") != 0)
        return {"num_channels = " + std::to_string(l.int_opt("num_channels")) +
                    " must be divisible by num_groups = " + std::to_string(l.int_opt("num_groups")),
                "num_groups"};
      return {};
    };
    lt.tensors = [](const Layer& l) {
      Tensors t;
      if (l.bool_opt("affine", true)) {
        t.push_back({"weight", {l.int_opt("num_channels")}, false, false});
        t.push_back({"bias", {l.int_opt("num_channels")}, false, false});
      }
      return t;
    };
    lt.output = [](const Layer& l, const std::optional<Shape>& in) -> Inferred {
      if (!in) return {};
      if (in->size() < 2) return err("expects an input (N, C, *), got shape " + shape_str(*in));
      auto ch = known((*in)[1]);
      if (ch && *ch != l.int_opt("num_channels"))
        return err("num_channels = " + std::to_string(l.int_opt("num_channels")) + " but its input has shape " +
                       shape_str(*in),
                   "num_channels");
      return {in, {}, {}};
    };
    t.push_back(lt);
  }
  return t;
}

}  // namespace mvc::arch::detail::types
