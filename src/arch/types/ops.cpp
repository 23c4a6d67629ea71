// The operations family, torch-free: Flatten and the parameter-free tensor operations (Python's
// functions and Tensor methods: arithmetic, matmul, cat, reshape, indexing, reductions, ...).
// Mirrored by src/model/build/ops.cpp.
#include <algorithm>
#include <cstdint>
#include <tuple>

#include "arch/types/family.h"

namespace mvc::arch::detail::types {

namespace {

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
  if (s > e)
    return err("start_dim (" + std::to_string(s) + ") comes after end_dim (" + std::to_string(e) + ")", "start_dim");
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
      if (!v)
        all = false;
      else
        total += *v;
    }
    out[*nd] = all ? Dim{total} : kUnknown;
  }
  return {out, {}, {}};
}

/// x.reshape / x.view: `shape`'s sizes (one may be -1; entries may read another input's sizes).
Inferred reshape_out(const Layer& l, const std::vector<std::optional<Shape>>& ins) {
  Inferred target = resolve_sizes(l, "shape", ins);
  if (!target.error.empty()) return target;
  Shape out = *target.shape;
  const std::optional<Shape>& in = ins.empty() ? std::nullopt : ins[0];
  std::size_t infer = out.size();
  bool all_known = true;
  for (std::size_t i = 0; i < out.size(); ++i) {
    auto v = known(out[i]);
    if (!v) {
      all_known = false;
    } else if (*v == -1) {
      if (infer != out.size()) return err("only one dimension of shape can be -1", "shape");
      infer = i;
      out[i] = kUnknown;
    } else if (*v < 0) {
      return err("shape has an invalid size " + std::to_string(*v), "shape");
    }
  }
  if (!in || !all_known) return {out, {}, {}};
  std::int64_t total = 1;
  for (const auto& d : *in) {
    auto v = known(d);
    if (!v || __builtin_mul_overflow(total, *v, &total)) return {out, {}, {}};
  }
  std::int64_t rest = 1;
  for (std::size_t i = 0; i < out.size(); ++i)
    if (i != infer && __builtin_mul_overflow(rest, *known(out[i]), &rest)) return {out, {}, {}};
  if (infer == out.size() ? rest != total : (rest == 0 || total % rest != 0)) {
    Shape shown = out;
    if (infer != out.size()) shown[infer] = std::int64_t{-1};
    return err("shape " + shape_str(shown) + " is invalid for an input of shape " + shape_str(*in), "shape");
  }
  if (infer != out.size()) out[infer] = total / rest;
  return {out, {}, {}};
}

/// x.expand(size): -1 keeps a dimension; new dimensions go in front.
Inferred expand_out(const Layer& l, const std::vector<std::optional<Shape>>& ins) {
  Inferred target = resolve_sizes(l, "size", ins);
  if (!target.error.empty()) return target;
  Shape out = *target.shape;
  if (ins.empty() || !ins[0]) return {out, {}, {}};
  const Shape& in = *ins[0];
  if (out.size() < in.size())
    return err("size has " + std::to_string(out.size()) + " entries, fewer than the input's " +
                   std::to_string(in.size()) + " dimensions " + shape_str(in),
               "size");
  const std::size_t lead = out.size() - in.size();
  for (std::size_t i = 0; i < out.size(); ++i) {
    auto v = known(out[i]);
    if (v && *v == -1) {
      if (i < lead)
        return err("-1 is not allowed for a new leading dimension (entry " + std::to_string(i) + ")", "size");
      out[i] = in[i - lead];
      continue;
    }
    if (i < lead) continue;
    auto have = known(in[i - lead]);
    if (have && *have != 1 && v && *v != *have)
      return err("cannot expand an input of shape " + shape_str(in) + " to size " + std::to_string(*v) +
                     " in dimension " + std::to_string(i),
                 "size");
    if (have && *have != 1 && !v) out[i] = in[i - lead];
  }
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
    if (!drop[i])
      out.push_back((*in)[i]);
    else if (keep)
      out.push_back(std::int64_t{1});
  }
  return {out, {}, {}};
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
    if (k == 0)
      r.shape = s;
    else
      r.extra.push_back(s);
  }
  return r;
}

}  // namespace

