// Helpers shared by the layer families of src/arch/types/: option specs, the dimension helpers
// and PyTorch's convolution and pooling shape formulas. Torch-free.
#include <limits>

#include "arch/types/family.h"

namespace mvc::arch::detail::types {

OptionSpec int_opt(std::string name, std::optional<std::int64_t> min, std::string def) {
  OptionSpec o;
  o.name = std::move(name);
  o.kind = OptKind::integer;
  o.required = def.empty();
  o.default_text = std::move(def);
  o.min = min;
  return o;
}
OptionSpec tuple_opt(std::string name, std::size_t n, std::int64_t min, std::string def) {
  OptionSpec o = int_opt(std::move(name), min, std::move(def));
  o.kind = OptKind::int_or_tuple;
  o.tuple_size = n;
  return o;
}
OptionSpec float_opt(std::string name, std::string def, std::optional<double> fmin, std::optional<double> fmax) {
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
OptionSpec any_int(std::string name, std::string def) { return int_opt(std::move(name), std::nullopt, std::move(def)); }

OptionSpec sizes_opt(std::string name, std::int64_t min, std::string def) {
  OptionSpec o = int_opt(std::move(name), min, std::move(def));
  o.kind = OptKind::sizes;
  return o;
}
OptionSpec size_opt(std::string name) {
  OptionSpec o = int_opt(std::move(name), std::nullopt, "None");
  o.kind = OptKind::size;
  return o;
}
OptionSpec scalar_opt(std::string name) {
  OptionSpec o;
  o.name = std::move(name);
  o.kind = OptKind::scalar;
  o.default_text = "None";
  return o;
}

Inferred resolve_sizes(const Layer& l, const std::string& key, const std::vector<std::optional<Shape>>& in) {
  Shape out;
  for (const auto& e : size_list(l, key)) {
    if (!e.ref) {
      out.emplace_back(std::in_place_type<std::int64_t>, e.value);
      continue;
    }
    auto [k, d] = *e.ref;
    std::string ref = "in" + std::to_string(k) + ".size(" + std::to_string(d) + ")";
    if (k >= in.size())
      return err(key + " reads " + ref + " but the layer has " + std::to_string(in.size()) + " input" +
                     (in.size() == 1 ? "" : "s") + " (in0 is the first)",
                 key);
    if (!in[k]) {
      out.push_back(kUnknown);
      continue;
    }
    auto nd = norm_dim(d, in[k]->size());
    if (!nd)
      return err(key + " reads " + ref + " but input " + std::to_string(k) + " has shape " + shape_str(*in[k]), key);
    out.push_back((*in[k])[*nd]);
  }
  return {out, {}, {}};
}

std::optional<std::int64_t> known(const Dim& d) {
  if (auto* i = std::get_if<std::int64_t>(&d)) return *i;
  return std::nullopt;
}
const Dim kUnknown = std::string("?");

Inferred same_shape(const Layer&, const std::optional<Shape>& in) { return {in, {}, {}}; }

Inferred err(std::string what, std::string option) { return {std::nullopt, std::move(what), std::move(option)}; }

std::pair<std::string, std::string> no_check(const Layer&) { return {}; }

Tensors no_tensors(const Layer&) { return {}; }

std::optional<std::size_t> norm_dim(std::int64_t d, std::size_t rank) {
  auto r = static_cast<std::int64_t>(rank);
  if (d < -r || d >= r) return std::nullopt;
  return static_cast<std::size_t>(d < 0 ? d + r : d);
}

Inferred bad_dim(const std::string& opt, std::int64_t d, const Shape& in) {
  return err(opt + " = " + std::to_string(d) + " is out of range for input shape " + shape_str(in), opt);
}

// --- convolution and pooling shapes ---------------------------------------------------------

bool is_same_padding(const Layer& l) {
  auto it = l.options.find("padding");
  return it != l.options.end() && it->second.kind == Value::Kind::string && it->second.s == "same";
}

namespace {

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

Ints conv_padding(const Layer& l, std::size_t nd = 2) {
  auto it = l.options.find("padding");
  if (it != l.options.end() && it->second.kind == Value::Kind::string) return Ints(nd, 0);  // "valid" ("same" apart)
  return l.ints_opt("padding", nd, 0);
}

}  // namespace

Inferred spatial_out(const Layer& l, const std::optional<Shape>& in, bool pool, std::size_t nd, bool transposed,
                     bool avg) {
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

namespace {

/// A type with no tensors whose output has its input's shape: the base of operations and of
/// parameter-free modules.
LayerType& add_tensorless(std::vector<LayerType>& t, std::string name, std::string doc, std::vector<OptionSpec> opts) {
  LayerType lt;
  lt.name = std::move(name);
  lt.doc = std::move(doc);
  lt.options = std::move(opts);
  lt.validate = no_check;
  lt.tensors = no_tensors;
  lt.output = same_shape;
  t.push_back(std::move(lt));
  return t.back();
}

}  // namespace

LayerType& add_op(std::vector<LayerType>& t, std::string name, std::string doc, std::vector<OptionSpec> opts,
                  std::size_t min_in, std::size_t max_in) {
  LayerType& lt = add_tensorless(t, std::move(name), std::move(doc), std::move(opts));
  lt.arity = min_in;
  lt.max_inputs = max_in;
  lt.is_op = true;
  return lt;
}

void add_shape_preserving(std::vector<LayerType>& t, std::string name, std::string doc, std::vector<OptionSpec> opts) {
  add_tensorless(t, std::move(name), std::move(doc), std::move(opts));
}

}  // namespace mvc::arch::detail::types
