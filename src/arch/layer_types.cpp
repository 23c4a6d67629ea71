// The module-type table. Options, defaults and output-shape formulas follow PyTorch's
// documentation of torch.nn (1.13, the version Debian ships): Linear, Conv2d, BatchNorm1d,
// BatchNorm2d, LayerNorm, Embedding, Dropout, Flatten, MaxPool2d, ReLU, GELU, Tanh, Sigmoid,
// Identity.
#include "arch/layer_types.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace mvc::arch::detail {

namespace {

using Tensors = std::vector<TensorSpec>;
using Ints = std::vector<std::int64_t>;

OptionSpec int_opt(std::string name, std::optional<std::int64_t> min, std::string def = {}) {
  OptionSpec o;
  o.name = std::move(name);
  o.kind = OptKind::integer;
  o.required = def.empty();
  o.default_text = std::move(def);
  o.min = min;
  return o;
}
OptionSpec tuple_opt(std::string name, std::size_t n, std::int64_t min, std::string def = {}) {
  OptionSpec o = int_opt(std::move(name), min, std::move(def));
  o.kind = OptKind::int_or_tuple;
  o.tuple_size = n;
  return o;
}
OptionSpec float_opt(std::string name, std::string def, std::optional<double> fmin = {},
                     std::optional<double> fmax = {}) {
  OptionSpec o;
  o.name = std::move(name);
  o.kind = OptKind::floating;
  o.default_text = std::move(def);
  o.fmin = fmin;
  o.fmax = fmax;
  return o;
}
OptionSpec bool_opt(std::string name, bool def) {
  OptionSpec o;
  o.name = std::move(name);
  o.kind = OptKind::boolean;
  o.default_text = def ? "true" : "false";
  return o;
}
OptionSpec string_opt(std::string name, std::string def, std::vector<std::string> choices) {
  OptionSpec o;
  o.name = std::move(name);
  o.kind = OptKind::string;
  o.default_text = "\"" + def + "\"";
  o.choices = std::move(choices);
  return o;
}

std::optional<std::int64_t> known(const Dim& d) {
  if (auto* i = std::get_if<std::int64_t>(&d)) return *i;
  return std::nullopt;
}
const Dim kUnknown = std::string("?");

Inferred same_shape(const Layer&, const std::optional<Shape>& in) { return {in, {}, {}}; }

Inferred err(std::string what, std::string option = {}) { return {std::nullopt, std::move(what), std::move(option)}; }

// --- Linear -------------------------------------------------------------------------------

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

// --- Conv2d / MaxPool2d -------------------------------------------------------------------

// Sizes come from user files: the formulas below run in 128 bits so that no value can overflow.
using Wide = __int128;

// Floor division rounding toward minus infinity (PyTorch's div_rtn).
Wide div_floor(Wide a, Wide b) {
  Wide q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

std::optional<std::int64_t> narrow(Wide v) {
  if (v < 1 || v > std::numeric_limits<std::int64_t>::max()) return std::nullopt;
  return static_cast<std::int64_t>(v);
}

/// Conv2d: out = floor((in + 2p - d(k-1) - 1) / s) + 1.
std::optional<std::int64_t> conv_dim(Wide in, Wide k, Wide s, Wide p, Wide d) {
  Wide num = in + 2 * p - d * (k - 1) - 1;
  if (num < 0) return std::nullopt;
  return narrow(div_floor(num, s) + 1);
}

/// MaxPool2d (PyTorch's pooling_output_shape), including ceil_mode.
std::optional<std::int64_t> pool_dim(Wide in, Wide k, Wide s, Wide p, Wide d, bool ceil_mode) {
  Wide out = div_floor(in + 2 * p - d * (k - 1) - 1 + (ceil_mode ? s - 1 : 0), s) + 1;
  if (ceil_mode && (out - 1) * s >= in + p) --out;
  return narrow(out);
}

bool is_same_padding(const Layer& l) {
  auto it = l.options.find("padding");
  return it != l.options.end() && it->second.kind == Value::Kind::string && it->second.s == "same";
}

Ints conv_padding(const Layer& l) {
  auto it = l.options.find("padding");
  if (it != l.options.end() && it->second.kind == Value::Kind::string) return {0, 0};  // "valid" ("same" handled apart)
  return l.ints_opt("padding", 2, 0);
}

Inferred spatial_out(const Layer& l, const std::optional<Shape>& in, bool pool) {
  if (!in) return {};
  if (in->size() != 3 && in->size() != 4)
    return err("expects a 3-d (C, H, W) or 4-d (N, C, H, W) input, got shape " + shape_str(*in));
  Shape out = *in;
  const std::size_t c = in->size() - 3;
  Ints k = l.ints_opt("kernel_size", 2);
  Ints s = pool ? (l.has("stride") ? l.ints_opt("stride", 2) : k) : l.ints_opt("stride", 2, 1);
  Ints d = l.ints_opt("dilation", 2, 1);
  bool same = !pool && is_same_padding(l);
  Ints p = pool ? l.ints_opt("padding", 2, 0) : conv_padding(l);
  if (!pool) {
    std::int64_t in_c = l.int_opt("in_channels");
    auto ch = known((*in)[c]);
    if (ch && *ch != in_c)
      return err("in_channels = " + std::to_string(in_c) + " but its input has shape " + shape_str(*in) + " (" +
                     std::to_string(*ch) + " channels)",
                 "in_channels");
    out[c] = l.int_opt("out_channels");
  }
  bool ceil_mode = pool && l.bool_opt("ceil_mode", false);
  for (std::size_t i = 0; i < 2; ++i) {
    Dim& dim = out[c + 1 + i];
    auto v = known(dim);
    if (!v) {
      if (!same) dim = kUnknown;
      continue;
    }
    if (same) continue;
    auto o = pool ? pool_dim(*v, k[i], s[i], p[i], d[i], ceil_mode) : conv_dim(*v, k[i], s[i], p[i], d[i]);
    if (!o)
      return err("input shape " + shape_str(*in) + " is too small for kernel_size " + std::to_string(k[i]) +
                     " with padding " + std::to_string(p[i]) + " and dilation " + std::to_string(d[i]),
                 "kernel_size");
    dim = *o;
  }
  return {out, {}, {}};
}

// --- normalization --------------------------------------------------------------------------

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
  return {int_opt("num_features", 1), float_opt("eps", "1e-05"), float_opt("momentum", "0.1"),
          bool_opt("affine", true), bool_opt("track_running_stats", true)};
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
    return err("normalized_shape = " + shape_str(nss) + " does not match the last dimensions of its input " +
                   shape_str(*in),
               "normalized_shape");
  }
  return {in, {}, {}};
}

