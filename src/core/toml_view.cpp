#include "core/toml_view.h"

#include <toml++/toml.h>
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/toml_parse.h"
#include "mvc/error.h"

namespace mvc::core {

namespace {

// Floats in their shortest round-trip form (0.05, not 0.050000000000000003).
std::string format_value(const toml::node& v) {
  if (auto d = v.value_exact<double>()) {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, *d);
    std::string s(buf, r.ptr);
    if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
    return s;
  }
  if (auto str = v.value_exact<std::string>()) return "\"" + *str + "\"";
  std::ostringstream o;
  v.visit([&](auto&& node) { o << node; });
  return o.str();
}

/// A table's entries in file order (toml::table iterates in key order).
std::vector<std::pair<const toml::key*, const toml::node*>> in_file_order(const toml::table& t) {
  std::vector<std::pair<const toml::key*, const toml::node*>> items;
  for (auto&& [k, v] : t) items.emplace_back(&k, &v);
  std::stable_sort(items.begin(), items.end(), [](auto& a, auto& b) {
    auto pa = a.first->source().begin, pb = b.first->source().begin;
    return pa.line != pb.line ? pa.line < pb.line : pa.column < pb.column;
  });
  return items;
}

void walk(const toml::table& t, const std::string& prefix, std::vector<std::pair<std::string, std::string>>& out) {
  for (auto& [kp, vp] : in_file_order(t)) {
    const toml::key& k = *kp;
    const toml::node& v = *vp;
    std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (auto* sub = v.as_table()) {
      walk(*sub, key, out);
    } else {
      out.emplace_back(key, format_value(v));
    }
  }
}

nlohmann::ordered_json json_of(const toml::node& v) {
  if (auto* t = v.as_table()) {
    nlohmann::ordered_json o = nlohmann::ordered_json::object();
    for (auto& [k, sub] : in_file_order(*t)) o[std::string(k->str())] = json_of(*sub);
    return o;
  }
  if (auto* a = v.as_array()) {
    nlohmann::ordered_json o = nlohmann::ordered_json::array();
    for (auto& e : *a) o.push_back(json_of(e));
    return o;
  }
  if (auto i = v.value_exact<std::int64_t>()) return *i;
  if (auto d = v.value_exact<double>()) return std::isfinite(*d) ? nlohmann::ordered_json(*d) : nullptr;
  if (auto b = v.value_exact<bool>()) return *b;
  if (auto s = v.value_exact<std::string>()) return *s;
  std::ostringstream o;  // dates and times
  v.visit([&](auto&& node) { o << node; });
  return o.str();
}

}  // namespace

nlohmann::ordered_json toml_values(const std::string& text, const std::string& name) {
  return json_of(parse_toml(text, name, Exit::model));
}

std::vector<std::pair<std::string, std::string>> flatten_toml(const std::string& text, const std::string& name) {
  toml::table t = parse_toml(text, name, Exit::model);
  std::vector<std::pair<std::string, std::string>> out;
  walk(t, "", out);
  return out;
}

}  // namespace mvc::core
