// The torch-free description of a model: option accessors, expected state_dict, shape
// propagation and summaries. Parsing (the only part that sees TOML) is in parse.cpp.
#include "arch/arch.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <set>

#include "arch/layer_types.h"
#include "mvc/error.h"
#include "util/fs.h"

namespace mvc::arch {

using detail::fail;

std::string SourcePos::str() const {
  if (line == 0) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

std::string Value::type_name() const {
  switch (kind) {
    case Kind::boolean:
      return "boolean";
    case Kind::integer:
      return "integer";
    case Kind::floating:
      return "float";
    case Kind::string:
      return "string";
    case Kind::array:
      return "array";
  }
  return "?";
}

std::string shape_str(const Shape& s) {
  std::string r = "[";
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i) r += ", ";
    if (auto* n = std::get_if<std::int64_t>(&s[i]))
      r += std::to_string(*n);
    else
      r += std::get<std::string>(s[i]);
  }
  return r + "]";
}

// --- option accessors -------------------------------------------------------------------------

namespace {

const Value* find(const Layer& l, const std::string& key) {
  auto it = l.options.find(key);
  return it == l.options.end() ? nullptr : &it->second;
}

[[noreturn]] void missing(const Layer& l, const std::string& key) {
  fail(l.pos, detail::layer_label(l) + ": option '" + key + "' is required");
}

[[noreturn]] void wrong(const Layer& l, const std::string& key, const Value& v, const std::string& expected) {
  fail(v.pos.line ? v.pos : l.pos,
       detail::layer_label(l) + ": option '" + key + "' must be " + expected + ", got " + detail::describe(v));
}

std::int64_t get_int(const Layer& l, const std::string& key, const Value& v) {
  if (v.kind != Value::Kind::integer) wrong(l, key, v, "an integer");
  return v.i;
}

std::vector<std::int64_t> get_ints(const Layer& l, const std::string& key, const Value& v, std::size_t n) {
  std::string expected = "an integer or a list of " + std::to_string(n) + " integers";
  if (v.kind == Value::Kind::integer) return std::vector<std::int64_t>(n, v.i);
  if (v.kind != Value::Kind::array || v.items.size() != n) wrong(l, key, v, expected);
  std::vector<std::int64_t> r;
  for (const auto& x : v.items) {
    if (x.kind != Value::Kind::integer) wrong(l, key, v, expected);
    r.push_back(x.i);
  }
  return r;
}

}  // namespace

std::int64_t Layer::int_opt(const std::string& key) const {
  const Value* v = find(*this, key);
  if (!v) missing(*this, key);
  return get_int(*this, key, *v);
}

std::int64_t Layer::int_opt(const std::string& key, std::int64_t def) const {
  const Value* v = find(*this, key);
  return v ? get_int(*this, key, *v) : def;
}

double Layer::float_opt(const std::string& key, double def) const {
  const Value* v = find(*this, key);
  if (!v) return def;
  if (v->kind == Value::Kind::integer) return static_cast<double>(v->i);
  if (v->kind != Value::Kind::floating) wrong(*this, key, *v, "a number");
  return v->f;
}

bool Layer::bool_opt(const std::string& key, bool def) const {
  const Value* v = find(*this, key);
  if (!v) return def;
  if (v->kind != Value::Kind::boolean) wrong(*this, key, *v, "true or false");
  return v->b;
}

std::string Layer::str_opt(const std::string& key, const std::string& def) const {
  const Value* v = find(*this, key);
  if (!v) return def;
  if (v->kind != Value::Kind::string) wrong(*this, key, *v, "a string");
  return v->s;
}

std::vector<std::int64_t> Layer::ints_opt(const std::string& key, std::size_t n) const {
  const Value* v = find(*this, key);
  if (!v) missing(*this, key);
  return get_ints(*this, key, *v, n);
}

std::vector<std::int64_t> Layer::ints_opt(const std::string& key, std::size_t n, std::int64_t def) const {
  const Value* v = find(*this, key);
  if (!v) return std::vector<std::int64_t>(n, def);
  return get_ints(*this, key, *v, n);
}

std::vector<std::int64_t> Layer::int_list_opt(const std::string& key) const {
  const Value* v = find(*this, key);
  if (!v) missing(*this, key);
  if (v->kind == Value::Kind::integer) return {v->i};
  std::string expected = "an integer or a list of integers";
  if (v->kind != Value::Kind::array) wrong(*this, key, *v, expected);
  std::vector<std::int64_t> r;
  for (const auto& x : v->items) {
    if (x.kind != Value::Kind::integer) wrong(*this, key, *v, expected);
    r.push_back(x.i);
  }
  return r;
}

// --- helpers shared with parse.cpp -------------------------------------------------------------