std::vector<LayerType> ops() {
  std::vector<LayerType> t;
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
  auto op = [&](std::string name, std::string doc, std::vector<OptionSpec> opts, std::size_t min_in,
                std::size_t max_in) -> LayerType& {
    return add_op(t, std::move(name), std::move(doc), std::move(opts), min_in, max_in);
  };
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
  // Arithmetic: two (add, mul: or more) tensors, or one tensor and a number (`scalar`, mvc.arch/2;
  // `scalar_first` puts it on the left: 1 - x). Comparisons (mvc.arch/2) likewise, giving bool.
  auto scalar_arith = [](std::size_t max_tensors) {
    return [max_tensors](const Layer& l, const std::vector<std::optional<Shape>>& in) -> Inferred {
      if (l.has("scalar")) {
        if (in.size() != 1) return err("takes one input with 'scalar', got " + std::to_string(in.size()), "scalar");
        return {in[0], {}, {}};
      }
      if (l.has("scalar_first")) return err("scalar_first is only meaningful with 'scalar'", "scalar_first");
      if (in.size() < 2 || in.size() > max_tensors)
        return err("takes " + std::string(max_tensors == 2 ? "2" : "2 or more") +
                   " inputs (or one and 'scalar'), got " + std::to_string(in.size()));
      return broadcast(in);
    };
  };
  auto scalar_opts = [] {
    OptionSpec s = scalar_opt("scalar");
    s.since = 2;
    OptionSpec f = bool_opt("scalar_first", false);
    f.since = 2;
    return std::vector<OptionSpec>{s, f};
  };
  for (auto [name, doc, max_in] :
       {std::tuple{"add", "a + b (+ ...), broadcasting; or x + scalar", many},
        std::tuple{"mul", "a * b (* ...), broadcasting; or x * scalar", many},
        std::tuple{"sub", "a - b, broadcasting; or x - scalar, scalar - x", std::size_t{2}},
        std::tuple{"div", "a / b, broadcasting; or x / scalar, scalar / x", std::size_t{2}}}) {
    LayerType& lt = op(name, doc, scalar_opts(), 1, max_in);
    lt.output_n = scalar_arith(max_in);
  }
  for (const char* name : {"eq", "ne", "lt", "le", "gt", "ge"}) {
    LayerType& lt = op(name, std::string("torch.") + name + "(a, b), broadcasting, or with a number; gives bool",
                       scalar_opts(), 1, 2);
    lt.since = 2;
    lt.output_n = scalar_arith(2);
  }
  {
    OptionSpec value = scalar_opt("value");
    value.required = true;
    value.default_text.clear();
    LayerType& lt = op("masked_fill", "x.masked_fill(mask, value): value where mask is true", {value}, 2, 2);
    lt.since = 2;
    lt.output_n = [](const Layer&, const std::vector<std::optional<Shape>>& in) -> Inferred {
      Inferred b = broadcast(in);
      if (!b.error.empty() || !b.shape || !in[0]) return b.error.empty() ? Inferred{in[0], {}, {}} : b;
      if (b.shape->size() != in[0]->size())
        return err("the mask " + shape_str(*in[1]) + " has more dimensions than the input " + shape_str(*in[0]));
      return {in[0], {}, {}};
    };
  }
  {
    LayerType& lt = op("expand", "x.expand(size): -1 keeps a dimension; sizes may be read from other inputs",
                       {sizes_opt("size", -1)}, 1, many);
    lt.since = 2;
    lt.output_n = expand_out;
  }
  {
    LayerType& lt = op("unflatten", "x.unflatten(dim, sizes): one dimension becomes several",
                       {any_int("dim"), sizes_opt("sizes", -1)}, 1, many);
    lt.since = 2;
    lt.output_n = [](const Layer& l, const std::vector<std::optional<Shape>>& ins) -> Inferred {
      Inferred sizes = resolve_sizes(l, "sizes", ins);
      if (!sizes.error.empty()) return sizes;
      if (ins.empty() || !ins[0]) return {};
      const Shape& in = *ins[0];
      auto nd = norm_dim(l.int_opt("dim"), in.size());
      if (!nd) return bad_dim("dim", l.int_opt("dim"), in);
      Shape part = *sizes.shape;
      std::size_t infer = part.size();
      std::int64_t prod = 1;
      bool all = true;
      for (std::size_t i = 0; i < part.size(); ++i) {
        auto v = known(part[i]);
        if (v && *v == -1) {
          if (infer != part.size()) return err("only one of sizes can be -1", "sizes");
          infer = i;
        } else if (!v || __builtin_mul_overflow(prod, *v, &prod)) {
          all = false;
        }
      }
      auto have = known(in[*nd]);
      if (infer != part.size())
        part[infer] = all && have && prod > 0 && *have % prod == 0 ? Dim{*have / prod} : kUnknown;
      if (all && have &&
          ((infer == part.size() && prod != *have) || (infer != part.size() && (prod == 0 || *have % prod))))
        return err("sizes do not multiply to dimension " + std::to_string(*nd) + " of the input " + shape_str(in),
                   "sizes");
      Shape out(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(*nd));
      out.insert(out.end(), part.begin(), part.end());
      out.insert(out.end(), in.begin() + static_cast<std::ptrdiff_t>(*nd) + 1, in.end());
      return {out, {}, {}};
    };
  }
  {
    OptionSpec pad = int_opt("pad", std::nullopt);
    pad.kind = OptKind::int_or_list;
    LayerType& lt = op("pad", "F.pad(x, pad, mode, value): pad = [left, right, top, bottom, ...] from the last dim",
                       {pad, string_opt("mode", "constant", {"constant", "reflect", "replicate", "circular"}),
                        float_opt("value", "0.0")},
                       1, 1);
    lt.since = 2;
    lt.validate = [](const Layer& l) -> std::pair<std::string, std::string> {
      auto p = l.int_list_opt("pad");
      if (p.size() % 2 != 0 || p.size() > 16) return {"pad must have an even number of entries (at most 16)", "pad"};
      if (l.has("value") && l.str_opt("mode", "constant") != "constant")
        return {"value is only used with mode \"constant\"", "value"};
      return {};
    };
    lt.output = [](const Layer& l, const std::optional<Shape>& in) -> Inferred {
      if (!in) return {};
      auto p = l.int_list_opt("pad");
      if (p.size() / 2 > in->size())
        return err("pad has " + std::to_string(p.size()) + " entries for an input of shape " + shape_str(*in), "pad");
      Shape out = *in;
      for (std::size_t k = 0; k < p.size() / 2; ++k) {
        Dim& d = out[out.size() - 1 - k];
        auto v = known(d);
        if (!v) {
          d = kUnknown;
          continue;
        }
        std::int64_t n = *v + p[2 * k] + p[2 * k + 1];
        if (n < 0) return err("pad makes dimension " + std::to_string(out.size() - 1 - k) + " negative", "pad");
        d = n;
      }
      return {out, {}, {}};
    };
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
    lt.output_n = [stack](const Layer& l, const std::vector<std::optional<Shape>>& in) {
      return cat_out(l, in, stack);
    };
  }
  op("flatten", "torch.flatten(x, start_dim, end_dim)", {any_int("start_dim", "0"), any_int("end_dim", "-1")}, 1, 1)
      .output = [](const Layer& l, const std::optional<Shape>& in) { return flatten_out(l, in, 0); };
  for (const char* name : {"reshape", "view"})
    op(name, std::string("x.") + name + "(shape); one size may be -1, sizes may be read from other inputs",
       {sizes_opt("shape", -1)}, 1, many)
        .output_n = reshape_out;
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
    LayerType& lt =
        op("chunk", "torch.chunk(x, chunks, dim): `chunks` outputs", {int_opt("chunks", 1), any_int("dim", "0")}, 1, 1);
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
        return {
            "split_size_or_sections must be a list of section sizes (the number of outputs must be known "
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
      return err("index = " + std::to_string(i) + " is out of range for dim " + std::to_string(*nd) + " of size " +
                     std::to_string(*size),
                 "index");
    Shape out = *in;
    out.erase(out.begin() + static_cast<std::ptrdiff_t>(*nd));
    return {out, {}, {}};
  };
  op("slice", "x[start:end:step] along dim; end may be read from another input's size",
     {any_int("dim", "0"), any_int("start", "0"), size_opt("end"), int_opt("step", 1, "1")}, 1, many)
      .output_n = [](const Layer& l, const std::vector<std::optional<Shape>>& ins) -> Inferred {
    const std::optional<Shape>& in = ins.at(0);
    // end = "in1.size(1)": nanoGPT's bias[:, :, :T, :T] with T = x.size(1) (mvc.arch/2)
    std::optional<std::int64_t> end;
    bool end_known = true;
    if (l.has("end")) {
      Inferred e = resolve_sizes(l, "end", ins);
      if (!e.error.empty()) return e;
      end = known(e.shape->at(0));
      end_known = end.has_value();
    }
    if (!in) return {};
    auto nd = norm_dim(l.int_opt("dim", 0), in->size());
    if (!nd) return bad_dim("dim", l.int_opt("dim", 0), *in);
    Shape out = *in;
    auto size = known((*in)[*nd]);
    if (!size || !end_known) {
      out[*nd] = kUnknown;
      return {out, {}, {}};
    }
    auto clamp = [&](std::int64_t v) {
      if (v < 0) v += *size;
      return std::clamp<std::int64_t>(v, 0, *size);
    };
    std::int64_t s = clamp(l.int_opt("start", 0)), e = end ? clamp(*end) : *size;
    std::int64_t step = l.int_opt("step", 1);
    out[*nd] = e > s ? (e - s + step - 1) / step : 0;
    return {out, {}, {}};
  };
  op("unsqueeze", "x.unsqueeze(dim)", {any_int("dim")}, 1, 1).output = [](const Layer& l,
                                                                          const std::optional<Shape>& in) -> Inferred {
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
  op("arange", "torch.arange(x.size(dim)): the positions 0..n-1 along dim, as int64", {any_int("dim", "0")}, 1, 1)
      .output = [](const Layer& l, const std::optional<Shape>& in) -> Inferred {
    if (!in) return {Shape{kUnknown}, {}, {}};
    auto nd = norm_dim(l.int_opt("dim", 0), in->size());
    if (!nd) return bad_dim("dim", l.int_opt("dim", 0), *in);
    return {Shape{(*in)[*nd]}, {}, {}};
  };
  return t;
}

}  // namespace mvc::arch::detail::types