// --- Flatten --------------------------------------------------------------------------------

Inferred flatten_out(const Layer& l, const std::optional<Shape>& in) {
  if (!in) return {};
  const auto r = static_cast<std::int64_t>(in->size());
  std::int64_t s = l.int_opt("start_dim", 1), e = l.int_opt("end_dim", -1);
  const std::int64_t lo = r == 0 ? -1 : -r, hi = r == 0 ? 0 : r - 1;  // a 0-d tensor acts as 1-d
  if (s < lo || s > hi)
    return err("start_dim = " + std::to_string(s) + " is out of range for input shape " + shape_str(*in), "start_dim");
  if (e < lo || e > hi)
    return err("end_dim = " + std::to_string(e) + " is out of range for input shape " + shape_str(*in), "end_dim");
  if (r == 0) return {Shape{std::int64_t{1}}, {}, {}};
  if (s < 0) s += r;
  if (e < 0) e += r;
  if (s > e) return err("start_dim (" + std::to_string(s) + ") comes after end_dim (" + std::to_string(e) + ")", "start_dim");
  Shape out(in->begin(), in->begin() + s);
  if (s == e) {
    out.push_back((*in)[static_cast<std::size_t>(s)]);
  } else {
    std::int64_t prod = 1;
    bool all_known = true;
    for (std::int64_t i = s; i <= e; ++i) {
      auto v = known((*in)[static_cast<std::size_t>(i)]);
      if (!v || __builtin_mul_overflow(prod, *v, &prod)) {
        all_known = false;
        break;
      }
    }
    out.push_back(all_known ? Dim{prod} : kUnknown);
  }
  out.insert(out.end(), in->begin() + e + 1, in->end());
  return {out, {}, {}};
}

