// The module-type table: the union of the layer families of src/arch/types/ (one file per family,
// mirrored by src/model/build/), and the checks shared by every type. Options, defaults and
// output-shape formulas follow PyTorch's documentation of torch.nn (1.13, the version Debian
// ships).
#include "arch/layer_types.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "arch/types/family.h"
#include "mvc/error.h"

namespace mvc::arch::detail {

namespace {

/// The families, by name (the name of their files in src/arch/types/ and src/model/build/).
struct Family {
  const char* name;
  std::vector<LayerType> (*types)();
};
const Family kFamilies[] = {
    {"linear", types::linear},
    {"conv", types::conv},
    {"norm", types::norm},
    {"pool", types::pool},
    {"recurrent", types::recurrent},
    {"attention", types::attention},
    {"activation", types::activation},
    {"ops", types::ops},
    {"params", types::params},
};

std::vector<LayerType> make_table() {
  std::vector<LayerType> t;
  for (const auto& f : kFamilies) {
    for (auto& lt : f.types()) {
      lt.family = f.name;
      t.push_back(std::move(lt));
    }
  }
  std::sort(t.begin(), t.end(), [](const LayerType& a, const LayerType& b) { return a.name < b.name; });
  for (std::size_t i = 1; i < t.size(); ++i) {
    if (t[i].name == t[i - 1].name)
      throw Error(Exit::failure, "internal error: layer type '" + t[i].name + "' is defined by two families (" +
                                     t[i - 1].family + ", " + t[i].family + ")");
  }
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
  if (best && best_d > 0 && best_d < word.size() &&
      best_d <= std::max<std::size_t>(1, std::min(word.size(), best->size()) / 3))
    return best;
  return std::nullopt;
}

std::uint64_t numel(const std::vector<std::int64_t>& shape) {
  std::uint64_t n = 1;
  for (auto d : shape) n *= static_cast<std::uint64_t>(d);
  return n;
}

std::string check_option(const OptionSpec& spec, const Value& v) {
  using K = Value::Kind;
  auto int_ok = [&](const Value& x) { return x.kind == K::integer && (!spec.min || x.i >= *spec.min); };
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
      std::string what =
          "must be an integer" + bound + " or a list of " + std::to_string(spec.tuple_size) + " integers" + bound;
      if (spec.kind == OptKind::padding) what += ", or one of " + choices;
      return what;
    }
    case OptKind::scalar:
      if (v.kind == K::integer || v.kind == K::floating) return {};
      return "must be a number";
    case OptKind::sizes: {
      auto entry_ok = [&](const Value& x) {
        return int_ok(x) || (x.kind == K::string && parse_size_ref(x.s) && parse_size_ref(x.s)->first >= 1);
      };
      if (int_ok(v)) return {};
      if (v.kind == K::array && !v.items.empty() && std::all_of(v.items.begin(), v.items.end(), entry_ok)) return {};
      return "must be a non-empty list of sizes: integers" + bound +
             " or \"in<k>.size(<d>)\" (dimension d of input k >= 1)";
    }
    case OptKind::size:
      if (int_ok(v) || (v.kind == K::string && parse_size_ref(v.s) && parse_size_ref(v.s)->first >= 1)) return {};
      return "must be an integer" + bound + " or \"in<k>.size(<d>)\" (dimension d of input k >= 1)";
    case OptKind::int_or_list:
      if (int_ok(v)) return {};
      if (v.kind == K::array && !v.items.empty() && std::all_of(v.items.begin(), v.items.end(), int_ok)) return {};
      return "must be an integer" + bound + " or a non-empty list of integers" + bound;
  }
  return {};
}

std::optional<std::pair<std::size_t, std::int64_t>> parse_size_ref(const std::string& s) {
  // in<k>.size(<d>), k and d decimal, d may be negative.
  if (s.size() > 32 || s.rfind("in", 0) != 0 || s.back() != ')') return std::nullopt;
  auto dot = s.find(".size(");
  if (dot == std::string::npos || dot == 2) return std::nullopt;
  std::string k = s.substr(2, dot - 2), d = s.substr(dot + 6, s.size() - dot - 7);
  if (k.size() > 6 || k.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  std::string digits = !d.empty() && d[0] == '-' ? d.substr(1) : d;
  if (digits.empty() || digits.size() > 6 || digits.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return std::pair<std::size_t, std::int64_t>{std::stoul(k), std::stoll(d)};
}

std::vector<SizeEntry> size_list(const Layer& l, const std::string& key) {
  auto it = l.options.find(key);
  if (it == l.options.end()) return {};
  std::vector<Value> items = it->second.kind == Value::Kind::array ? it->second.items : std::vector<Value>{it->second};
  std::vector<SizeEntry> r;
  for (const auto& x : items) {
    SizeEntry e;
    if (x.kind == Value::Kind::string)
      e.ref = parse_size_ref(x.s);
    else
      e.value = x.i;
    r.push_back(e);
  }
  return r;
}

std::string tensor_key(const Layer& l, const TensorSpec& t) { return t.is_layer ? l.name : l.name + "." + t.name; }

std::string tensor_dtype(const TensorSpec& t, const std::string& arch_dtype) {
  if (!t.dtype.empty()) return t.dtype;
  return t.is_int64 ? "int64" : arch_dtype;
}

std::string format2_construct(const Layer& l, const LayerType& t) {
  if (t.since > 1) return "layer type '" + t.name + "'";
  for (const auto& o : t.options) {
    auto it = l.options.find(o.name);
    if (it == l.options.end()) continue;
    if (o.since > 1) return "option '" + o.name + "' of " + t.name;
    if (o.kind == OptKind::size && it->second.kind == Value::Kind::string)
      return "a size read from an input (" + it->second.s + ") in '" + o.name + "'";
    if (o.kind == OptKind::sizes && it->second.kind == Value::Kind::array)
      for (const auto& x : it->second.items)
        if (x.kind == Value::Kind::string) return "a size read from an input (" + x.s + ") in '" + o.name + "'";
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
    {"float64", "float64", true},   {"float32", "float32", true}, {"float16", "float16", true},
    {"bfloat16", "bfloat16", true}, {"int64", "int64", false},    {"int32", "int32", false},
    {"int16", "int16", false},      {"int8", "int8", false},      {"uint8", "uint8", false},
    {"bool", "bool", false},        {"double", "float64", true},  {"float", "float32", true},
    {"half", "float16", true},      {"long", "int64", false},     {"int", "int32", false},
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
