#include "core/toml_view.h"

#include <toml++/toml.h>
#include <algorithm>
#include <charconv>
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

void walk(const toml::table& t, const std::string& prefix, std::vector<std::pair<std::string, std::string>>& out) {
  // toml::table iterates in key order; list in file order instead.
  std::vector<std::pair<const toml::key*, const toml::node*>> items;
  for (auto&& [k, v] : t) items.emplace_back(&k, &v);
  std::stable_sort(items.begin(), items.end(), [](auto& a, auto& b) {
    auto pa = a.first->source().begin, pb = b.first->source().begin;
    return pa.line != pb.line ? pa.line < pb.line : pa.column < pb.column;
  });
  for (auto& [kp, vp] : items) {
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

}  // namespace

std::vector<std::pair<std::string, std::string>> flatten_toml(const std::string& text, const std::string& name) {
  toml::table t = parse_toml(text, name, Exit::model);
  std::vector<std::pair<std::string, std::string>> out;
  walk(t, "", out);
  return out;
}

}  // namespace mvc::core