std::vector<LayerType> make_table() {
  std::vector<LayerType> t;
  auto no_check = [](const Layer&) { return std::pair<std::string, std::string>{}; };
  auto no_tensors = [](const Layer&) { return Tensors{}; };

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
    lt.name = "Conv2d";
    lt.doc = "2-d convolution over (N, C, H, W)";
    OptionSpec padding = tuple_opt("padding", 2, 0, "0");
    padding.kind = OptKind::padding;
    padding.choices = {"same", "valid"};
    lt.options = {int_opt("in_channels", 1),
                  int_opt("out_channels", 1),
                  tuple_opt("kernel_size", 2, 1),
                  tuple_opt("stride", 2, 1, "1"),
                  padding,
                  tuple_opt("dilation", 2, 1, "1"),
                  int_opt("groups", 1, "1"),
                  bool_opt("bias", true),
                  string_opt("padding_mode", "zeros", {"zeros", "reflect", "replicate", "circular"})};
    lt.validate = [](const Layer& l) -> std::pair<std::string, std::string> {
      std::int64_t g = l.int_opt("groups", 1);
      if (l.int_opt("in_channels") % g != 0)
        return {"in_channels = " + std::to_string(l.int_opt("in_channels")) + " must be divisible by groups = " +
                    std::to_string(g),
                "groups"};
      if (l.int_opt("out_channels") % g != 0)
        return {"out_channels = " + std::to_string(l.int_opt("out_channels")) + " must be divisible by groups = " +
                    std::to_string(g),
                "groups"};
      if (is_same_padding(l)) {
        Ints s = l.ints_opt("stride", 2, 1);
        if (s[0] != 1 || s[1] != 1) return {"padding = \"same\" is not supported for strided convolutions", "padding"};
      }
      return {};
    };
    lt.tensors = [](const Layer& l) {
      std::int64_t in = l.int_opt("in_channels"), out = l.int_opt("out_channels"), g = l.int_opt("groups", 1);
      Ints k = l.ints_opt("kernel_size", 2);
      Tensors t{{"weight", {out, in / g, k[0], k[1]}, false, false}};
      if (l.bool_opt("bias", true)) t.push_back({"bias", {out}, false, false});
      return t;
    };
    lt.output = [](const Layer& l, const std::optional<Shape>& in) { return spatial_out(l, in, false); };
    t.push_back(lt);
  }
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
    lt.options = {int_opt("num_embeddings", 1), int_opt("embedding_dim", 1), pidx, max_norm,
                  float_opt("norm_type", "2.0"),    bool_opt("scale_grad_by_freq", false),
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
  {
    LayerType lt;
    lt.name = "Dropout";
    lt.doc = "zeroes elements with probability p in training; identity in eval";
    lt.options = {float_opt("p", "0.5", 0.0, 1.0), bool_opt("inplace", false)};
    lt.validate = no_check;
    lt.tensors = no_tensors;
    lt.output = same_shape;
    t.push_back(lt);
  }
  {
    LayerType lt;
    lt.name = "Flatten";
    lt.doc = "flattens dimensions start_dim..end_dim into one";
    lt.options = {int_opt("start_dim", std::nullopt, "1"), int_opt("end_dim", std::nullopt, "-1")};
    lt.validate = no_check;
    lt.tensors = no_tensors;
    lt.output = flatten_out;
    t.push_back(lt);
  }
  {
    LayerType lt;
    lt.name = "MaxPool2d";
    lt.doc = "2-d max pooling over (N, C, H, W)";
    lt.options = {tuple_opt("kernel_size", 2, 1),
                  tuple_opt("stride", 2, 1, "kernel_size"),
                  tuple_opt("padding", 2, 0, "0"),
                  tuple_opt("dilation", 2, 1, "1"),
                  bool_opt("return_indices", false),
                  bool_opt("ceil_mode", false)};
    lt.validate = [](const Layer& l) -> std::pair<std::string, std::string> {
      if (l.bool_opt("return_indices", false))
        return {"return_indices = true is not supported in mvc.arch/1 (the layer would return a pair of tensors, "
                "which no layer takes)",
                "return_indices"};
      Ints k = l.ints_opt("kernel_size", 2), p = l.ints_opt("padding", 2, 0);
      for (std::size_t i = 0; i < 2; ++i)
        if (p[i] > k[i] / 2)
          return {"padding = " + std::to_string(p[i]) + " must be at most half of kernel_size = " +
                      std::to_string(k[i]),
                  "padding"};
      return {};
    };
    lt.tensors = no_tensors;
    lt.output = [](const Layer& l, const std::optional<Shape>& in) { return spatial_out(l, in, true); };
    t.push_back(lt);
  }
  auto activation = [&](std::string name, std::string doc, std::vector<OptionSpec> opts) {
    LayerType lt;
    lt.name = std::move(name);
    lt.doc = std::move(doc);
    lt.options = std::move(opts);
    lt.validate = no_check;
    lt.tensors = no_tensors;
    lt.output = same_shape;
    t.push_back(lt);
  };
  activation("ReLU", "max(0, x)", {bool_opt("inplace", false)});
  activation("GELU", "Gaussian error linear unit", {string_opt("approximate", "none", {"none", "tanh"})});
  activation("Tanh", "tanh(x)", {});
  activation("Sigmoid", "1 / (1 + exp(-x))", {});
  activation("Identity", "returns its input", {});

  std::sort(t.begin(), t.end(), [](const LayerType& a, const LayerType& b) { return a.name < b.name; });
  return t;
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  // Optimal string alignment distance, case-insensitive.
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      char x = static_cast<char>(std::tolower(static_cast<unsigned char>(a[i - 1])));
      char y = static_cast<char>(std::tolower(static_cast<unsigned char>(b[j - 1])));
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (x == y ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);  // a transposition counts as one edit
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace

const std::vector<LayerType>& layer_types() {
  static const std::vector<LayerType> table = make_table();
  return table;
}

const LayerType* find_layer_type(const std::string& name) {
  for (const auto& t : layer_types())
    if (t.name == name) return &t;
  return nullptr;
}

const OptionSpec* LayerType::option(const std::string& key) const {
  for (const auto& o : options)
    if (o.name == key) return &o;
  return nullptr;
}

std::string LayerType::option_names() const {
  std::vector<std::string> names;
  for (const auto& o : options) names.push_back(o.name);
  return names.empty() ? "none" : join(names);
}

std::string join(const std::vector<std::string>& items) {
  std::string s;
  for (const auto& i : items) {
    if (!s.empty()) s += ", ";
    s += i;
  }
  return s;
}

std::optional<std::string> suggest(const std::string& word, const std::vector<std::string>& candidates) {
  std::optional<std::string> best;
  std::size_t best_d = std::numeric_limits<std::size_t>::max();
  for (const auto& c : candidates) {
    std::size_t d = edit_distance(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  if (best && best_d > 0 && best_d < word.size() && best_d <= std::max<std::size_t>(1, std::min(word.size(), best->size()) / 3)) return best;
  return std::nullopt;
}

std::uint64_t numel(const std::vector<std::int64_t>& shape) {
  std::uint64_t n = 1;
  for (auto d : shape) n *= static_cast<std::uint64_t>(d);
  return n;
}

std::string check_option(const OptionSpec& spec, const Value& v) {
  using K = Value::Kind;
  auto int_ok = [&](const Value& x) {
    return x.kind == K::integer && (!spec.min || x.i >= *spec.min);
  };
  std::string bound = spec.min ? " >= " + std::to_string(*spec.min) : "";
  std::string choices;
  for (const auto& c : spec.choices) choices += (choices.empty() ? "\"" : ", \"") + c + "\"";
  switch (spec.kind) {
    case OptKind::integer:
    case OptKind::optional_int:
      if (int_ok(v)) return {};
      return "must be an integer" + bound;
    case OptKind::floating:
    case OptKind::optional_float: {
      if (v.kind != K::integer && v.kind != K::floating) return "must be a number";
      double x = v.kind == K::integer ? static_cast<double>(v.i) : v.f;
      if (std::isnan(x) || (spec.fmin && x < *spec.fmin) || (spec.fmax && x > *spec.fmax)) {
        auto num = [](double d) {
          Value x;
          x.kind = Value::Kind::floating;
          x.f = d;
          return value_text(x);
        };
        std::string range = spec.fmin && spec.fmax ? " between " + num(*spec.fmin) + " and " + num(*spec.fmax) : "";
        return "must be a number" + range;
      }
      return {};
    }
    case OptKind::boolean:
      if (v.kind == K::boolean) return {};
      return "must be true or false";
    case OptKind::string:
      if (v.kind == K::string && std::find(spec.choices.begin(), spec.choices.end(), v.s) != spec.choices.end())
        return {};
      return "must be one of " + choices;
    case OptKind::int_or_tuple:
    case OptKind::padding: {
      if (spec.kind == OptKind::padding && v.kind == K::string) {
        if (std::find(spec.choices.begin(), spec.choices.end(), v.s) != spec.choices.end()) return {};
      } else if (int_ok(v)) {
        return {};
      } else if (v.kind == K::array && v.items.size() == spec.tuple_size &&
                 std::all_of(v.items.begin(), v.items.end(), int_ok)) {
        return {};
      }
      std::string what = "must be an integer" + bound + " or a list of " + std::to_string(spec.tuple_size) +
                         " integers" + bound;
      if (spec.kind == OptKind::padding) what += ", or one of " + choices;
      return what;
    }
    case OptKind::int_or_list:
      if (int_ok(v)) return {};
      if (v.kind == K::array && !v.items.empty() && std::all_of(v.items.begin(), v.items.end(), int_ok)) return {};
      return "must be an integer" + bound + " or a non-empty list of integers" + bound;
  }
  return {};
}

// --- dtypes ---------------------------------------------------------------------------------

namespace {
struct DtypeName {
  const char* name;
  const char* canonical;
  bool floating;
};
// torch names and the aliases torch accepts (torch.float, torch.double, torch.half, ...).
constexpr DtypeName kDtypes[] = {
    {"float64", "float64", true}, {"float32", "float32", true}, {"float16", "float16", true},
    {"bfloat16", "bfloat16", true}, {"int64", "int64", false},  {"int32", "int32", false},
    {"int16", "int16", false},     {"int8", "int8", false},      {"uint8", "uint8", false},
    {"bool", "bool", false},       {"double", "float64", true},  {"float", "float32", true},
    {"half", "float16", true},     {"long", "int64", false},     {"int", "int32", false},
    {"short", "int16", false},
};
}  // namespace

std::optional<std::string> canonical_dtype(const std::string& name) {
  std::string n = name.rfind("torch.", 0) == 0 ? name.substr(6) : name;
  for (const auto& d : kDtypes)
    if (n == d.name) return std::string(d.canonical);
  return std::nullopt;
}

bool is_floating_dtype(const std::string& canonical) {
  for (const auto& d : kDtypes)
    if (canonical == d.name) return d.floating;
  return false;
}

std::string dtype_names(bool floating_only) {
  std::vector<std::string> n;
  for (const auto& d : kDtypes)
    if (std::string(d.name) == d.canonical && (!floating_only || d.floating)) n.push_back(d.name);
  return join(n);
}

}  // namespace mvc::arch::detail
