// The module-type table. Options, defaults and output-shape formulas follow PyTorch's
// documentation of torch.nn (1.13, the version Debian ships): Linear, Conv2d, BatchNorm1d,
// BatchNorm2d, LayerNorm, Embedding, Dropout, Flatten, MaxPool2d, ReLU, GELU, Tanh, Sigmoid,
// Identity.
#include "arch/layer_types.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>

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

Ints conv_padding(const Layer& l, std::size_t nd = 2) {
  auto it = l.options.find("padding");
  if (it != l.options.end() && it->second.kind == Value::Kind::string) return Ints(nd, 0);  // "valid" ("same" apart)
  return l.ints_opt("padding", nd, 0);
}

Inferred spatial_out(const Layer& l, const std::optional<Shape>& in, bool pool, std::size_t nd = 2,
                     bool transposed = false, bool avg = false) {
  if (!in) return {};
  if (in->size() != nd + 1 && in->size() != nd + 2)
    return err("expects a " + std::to_string(nd + 1) + "-d (C, " + (nd == 1 ? std::string("L") : "H, W") + ") or " +
               std::to_string(nd + 2) + "-d (N, C, " + (nd == 1 ? std::string("L") : "H, W") + ") input, got shape " +
               shape_str(*in));
  Shape out = *in;
  const std::size_t c = in->size() - nd - 1;
  Ints k = l.ints_opt("kernel_size", nd);
  Ints s = pool ? (l.has("stride") ? l.ints_opt("stride", nd) : k) : l.ints_opt("stride", nd, 1);
  Ints d = avg ? Ints(nd, 1) : l.ints_opt("dilation", nd, 1);
  bool same = !pool && is_same_padding(l);
  Ints p = pool || transposed ? l.ints_opt("padding", nd, 0) : conv_padding(l, nd);
  Ints op = transposed ? l.ints_opt("output_padding", nd, 0) : Ints(nd, 0);
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
  for (std::size_t i = 0; i < nd; ++i) {
    Dim& dim = out[c + 1 + i];
    auto v = known(dim);
    if (!v) {
      if (!same) dim = kUnknown;
      continue;
    }
    if (same) continue;
    std::optional<std::int64_t> o;
    if (transposed)
      o = narrow((Wide(*v) - 1) * s[i] - 2 * Wide(p[i]) + Wide(d[i]) * (k[i] - 1) + op[i] + 1);
    else
      o = pool ? pool_dim(*v, k[i], s[i], p[i], d[i], ceil_mode) : conv_dim(*v, k[i], s[i], p[i], d[i]);
    if (!o)
      return err("input shape " + shape_str(*in) + " is too small for kernel_size " + std::to_string(k[i]) +
                     " with padding " + std::to_string(p[i]) + " and dilation " + std::to_string(d[i]),
                 "kernel_size");
    dim = *o;
  }
  return {out, {}, {}};
}