namespace detail {

void fail(const SourcePos& pos, const std::string& what) {
  std::string msg = pos.str() + ": " + what;
  for (char& c : msg)
    if (c == '\n' || c == '\r') c = ' ';
  throw Error(Exit::model, msg);
}

std::string layer_label(const Layer& l) { return "layer '" + l.name + "' (" + l.type + ")"; }

std::string value_text(const Value& v) {
  switch (v.kind) {
    case Value::Kind::boolean:
      return v.b ? "true" : "false";
    case Value::Kind::integer:
      return std::to_string(v.i);
    case Value::Kind::floating: {
      if (std::isnan(v.f)) return "nan";
      if (std::isinf(v.f)) return v.f < 0 ? "-inf" : "inf";
      char buf[64];
      auto r = std::to_chars(buf, buf + sizeof buf, v.f);
      std::string s(buf, r.ptr);
      if (s.find_first_of(".e") == std::string::npos) s += ".0";
      return s;
    }
    case Value::Kind::string:
      return "\"" + v.s + "\"";
    case Value::Kind::array: {
      std::string s = "[";
      for (std::size_t i = 0; i < v.items.size(); ++i) s += (i ? ", " : "") + value_text(v.items[i]);
      return s + "]";
    }
  }
  return "?";
}

std::string describe(const Value& v) { return v.type_name() + " " + value_text(v); }

void validate_layer(const Layer& l, const LayerType& t, const std::map<std::string, std::string>* origins) {
  for (const auto& [key, v] : l.options) {
    const OptionSpec* spec = t.option(key);
    if (!spec) {
      std::string msg = layer_label(l) + ": unknown option '" + key + "' (valid: " + t.option_names() + ")";
      std::vector<std::string> names;
      for (const auto& o : t.options) names.push_back(o.name);
      if (auto s = suggest(key, names)) msg += "; did you mean '" + *s + "'?";
      fail(v.pos.line ? v.pos : l.pos, msg);
    }
    std::string problem = check_option(*spec, v);
    if (!problem.empty()) {
      std::string msg = layer_label(l) + ": option '" + key + "' " + problem + ", got " + describe(v);
      if (origins) {
        auto it = origins->find(key);
        if (it != origins->end()) msg += " (from " + it->second + ")";
      }
      fail(v.pos.line ? v.pos : l.pos, msg);
    }
  }
  for (const auto& o : t.options)
    if (o.required && !l.has(o.name))
      fail(
          l.pos, layer_label(l) + ": missing required option '" + o.name + "' (" + t.name + " needs: " + [&] {
            std::vector<std::string> req;
            for (const auto& x : t.options)
              if (x.required) req.push_back(x.name);
            return join(req);
          }() + ")");
  auto [problem, option] = t.validate(l);
  if (!problem.empty()) {
    const Value* v = option.empty() ? nullptr : find(l, option);
    fail(v && v->pos.line ? v->pos : l.pos, layer_label(l) + ": " + problem);
  }
}

std::vector<std::optional<Shape>> propagate_shapes(const Architecture& a, bool strict) {
  std::map<std::string, std::optional<Shape>> nodes;
  for (const auto& in : a.inputs) nodes[in.name] = in.shape;
  std::vector<std::optional<Shape>> out;
  for (std::size_t i = 0; i < a.layers.size(); ++i) {
    const Layer& l = a.layers[i];
    const LayerType* t = find_layer_type(l.type);
    std::vector<std::optional<Shape>> ins;
    for (const auto& r : l.inputs) {
      auto it = nodes.find(r);
      ins.push_back(it == nodes.end() ? std::nullopt : it->second);
    }
    if (t && strict && !l.inputs.empty() && (l.inputs.size() < t->arity || l.inputs.size() > t->max_inputs)) {
      std::string n = t->arity == t->max_inputs   ? std::to_string(t->arity)
                      : t->max_inputs == SIZE_MAX ? "at least " + std::to_string(t->arity)
                                                  : std::to_string(t->arity) + " to " + std::to_string(t->max_inputs);
      fail(l.pos, layer_label(l) + ": takes " + n + " input" + (t->max_inputs == 1 ? "" : "s") + ", got " +
                      std::to_string(l.inputs.size()) + " (inputs = [" + join(l.inputs) + "])");
    }
    std::optional<Shape> result;
    std::vector<std::optional<Shape>> extra;
    if (t) {
      Inferred r;
      if (t->output_n)
        r = t->output_n(l, ins);
      else
        r = t->output(l, ins.size() == 1 ? ins[0] : std::nullopt);
      if (!r.error.empty()) {
        if (strict) {
          const Value* v = r.option.empty() ? nullptr : find(l, r.option);
          fail(v && v->pos.line ? v->pos : l.pos, layer_label(l) + ": " + r.error);
        }
      } else {
        result = r.shape;
        extra = r.extra;
      }
    }
    out.push_back(result);
    std::size_t n_out = t && t->num_outputs ? t->num_outputs(l) : 1;
    if (n_out == 1) {
      nodes[l.name] = result;
    } else {
      for (std::size_t k = 0; k < n_out; ++k)
        nodes[l.name + "[" + std::to_string(k) + "]"] = k == 0                 ? result
                                                        : k - 1 < extra.size() ? extra[k - 1]
                                                                               : std::nullopt;
    }
  }
  return out;
}

}  // namespace detail

