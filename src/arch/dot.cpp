#include "arch/dot.h"

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "arch/describe.h"
#include "util/text.h"

namespace mvc::arch {

namespace {

/// A DOT double-quoted string: one printable line, quotes and backslashes escaped.
std::string dot_string(const std::string& s) {
  std::string out = "\"";
  for (char c : util::printable(s)) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

/// A label of several lines (DOT's "\n" between them).
std::string label(const std::vector<std::string>& lines) {
  std::string out = "\"";
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i) out += "\\n";
    std::string q = dot_string(lines[i]);
    out += q.substr(1, q.size() - 2);
  }
  return out + "\"";
}

/// "lstm[1]" → ("lstm", "1"); "fc" → ("fc", "").
std::pair<std::string, std::string> split_index(const std::string& ref) {
  auto b = ref.rfind('[');
  if (b == std::string::npos || ref.back() != ']') return {ref, ""};
  return {ref.substr(0, b), ref.substr(b + 1, ref.size() - b - 2)};
}

}  // namespace

std::string architecture_dot(const Architecture& a, bool svg_marks) {
  nlohmann::json d = nlohmann::json::parse(describe_json(a));
  std::map<std::string, LayerSummary> rows;
  for (auto& r : summarize(a)) rows[r.name] = r;

  std::string out = "digraph " + dot_string(a.name.empty() ? std::string("model") : a.name) + " {\n";
  out += "  rankdir=TB;\n";
  out += "  node [shape=box, style=rounded, fontname=\"Helvetica\", fontsize=10];\n";
  out += "  edge [fontname=\"Helvetica\", fontsize=9];\n";
  std::set<std::string> inputs;
  for (auto& in : d["inputs"]) {
    std::string name = in["name"];
    inputs.insert(name);
    std::string shape = "[";
    for (std::size_t k = 0; k < in["shape"].size(); ++k) {
      const auto& dim = in["shape"][k];
      shape += (k ? ", " : "") + (dim.is_string() ? dim.get<std::string>() : dim.dump());
    }
    shape += "]";
    out += "  " + dot_string("input " + name) +
           " [shape=ellipse, label=" + label({"input " + name, shape + " " + in["dtype"].get<std::string>()}) +
           (svg_marks ? ", class=\"input\"" : "") + "];\n";
  }
  for (auto& l : d["layers"]) {
    std::string name = l["name"];
    auto r = rows.find(name);
    std::vector<std::string> lines{name, l["type"].get<std::string>()};
    if (l.contains("shares")) lines[1] += " (shares " + l["shares"].get<std::string>() + ")";
    if (l.contains("run")) lines[1] += " (not run)";
    if (r != rows.end()) {
      lines.push_back(r->second.output_shape);
      if (r->second.parameters) lines.push_back(util::group_digits(r->second.parameters) + " parameters");
    }
    out += "  " + dot_string(name) + " [label=" + label(lines) +
           (l["module"].get<bool>() ? "" : ", style=\"rounded,dashed\"") +
           (svg_marks ? ", id=" + dot_string("layer-" + name) + ", class=\"layer\"" : "") + "];\n";
  }
  auto edge = [&](const std::string& ref, const std::string& to) {
    auto [from, index] = split_index(ref);
    std::string tail = inputs.count(from) ? "input " + from : from;
    out += "  " + dot_string(tail) + " -> " + dot_string(to) +
           (index.empty() ? "" : " [label=" + dot_string(index) + "]") + ";\n";
  };
  for (auto& l : d["layers"])
    for (auto& in : l["inputs"]) edge(in.get<std::string>(), l["name"].get<std::string>());
  for (auto& o : d["outputs"]) {
    std::string name = o["name"];
    out += "  " + dot_string("output " + name) + " [shape=ellipse, label=" + label({"output " + name}) +
           (svg_marks ? ", class=\"output\"" : "") + "];\n";
    edge(o["ref"].get<std::string>(), "output " + name);
  }
  return out + "}\n";
}

}  // namespace mvc::arch
