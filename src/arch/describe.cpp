// The expanded architecture description as JSON (src/arch/describe.h, docs/python.md).
#include "arch/describe.h"

#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "arch/layer_types.h"
#include "mvc/error.h"

namespace mvc::arch {

namespace {

using detail::OptKind;
using nlohmann::ordered_json;

bool floating_kind(OptKind k) { return k == OptKind::floating || k == OptKind::optional_float; }

ordered_json to_json(const Value& v, bool as_float) {
  switch (v.kind) {
    case Value::Kind::boolean:
      return v.b;
    case Value::Kind::integer:
      return as_float ? ordered_json(static_cast<double>(v.i)) : ordered_json(v.i);
    case Value::Kind::floating:
      // JSON has no infinities nor NaN (TOML has: masked_fill's value = -inf): they are the
      // strings "inf", "-inf" and "nan" (docs/python.md).
      if (std::isnan(v.f)) return "nan";
      if (std::isinf(v.f)) return v.f > 0 ? "inf" : "-inf";
      return v.f;
    case Value::Kind::string:
      return v.s;
    case Value::Kind::array: {
      ordered_json a = ordered_json::array();
      for (const auto& x : v.items) a.push_back(to_json(x, as_float));
      return a;
    }
  }
  return nullptr;
}

/// PyTorch's default as the type table documents it (OptionSpec::default_text): a literal
/// ("1", "1e-05", "true", "\"zeros\"", "None") or the name of another option of the same
/// layer ("kernel_size": MaxPool2d's stride). nullopt when the text is none of these.
std::optional<ordered_json> default_value(const detail::LayerType& t, const detail::OptionSpec& o, const Layer* l,
                                          int depth = 0) {
  const std::string& d = o.default_text;
  if (d.empty()) return std::nullopt;
  if (d == "None") return ordered_json(nullptr);
  if (d == "true") return ordered_json(true);
  if (d == "false") return ordered_json(false);
  if (d.size() >= 2 && d.front() == '"' && d.back() == '"') return ordered_json(d.substr(1, d.size() - 2));
  char* end = nullptr;
  long long i = std::strtoll(d.c_str(), &end, 10);
  if (end && *end == '\0') return floating_kind(o.kind) ? ordered_json(static_cast<double>(i)) : ordered_json(i);
  double f = std::strtod(d.c_str(), &end);
  if (end && *end == '\0') return ordered_json(f);
  if (const detail::OptionSpec* other = t.option(d); other && depth == 0) {
    if (!l) return ordered_json(nullptr);  // only checking that the text names an option
    auto it = l->options.find(d);
    if (it != l->options.end()) return to_json(it->second, floating_kind(other->kind));
    return default_value(t, *other, l, depth + 1);
  }
  return std::nullopt;
}

}  // namespace

std::vector<std::string> unresolved_defaults() {
  std::vector<std::string> r;
  for (const auto& t : detail::layer_types())
    for (const auto& o : t.options)
      if (!o.default_text.empty() && !default_value(t, o, nullptr)) r.push_back(t.name + "." + o.name);
  return r;
}

std::string describe_json(const Architecture& a) {
  auto state = expected_state_dict(a);  // validates every layer; module registration order
  ordered_json j;
  j["schema"] = kExpandedSchema;
  j["format"] = a.format;
  j["name"] = a.name;
  j["dtype"] = a.dtype;
  j["inputs"] = ordered_json::array();
  for (const auto& in : a.inputs) {
    ordered_json shape = ordered_json::array();
    for (const auto& d : in.shape) {
      if (auto* n = std::get_if<std::int64_t>(&d))
        shape.push_back(*n);
      else
        shape.push_back(std::get<std::string>(d));
    }
    j["inputs"].push_back({{"name", in.name}, {"shape", shape}, {"dtype", in.dtype}});
  }
  j["outputs"] = ordered_json::array();
  for (const auto& o : a.outputs) j["outputs"].push_back({{"name", o.name}, {"ref", o.ref}});

  j["layers"] = ordered_json::array();
  for (const auto& l : a.layers) {
    const detail::LayerType* t = detail::find_layer_type(l.type);
    if (!t) throw Error(Exit::model, l.pos.str() + ": unknown layer type '" + l.type + "'");
    ordered_json opts = ordered_json::object();
    for (const auto& o : t->options) {
      auto it = l.options.find(o.name);
      if (it != l.options.end()) {
        opts[o.name] = to_json(it->second, floating_kind(o.kind));
      } else if (auto v = default_value(*t, o, &l)) {
        opts[o.name] = *v;
      } else {
        throw Error(Exit::failure, "internal error: layer type " + t->name + ": option '" + o.name +
                                       "' has no value and a default '" + o.default_text + "' that is not one");
      }
    }
    ordered_json inputs = ordered_json::array();
    for (const auto& in : l.inputs) inputs.push_back(in);
    if (l.inputs.empty() && !a.inputs.empty() && t->max_inputs > 0 && l.run) inputs.push_back(a.inputs[0].name);
    ordered_json tensors = ordered_json::array();
    if (!t->is_op && l.shares.empty()) {
      for (const auto& ts : t->tensors(l))
        tensors.push_back({{"key", detail::tensor_key(l, ts)},
                           {"shape", ts.shape},
                           {"dtype", detail::tensor_dtype(ts, a.dtype)},
                           {"buffer", ts.is_buffer}});
    }
    j["layers"].push_back({{"name", l.name},
                           {"type", l.type},
                           {"family", t->family},
                           {"module", !t->is_op && l.shares.empty()},
                           {"options", opts},
                           {"written",
                            [&] {
                              ordered_json w = ordered_json::array();
                              for (const auto& [k, v] : l.options) w.push_back(k);
                              return w;
                            }()},
                           {"inputs", inputs},
                           {"num_outputs", t->num_outputs ? t->num_outputs(l) : 1},
                           {"state", tensors},
                           {"source", l.pos.str()}});
    // mvc.arch/2 (absent otherwise, so mvc.arch/1 descriptions stay as they were)
    if (!l.run) j["layers"].back()["run"] = false;
    if (!l.shares.empty()) j["layers"].back()["shares"] = l.shares;
  }
  j["ties"] = ordered_json::array();
  for (const auto& t : a.ties) j["ties"].push_back({{"key", t.key}, {"source", t.source}});
  j["state_dict"] = ordered_json::array();
  for (const auto& e : state)
    j["state_dict"].push_back({{"key", e.key}, {"shape", e.shape}, {"dtype", e.dtype}, {"buffer", e.is_buffer}});
  return j.dump();
}

}  // namespace mvc::arch