// --- derived descriptions --------------------------------------------------------------------

namespace {

const detail::LayerType& type_of(const Layer& l) {
  const detail::LayerType* t = detail::find_layer_type(l.type);
  if (!t) {
    std::string msg = "unknown layer type '" + l.type + "' (known: " + detail::join(known_layer_types()) + ")";
    if (auto s = detail::suggest(l.type, known_layer_types())) msg += "; did you mean '" + *s + "'?";
    fail(l.pos, msg);
  }
  return *t;
}

}  // namespace

const std::vector<std::string>& known_layer_types() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& t : detail::layer_types()) n.push_back(t.name);
    std::sort(n.begin(), n.end());
    return n;
  }();
  return names;
}

std::pair<std::string, std::size_t> split_ref(const std::string& ref) {
  if (!ref.empty() && ref.back() == ']') {
    auto open = ref.rfind('[');
    if (open != std::string::npos && open > 0) {
      std::string digits = ref.substr(open + 1, ref.size() - open - 2);
      if (!digits.empty() && digits.size() <= 6 && digits.find_first_not_of("0123456789") == std::string::npos)
        return {ref.substr(0, open), std::stoul(digits)};
    }
  }
  return {ref, 0};
}

std::vector<ExpectedTensor> expected_state_dict(const Architecture& a) {
  // PyTorch orders a state_dict by the module tree: a module's own tensors, then its children
  // in registration order. Layers are registered in the order written, creating the
  // containers of a dotted path ("layer1", "layer1.0") when first seen; the sort key of a layer
  // is the first-seen rank of each prefix of its path.
  // A free Parameter or Buffer (TensorSpec::is_layer) is a tensor of its parent module, not a
  // module: it sorts before the parent's children, parameters before buffers, as
  // state_dict() lists a module's own _parameters, then its _buffers, then its children.
  std::map<std::string, std::size_t> rank;
  std::vector<std::pair<std::vector<std::pair<int, std::size_t>>, std::size_t>> order;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < a.layers.size(); ++i) {
    const Layer& l = a.layers[i];
    const auto& t = type_of(l);
    detail::validate_layer(l, t);
    if (!seen.insert(l.name).second) fail(l.pos, "duplicate layer name '" + l.name + "'");
    if (t.is_op || !l.shares.empty()) continue;  // a shared call's tensors are its source's
    auto specs = t.tensors(l);
    const bool free_tensor = !specs.empty() && specs[0].is_layer;
    std::vector<std::pair<int, std::size_t>> key;
    std::size_t start = 0;
    for (;;) {
      auto dot = l.name.find('.', start);
      if (dot == std::string::npos && free_tensor) {
        key.emplace_back(specs[0].is_buffer ? 1 : 0, i);
        break;
      }
      std::string prefix = l.name.substr(0, dot);
      auto it = rank.emplace(prefix, rank.size()).first;
      key.emplace_back(2, it->second);
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    order.emplace_back(std::move(key), i);
  }
  // A module's own tensors come before its children's: a shorter key that is a prefix sorts first.
  std::stable_sort(order.begin(), order.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<ExpectedTensor> r;
  std::set<std::string> tied;
  for (const auto& t : a.ties) tied.insert(t.key);
  for (const auto& [key, i] : order) {
    const Layer& l = a.layers[i];
    for (auto& ts : type_of(l).tensors(l)) {
      std::string k = detail::tensor_key(l, ts);
      if (!tied.count(k)) r.push_back({k, ts.shape, detail::tensor_dtype(ts, a.dtype), ts.is_buffer});
    }
  }
  return r;
}

std::vector<LayerSummary> summarize(const Architecture& a) {
  std::vector<LayerSummary> r;
  for (const auto& l : a.layers) {
    const auto& t = type_of(l);
    detail::validate_layer(l, t);
  }
  auto shapes = detail::propagate_shapes(a, false);
  std::set<std::string> tied;  // counted once, with their source (as PyTorch's parameters() does)
  for (const auto& t : a.ties) tied.insert(t.key);
  for (std::size_t i = 0; i < a.layers.size(); ++i) {
    const Layer& l = a.layers[i];
    LayerSummary s;
    s.name = l.name;
    s.type = l.type;
    s.output_shape = shapes[i] ? shape_str(*shapes[i]) : "?";
    if (l.shares.empty())
      for (const auto& ts : type_of(l).tensors(l))
        if (!ts.is_buffer && !tied.count(detail::tensor_key(l, ts))) s.parameters += detail::numel(ts.shape);
    r.push_back(std::move(s));
  }
  return r;
}

Architecture load_architecture(const std::filesystem::path& model_dir) {
  const auto arch_path = model_dir / "arch.toml";
  const auto hp_path = model_dir / "hparams.toml";
  std::string arch_text = util::read_file(arch_path);
  std::string hp_text;
  std::error_code ec;
  if (std::filesystem::exists(hp_path, ec)) hp_text = util::read_file(hp_path);
  return parse_architecture(arch_text, arch_path.string(), hp_text, hp_path.string());
}

}  // namespace mvc::arch