std::pair<std::string, std::string> groups_check(const Layer& l) {
  std::int64_t g = l.int_opt("groups", 1);
  if (l.int_opt("in_channels") % g != 0)
    return {"in_channels = " + std::to_string(l.int_opt("in_channels")) + " must be divisible by groups = " +
                std::to_string(g),
            "groups"};
  if (l.int_opt("out_channels") % g != 0)
    return {"out_channels = " + std::to_string(l.int_opt("out_channels")) + " must be divisible by groups = " +
                std::to_string(g),
            "groups"};
  return {};
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

Inferred flatten_out(const Layer& l, const std::optional<Shape>& in, std::int64_t default_start = 1) {
  if (!in) return {};
  const auto r = static_cast<std::int64_t>(in->size());
  std::int64_t s = l.int_opt("start_dim", default_start), e = l.int_opt("end_dim", -1);
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

// --- parameter-free operations (torch functions and Tensor methods) ---------------------------

/// Normalizes a dimension index against a rank; nullopt when out of range.
std::optional<std::size_t> norm_dim(std::int64_t d, std::size_t rank) {
  auto r = static_cast<std::int64_t>(rank);
  if (d < -r || d >= r) return std::nullopt;
  return static_cast<std::size_t>(d < 0 ? d + r : d);
}

Inferred bad_dim(const std::string& opt, std::int64_t d, const Shape& in) {
  return err(opt + " = " + std::to_string(d) + " is out of range for input shape " + shape_str(in), opt);
}

/// PyTorch's broadcasting of several shapes.
Inferred broadcast(const std::vector<std::optional<Shape>>& in) {
  std::size_t rank = 0;
  for (const auto& s : in) {
    if (!s) return {};
    rank = std::max(rank, s->size());
  }
  Shape out(rank, Dim{std::int64_t{1}});
  for (const auto& s : in) {
    for (std::size_t i = 0; i < s->size(); ++i) {
      Dim& o = out[rank - s->size() + i];
      const Dim& d = (*s)[i];
      auto a = known(o), b = known(d);
      if (b && *b == 1) continue;
      if (a && *a == 1) {
        o = d;
        continue;
      }
      if (a && b && *a != *b) {
        std::string shapes;
        for (const auto& x : in) shapes += (shapes.empty() ? "" : " and ") + shape_str(*x);
        return err("the shapes " + shapes + " cannot be broadcast together");
      }
      if (!a || !b) {
        if (o != d) o = a ? o : (b ? d : kUnknown);
      }
    }
  }
  return {out, {}, {}};
}

Inferred cat_out(const Layer& l, const std::vector<std::optional<Shape>>& in, bool stack) {
  for (const auto& s : in)
    if (!s) return {};
  const Shape& first = *in[0];
  for (const auto& s : in)
    if (s->size() != first.size())
      return err("all inputs must have the same number of dimensions, got " + shape_str(first) + " and " +
                 shape_str(*s));
  std::int64_t d = l.int_opt("dim", 0);
  auto nd = norm_dim(d, first.size() + (stack ? 1 : 0));
  if (!nd) return bad_dim("dim", d, first);
  Shape out = first;
  for (std::size_t i = 0; i < first.size(); ++i) {
    if (!stack && i == *nd) continue;
    for (const auto& s : in) {
      auto a = known(out[i]), b = known((*s)[i]);
      if (a && b && *a != *b)
        return err("inputs differ in dimension " + std::to_string(i) + ": " + shape_str(first) + " and " +
                   shape_str(*s));
      if (!a && b) out[i] = *b;
    }
  }
  if (stack) {
    out.insert(out.begin() + static_cast<std::ptrdiff_t>(*nd), Dim{static_cast<std::int64_t>(in.size())});
  } else {
    std::int64_t total = 0;
    bool all = true;
    for (const auto& s : in) {
      auto v = known((*s)[*nd]);
      if (!v) all = false;
      else total += *v;
    }
    out[*nd] = all ? Dim{total} : kUnknown;
  }
  return {out, {}, {}};
}

Inferred reshape_out(const Layer& l, const std::optional<Shape>& in) {
  Ints target = l.int_list_opt("shape");
  Shape out;
  std::size_t infer = target.size();
  for (std::size_t i = 0; i < target.size(); ++i) {
    if (target[i] == -1) {
      if (infer != target.size()) return err("only one dimension of shape can be -1", "shape");
      infer = i;
      out.push_back(kUnknown);
    } else if (target[i] < 0) {
      return err("shape has an invalid size " + std::to_string(target[i]), "shape");
    } else {
      out.push_back(target[i]);
    }
  }
  if (!in) return {out, {}, {}};
  std::int64_t total = 1;
  for (const auto& d : *in) {
    auto v = known(d);
    if (!v || __builtin_mul_overflow(total, *v, &total)) return {out, {}, {}};
  }
  std::int64_t rest = 1;
  for (std::size_t i = 0; i < target.size(); ++i)
    if (i != infer && __builtin_mul_overflow(rest, target[i], &rest)) return {out, {}, {}};
  if (infer == target.size() ? rest != total : (rest == 0 || total % rest != 0))
    return err("shape " + shape_str(out) + " is invalid for an input of shape " + shape_str(*in), "shape");
  if (infer != target.size()) out[infer] = total / rest;
  return {out, {}, {}};
}

Inferred reduce_out(const Layer& l, const std::optional<Shape>& in) {
  if (!in) return {};
  bool keep = l.bool_opt("keepdim", false);
  if (!l.has("dim")) return {keep ? Shape(in->size(), Dim{std::int64_t{1}}) : Shape{}, {}, {}};
  std::vector<bool> drop(in->size(), false);
  for (auto d : l.int_list_opt("dim")) {
    auto nd = norm_dim(d, in->size());
    if (!nd) return bad_dim("dim", d, *in);
    drop[*nd] = true;
  }
  Shape out;
  for (std::size_t i = 0; i < in->size(); ++i) {
    if (!drop[i]) out.push_back((*in)[i]);
    else if (keep) out.push_back(std::int64_t{1});
  }
  return {out, {}, {}};
}

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

Inferred split_out(const Layer& l, const std::optional<Shape>& in, bool chunk) {
  if (!in) return {};
  std::int64_t d = l.int_opt("dim", 0);
  auto nd = norm_dim(d, in->size());
  if (!nd) return bad_dim("dim", d, *in);
  auto size = known((*in)[*nd]);
  std::vector<Dim> sizes;
  if (chunk) {
    std::int64_t n = l.int_opt("chunks");
    if (size) {
      std::int64_t cs = (*size + n - 1) / n;
      std::int64_t count = cs == 0 ? 0 : (*size + cs - 1) / cs;
      if (count != n)
        return err("an input of size " + std::to_string(*size) + " in dim " + std::to_string(*nd) + " gives " +
                       std::to_string(count) + " chunks, not " + std::to_string(n),
                   "chunks");
      for (std::int64_t k = 0; k < n; ++k) sizes.push_back(std::min(cs, *size - k * cs));
    } else {
      sizes.assign(static_cast<std::size_t>(n), kUnknown);
    }
  } else {
    Ints parts = l.int_list_opt("split_size_or_sections");
    std::int64_t total = 0;
    for (auto p : parts) {
      total += p;
      sizes.push_back(p);
    }
    if (size && total != *size)
      return err("sections " + shape_str(Shape(parts.begin(), parts.end())) + " sum to " + std::to_string(total) +
                     " but dim " + std::to_string(*nd) + " of the input " + shape_str(*in) + " has size " +
                     std::to_string(*size),
                 "split_size_or_sections");
  }
  Inferred r;
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    Shape s = *in;
    s[*nd] = sizes[k];
    if (k == 0) r.shape = s;
    else r.extra.push_back(s);
  }
  return r;
}

void add_ops(std::vector<LayerType>& t) {
  auto no_check = [](const Layer&) { return std::pair<std::string, std::string>{}; };
  auto op = [&](std::string name, std::string doc, std::vector<OptionSpec> opts, std::size_t min_in,
                std::size_t max_in) -> LayerType& {
    LayerType lt;
    lt.name = std::move(name);
    lt.doc = std::move(doc);
    lt.options = std::move(opts);
    lt.arity = min_in;
    lt.max_inputs = max_in;
    lt.is_op = true;
    lt.validate = no_check;
    lt.tensors = [](const Layer&) { return Tensors{}; };
    lt.output = same_shape;
    t.push_back(std::move(lt));
    return t.back();
  };
  auto any_int = [](std::string name, std::string def = {}) { return int_opt(std::move(name), std::nullopt, std::move(def)); };
  auto int_list = [](std::string name, std::optional<std::int64_t> min, std::string def = {}) {
    OptionSpec o = int_opt(std::move(name), min, std::move(def));
    o.kind = OptKind::int_or_list;
    return o;
  };
  auto opt_int = [](std::string name) {
    OptionSpec o;
    o.name = std::move(name);
    o.kind = OptKind::optional_int;
    o.default_text = "None";
    return o;
  };
  const std::size_t many = SIZE_MAX;
  for (auto [name, doc, max_in] : {std::tuple{"add", "a + b (+ ...), broadcasting", many},
                                   std::tuple{"mul", "a * b (* ...), broadcasting", many},
                                   std::tuple{"sub", "a - b, broadcasting", std::size_t{2}},
                                   std::tuple{"div", "a / b, broadcasting", std::size_t{2}}}) {
    LayerType& lt = op(name, doc, {}, 2, max_in);
    lt.output_n = [](const Layer&, const std::vector<std::optional<Shape>>& in) { return broadcast(in); };
  }
  {
    LayerType& lt = op("matmul", "torch.matmul(a, b)", {}, 2, 2);
    lt.output_n = [](const Layer&, const std::vector<std::optional<Shape>>& in) -> Inferred {
      if (!in[0] || !in[1] || in[0]->size() < 2 || in[1]->size() < 2) return {};
      const Shape &a = *in[0], &b = *in[1];
      auto k1 = known(a.back()), k2 = known(b[b.size() - 2]);
      if (k1 && k2 && *k1 != *k2) return err("cannot multiply " + shape_str(a) + " by " + shape_str(b));
      Inferred batch = broadcast({Shape(a.begin(), a.end() - 2), Shape(b.begin(), b.end() - 2)});
      if (!batch.error.empty() || !batch.shape) return batch;
      Shape out = *batch.shape;
      out.push_back(a[a.size() - 2]);
      out.push_back(b.back());
      return {out, {}, {}};
    };
  }
  for (bool stack : {false, true}) {
    LayerType& lt = op(stack ? "stack" : "cat", stack ? "torch.stack(inputs, dim)" : "torch.cat(inputs, dim)",
                       {any_int("dim", "0")}, 1, many);
    lt.output_n = [stack](const Layer& l, const std::vector<std::optional<Shape>>& in) { return cat_out(l, in, stack); };
  }
  op("flatten", "torch.flatten(x, start_dim, end_dim)", {any_int("start_dim", "0"), any_int("end_dim", "-1")}, 1, 1)
      .output = [](const Layer& l, const std::optional<Shape>& in) { return flatten_out(l, in, 0); };
  for (const char* name : {"reshape", "view"})
    op(name, std::string("x.") + name + "(shape); one size may be -1", {int_list("shape", -1)}, 1, 1).output =
        reshape_out;
  {
    LayerType& lt = op("permute", "x.permute(dims)", {int_list("dims", std::nullopt)}, 1, 1);
    lt.output = [](const Layer& l, const std::optional<Shape>& in) -> Inferred {
      if (!in) return {};
      Ints dims = l.int_list_opt("dims");
      if (dims.size() != in->size())
        return err("dims has " + std::to_string(dims.size()) + " entries but the input " + shape_str(*in) + " has " +
                       std::to_string(in->size()) + " dimensions",
                   "dims");
      Shape out;
      std::vector<bool> used(in->size(), false);
      for (auto d : dims) {
        auto nd = norm_dim(d, in->size());
        if (!nd || used[*nd]) return err("dims must be a permutation of the input's dimensions", "dims");
        used[*nd] = true;
        out.push_back((*in)[*nd]);
      }
      return {out, {}, {}};
    };
  }
  {
    LayerType& lt = op("transpose", "x.transpose(dim0, dim1)", {any_int("dim0"), any_int("dim1")}, 1, 1);
    lt.output = [](const Layer& l, const std::optional<Shape>& in) -> Inferred {
      if (!in) return {};
      auto a = norm_dim(l.int_opt("dim0"), in->size()), b = norm_dim(l.int_opt("dim1"), in->size());
      if (!a) return bad_dim("dim0", l.int_opt("dim0"), *in);
      if (!b) return bad_dim("dim1", l.int_opt("dim1"), *in);
      Shape out = *in;
      std::swap(out[*a], out[*b]);
      return {out, {}, {}};
    };
  }
  op("contiguous", "x.contiguous()", {}, 1, 1);
  {
    LayerType& lt = op("chunk", "torch.chunk(x, chunks, dim): `chunks` outputs", {int_opt("chunks", 1), any_int("dim", "0")}, 1, 1);
    lt.num_outputs = [](const Layer& l) { return static_cast<std::size_t>(l.int_opt("chunks")); };
    lt.output = [](const Layer& l, const std::optional<Shape>& in) { return split_out(l, in, true); };
    lt.validate = [](const Layer& l) -> std::pair<std::string, std::string> {
      if (l.int_opt("chunks") > 1024) return {"chunks must be at most 1024", "chunks"};
      return {};
    };
  }
  {
    LayerType& lt = op("split", "torch.split(x, [sizes...], dim): one output per section",
                       {int_list("split_size_or_sections", 0), any_int("dim", "0")}, 1, 1);
    lt.num_outputs = [](const Layer& l) { return l.int_list_opt("split_size_or_sections").size(); };
    lt.output = [](const Layer& l, const std::optional<Shape>& in) { return split_out(l, in, false); };
    lt.validate = [](const Layer& l) -> std::pair<std::string, std::string> {
      auto v = l.options.find("split_size_or_sections");
      if (v->second.kind != Value::Kind::array)
        return {"split_size_or_sections must be a list of section sizes (the number of outputs must be known "
                "without running the model)",
                "split_size_or_sections"};
      if (v->second.items.size() > 1024) return {"at most 1024 sections", "split_size_or_sections"};
      return {};
    };
  }
  for (const char* name : {"mean", "sum"}) {
    OptionSpec dim = int_list("dim", std::nullopt, "None");
    op(name, std::string("torch.") + name + "(x, dim, keepdim); all elements without dim",
       {dim, bool_opt("keepdim", false)}, 1, 1)
        .output = reduce_out;
  }
  op("select", "x.select(dim, index), as x[:, index] in Python", {any_int("dim"), any_int("index")}, 1, 1).output =
      [](const Layer& l, const std::optional<Shape>& in) -> Inferred {
    if (!in) return {};
    auto nd = norm_dim(l.int_opt("dim"), in->size());
    if (!nd) return bad_dim("dim", l.int_opt("dim"), *in);
    auto size = known((*in)[*nd]);
    std::int64_t i = l.int_opt("index");
    if (size && (i < -*size || i >= *size))
      return err("index = " + std::to_string(i) + " is out of range for dim " + std::to_string(*nd) +
                     " of size " + std::to_string(*size),
                 "index");
    Shape out = *in;
    out.erase(out.begin() + static_cast<std::ptrdiff_t>(*nd));
    return {out, {}, {}};
  };
  op("slice", "x[start:end:step] along dim", {any_int("dim", "0"), any_int("start", "0"), opt_int("end"),
                                                int_opt("step", 1, "1")}, 1, 1)
      .output = [](const Layer& l, const std::optional<Shape>& in) -> Inferred {
    if (!in) return {};
    auto nd = norm_dim(l.int_opt("dim", 0), in->size());
    if (!nd) return bad_dim("dim", l.int_opt("dim", 0), *in);
    Shape out = *in;
    auto size = known((*in)[*nd]);
    if (!size) {
      out[*nd] = kUnknown;
      return {out, {}, {}};
    }
    auto clamp = [&](std::int64_t v) {
      if (v < 0) v += *size;
      return std::clamp<std::int64_t>(v, 0, *size);
    };
    std::int64_t s = clamp(l.int_opt("start", 0)), e = l.has("end") ? clamp(l.int_opt("end")) : *size;
    std::int64_t step = l.int_opt("step", 1);
    out[*nd] = e > s ? (e - s + step - 1) / step : 0;
    return {out, {}, {}};
  };
  op("unsqueeze", "x.unsqueeze(dim)", {any_int("dim")}, 1, 1).output =
      [](const Layer& l, const std::optional<Shape>& in) -> Inferred {
    if (!in) return {};
    auto nd = norm_dim(l.int_opt("dim"), in->size() + 1);
    if (!nd) return bad_dim("dim", l.int_opt("dim"), *in);
    Shape out = *in;
    out.insert(out.begin() + static_cast<std::ptrdiff_t>(*nd), Dim{std::int64_t{1}});
    return {out, {}, {}};
  };
  op("squeeze", "x.squeeze(dim); every size-1 dimension without dim", {opt_int("dim")}, 1, 1).output =
      [](const Layer& l, const std::optional<Shape>& in) -> Inferred {
    if (!in) return {};
    Shape out;
    if (l.has("dim")) {
      auto nd = norm_dim(l.int_opt("dim"), std::max<std::size_t>(in->size(), 1));
      if (!nd) return bad_dim("dim", l.int_opt("dim"), *in);
      if (in->empty()) return {in, {}, {}};
      auto v = known((*in)[*nd]);
      if (!v) return {};
      out = *in;
      if (*v == 1) out.erase(out.begin() + static_cast<std::ptrdiff_t>(*nd));
      return {out, {}, {}};
    }
    for (const auto& d : *in) {
      auto v = known(d);
      if (!v) return {};
      if (*v != 1) out.push_back(d);
    }
    return {out, {}, {}};
  };
  auto dim_checked = [](const Layer& l, const std::optional<Shape>& in) -> Inferred {
    if (!in) return {};
    if (!norm_dim(l.int_opt("dim"), std::max<std::size_t>(in->size(), 1))) return bad_dim("dim", l.int_opt("dim"), *in);
    return {in, {}, {}};
  };
  op("softmax", "torch.softmax(x, dim)", {any_int("dim")}, 1, 1).output = dim_checked;
  op("log_softmax", "torch.log_softmax(x, dim)", {any_int("dim")}, 1, 1).output = dim_checked;
  op("relu", "torch.relu(x)", {}, 1, 1);
  op("relu6", "F.relu6(x)", {}, 1, 1);
  op("gelu", "F.gelu(x, approximate)", {string_opt("approximate", "none", {"none", "tanh"})}, 1, 1);
  op("silu", "F.silu(x)", {}, 1, 1);
  op("sigmoid", "torch.sigmoid(x)", {}, 1, 1);
  op("tanh", "torch.tanh(x)", {}, 1, 1);
  op("hardswish", "F.hardswish(x)", {}, 1, 1);
  op("leaky_relu", "F.leaky_relu(x, negative_slope)", {float_opt("negative_slope", "0.01")}, 1, 1);
  op("adaptive_avg_pool2d", "F.adaptive_avg_pool2d(x, output_size)", {tuple_opt("output_size", 2, 1)}, 1, 1).output =
      [](const Layer& l, const std::optional<Shape>& in) -> Inferred {
    if (!in) return {};
    if (in->size() != 3 && in->size() != 4) return err("expects a 3-d or 4-d input, got shape " + shape_str(*in));
    Shape out = *in;
    Ints o = l.ints_opt("output_size", 2);
    out[out.size() - 2] = o[0];
    out[out.size() - 1] = o[1];
    return {out, {}, {}};
  };
  op("arange", "torch.arange(x.size(dim)): the positions 0..n-1 along dim, as int64", {any_int("dim", "0")}, 1, 1)
      .output = [](const Layer& l, const std::optional<Shape>& in) -> Inferred {
    if (!in) return {Shape{kUnknown}, {}, {}};
    auto nd = norm_dim(l.int_opt("dim", 0), in->size());
    if (!nd) return bad_dim("dim", l.int_opt("dim", 0), *in);
    return {Shape{(*in)[*nd]}, {}, {}};
  };
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
    lt.options = {int_opt("in_channels", 1),
                  int_opt("out_channels", 1),
                  tuple_opt("kernel_size", 2, 1),
                  tuple_opt("stride", 2, 1, "1"),
                  tuple_opt("padding", 2, 0, "0"),
                  tuple_opt("output_padding", 2, 0, "0"),
                  int_opt("groups", 1, "1"),
                  bool_opt("bias", true),
                  tuple_opt("dilation", 2, 1, "1"),
                  string_opt("padding_mode", "zeros", {"zeros"})};
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
    lt.output = [](const Layer& l, const std::optional<Shape>& in) { return flatten_out(l, in); };
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

  {
    LayerType lt;
    lt.name = "GroupNorm";
    lt.doc = "group normalization over (N, C, *)";
    lt.options = {int_opt("num_groups", 1), int_opt("num_channels", 1), float_opt("eps", "1e-05"),
                  bool_opt("affine", true)};
    lt.validate = [](const Layer& l) -> std::pair<std::string, std::string> {
      if (l.int_opt("num_channels") % l.int_opt("num_groups") != 0)
        return {"num_channels = " + std::to_string(l.int_opt("num_channels")) + " must be divisible by num_groups = " +
                    std::to_string(l.int_opt("num_groups")),
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
  {
    LayerType lt;
    lt.name = "Bilinear";
    lt.doc = "y = x1^T A x2 + b over two inputs";
    lt.options = {int_opt("in1_features", 1), int_opt("in2_features", 1), int_opt("out_features", 1),
                  bool_opt("bias", true)};
    lt.arity = lt.max_inputs = 2;
    lt.validate = no_check;
    lt.tensors = [](const Layer& l) {
      std::int64_t o = l.int_opt("out_features");
      Tensors t{{"weight", {o, l.int_opt("in1_features"), l.int_opt("in2_features")}, false, false}};
      if (l.bool_opt("bias", true)) t.push_back({"bias", {o}, false, false});
      return t;
    };
    lt.output = same_shape;
    lt.output_n = [](const Layer& l, const std::vector<std::optional<Shape>>& in) -> Inferred {
      if (in.size() != 2 || !in[0] || in[0]->empty()) return {};
      for (std::size_t k = 0; k < 2; ++k) {
        if (!in[k] || in[k]->empty()) continue;
        std::string opt = k == 0 ? "in1_features" : "in2_features";
        auto last = known(in[k]->back());
        if (last && *last != l.int_opt(opt))
          return err(opt + " = " + std::to_string(l.int_opt(opt)) + " but input " + std::to_string(k + 1) +
                         " has shape " + shape_str(*in[k]),
                     opt);
      }
      Shape out = *in[0];
      out.back() = l.int_opt("out_features");
      return {out, {}, {}};
    };
    t.push_back(lt);
  }
  for (const char* rnn : {"LSTM", "GRU"}) {
    const bool lstm = std::string(rnn) == "LSTM";
    LayerType lt;
    lt.name = rnn;
    lt.doc = lstm ? "multi-layer long short-term memory; outputs: output, h_n, c_n"
                  : "multi-layer gated recurrent unit; outputs: output, h_n";
    lt.options = {int_opt("input_size", 1),  int_opt("hidden_size", 1), int_opt("num_layers", 1, "1"),
                  bool_opt("bias", true),    bool_opt("batch_first", false), float_opt("dropout", "0.0", 0.0, 1.0),
                  bool_opt("bidirectional", false)};
    if (lstm) lt.options.push_back(int_opt("proj_size", 0, "0"));
    lt.validate = [](const Layer& l) -> std::pair<std::string, std::string> {
      if (l.int_opt("proj_size", 0) >= l.int_opt("hidden_size"))
        return {"proj_size = " + std::to_string(l.int_opt("proj_size", 0)) + " must be smaller than hidden_size = " +
                    std::to_string(l.int_opt("hidden_size")),
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
        return err("input_size = " + std::to_string(l.int_opt("input_size")) + " but its input has shape " +
                       shape_str(*in),
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
  {
    LayerType lt;
    lt.name = "MultiheadAttention";
    lt.doc = "multi-head attention over (query, key, value); outputs: attn_output, attn_weights";
    OptionSpec kdim = int_opt("kdim", 1, "None"), vdim = int_opt("vdim", 1, "None");
    kdim.kind = vdim.kind = OptKind::optional_int;
    lt.options = {int_opt("embed_dim", 1), int_opt("num_heads", 1), float_opt("dropout", "0.0", 0.0, 1.0),
                  bool_opt("bias", true), bool_opt("add_bias_kv", false), bool_opt("add_zero_attn", false),
                  kdim, vdim, bool_opt("batch_first", false)};
    lt.arity = lt.max_inputs = 3;
    lt.num_outputs = [](const Layer&) -> std::size_t { return 2; };
    lt.validate = [](const Layer& l) -> std::pair<std::string, std::string> {
      if (l.int_opt("embed_dim") % l.int_opt("num_heads") != 0)
        return {"embed_dim = " + std::to_string(l.int_opt("embed_dim")) + " must be divisible by num_heads = " +
                    std::to_string(l.int_opt("num_heads")),
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
        return err("embed_dim = " + std::to_string(l.int_opt("embed_dim")) + " but the query has shape " +
                       shape_str(q),
                   "embed_dim");
      return {q, {}, {}};
    };
    t.push_back(lt);
  }
  {
    LayerType lt;
    lt.name = "AvgPool2d";
    lt.doc = "2-d average pooling over (N, C, H, W)";
    OptionSpec div = int_opt("divisor_override", 1, "None");
    div.kind = OptKind::optional_int;
    lt.options = {tuple_opt("kernel_size", 2, 1), tuple_opt("stride", 2, 1, "kernel_size"),
                  tuple_opt("padding", 2, 0, "0"), bool_opt("ceil_mode", false),
                  bool_opt("count_include_pad", true), div};
    lt.validate = [](const Layer& l) -> std::pair<std::string, std::string> {
      return check_pool2d_padding(l);
    };
    lt.tensors = no_tensors;
    lt.output = [](const Layer& l, const std::optional<Shape>& in) { return spatial_out(l, in, true, 2, false, true); };
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
        return err("expects a " + std::to_string(nd + 1) + "-d or " + std::to_string(nd + 2) +
                   "-d input, got shape " + shape_str(*in));
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
    lt.options = {size, scale,
                  string_opt("mode", "nearest", {"nearest", "linear", "bilinear", "bicubic", "trilinear"}), align};
    lt.validate = [](const Layer& l) -> std::pair<std::string, std::string> {
      if (l.has("size") == l.has("scale_factor"))
        return {"exactly one of size and scale_factor must be given", "size"};
      std::string m = l.str_opt("mode", "nearest");
      if (l.has("align_corners") && m == "nearest")
        return {"align_corners can only be set with mode linear, bilinear, bicubic or trilinear", "align_corners"};
      return {};
    };
    lt.tensors = no_tensors;
    lt.output = [](const Layer& l, const std::optional<Shape>& in) -> Inferred {
      if (!in) return {};
      if (in->size() < 3) return err("expects an input (N, C, *spatial), got shape " + shape_str(*in));
      Shape out = *in;
      std::size_t nd = in->size() - 2;
      if (l.has("size")) {
        Ints sz = l.int_list_opt("size");
        if (sz.size() != 1 && sz.size() != nd)
          return err("size has " + std::to_string(sz.size()) + " values for " + std::to_string(nd) +
                         " spatial dimensions",
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
    };
    t.push_back(lt);
  }
  {
    OptionSpec dim;
    dim.name = "dim";
    dim.kind = OptKind::optional_int;
    dim.default_text = "None";
    activation("Softmax", "softmax along dim (None: PyTorch's legacy choice, 0 for 0-, 1- and 3-d inputs, else 1)",
               {dim});
  }
  activation("ReLU6", "min(max(0, x), 6)", {bool_opt("inplace", false)});
  activation("SiLU", "x * sigmoid(x)", {bool_opt("inplace", false)});
  activation("Hardswish", "x * relu6(x + 3) / 6", {bool_opt("inplace", false)});
  activation("LeakyReLU", "max(0, x) + negative_slope * min(0, x)",
             {float_opt("negative_slope", "0.01"), bool_opt("inplace", false)});
  add_ops(t);
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
