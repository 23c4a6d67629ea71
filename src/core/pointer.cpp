#include "core/pointer.h"

#include <toml++/toml.h>
#include <cstdio>
#include <sstream>

#include "core/toml_parse.h"
#include "mvc/error.h"
#include "util/sha256.h"

namespace mvc::core {

namespace {

// A TOML basic string: "...", with backslash, quote and control characters escaped.
std::string quote(const std::string& s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04X", c);
      o += buf;
    } else {
      o += static_cast<char>(c);
    }
  }
  return o + "\"";
}

std::string fmt_double(double d) {
  std::ostringstream o;
  o << toml::value<double>(d);
  return o.str();
}

}  // namespace

bool safe_relative_path(const std::string& rel) {
  if (rel.empty() || rel[0] == '/') return false;
  if (rel.find('\\') != std::string::npos || rel.find('\0') != std::string::npos) return false;
  std::size_t start = 0;
  while (start <= rel.size()) {
    std::size_t end = rel.find('/', start);
    if (end == std::string::npos) end = rel.size();
    std::string part = rel.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

std::string Pointer::to_toml() const {
  std::ostringstream o;
  o << "format = " << format << "\n";
  o << "path = " << quote(path) << "\n";
  o << "sha256 = " << quote(sha256) << "\n";
  o << "size = " << size << "\n";
  o << "kind = " << quote(kind) << "\n";
  o << "tensors = " << tensors << "\n";
  o << "parameters = " << parameters << "\n";
  if (!load.empty()) {
    o << "\n[load]\n";
    if (!load.key.empty()) o << "key = " << quote(load.key) << "\n";
    if (!load.strip_prefix.empty()) o << "strip_prefix = " << quote(load.strip_prefix) << "\n";
    if (!load.cast.empty()) o << "cast = " << quote(load.cast) << "\n";
  }
  if (example) {
    o << "\n[example]\n";
    o << "input = " << quote(example->input) << "\n";
    o << "output = " << quote(example->output) << "\n";
    o << "atol = " << fmt_double(example->atol) << "\n";
  }
  return o.str();
}

Pointer parse_pointer(const std::string& text, const std::string& name) {
  toml::table t = parse_toml(text, name, Exit::model);
  auto bad = [&](const std::string& why) { return Error(Exit::model, name + ": " + why); };
  Pointer p;
  auto fmt = t["format"].value<int64_t>();
  if (!fmt) throw bad("missing integer key 'format'");
  // Compatibility (docs/conventions.md): a later format needs a newer mvc (exit 3), never a misread.
  if (*fmt > kPointerFormat)
    throw Error(Exit::not_repo, name + ": pointer format " + std::to_string(*fmt) +
                                    " needs a newer mvc (this one reads format " + std::to_string(kPointerFormat) +
                                    ")");
  if (*fmt < 1) throw bad("invalid pointer format " + std::to_string(*fmt));
  auto str = [&](const char* key) {
    auto v = t[key].value<std::string>();
    if (!v) throw bad(std::string("missing string key '") + key + "'");
    return *v;
  };
  auto u64 = [&](const char* key) {
    auto v = t[key].value<int64_t>();
    if (!v || *v < 0) throw bad(std::string("missing non-negative integer key '") + key + "'");
    return static_cast<std::uint64_t>(*v);
  };
  p.path = str("path");
  if (!safe_relative_path(p.path))
    throw bad("path '" + p.path + "' must be relative to the model directory, without '..'");
  p.sha256 = str("sha256");
  if (!util::is_sha256_hex(p.sha256)) throw bad("sha256 '" + p.sha256 + "' is not 64 lowercase hex digits");
  p.size = u64("size");
  p.kind = str("kind");
  if (p.kind != "safetensors" && p.kind != "torch-zip")
    throw bad("kind '" + p.kind + "' unknown (valid: safetensors, torch-zip)");
  p.tensors = t["tensors"].value<int64_t>().value_or(0);
  p.parameters = t["parameters"].value<int64_t>().value_or(0);
  if (auto* load = t["load"].as_table()) {
    p.load.key = (*load)["key"].value<std::string>().value_or("");
    p.load.strip_prefix = (*load)["strip_prefix"].value<std::string>().value_or("");
    p.load.cast = (*load)["cast"].value<std::string>().value_or("");
  }
  if (auto* ex = t["example"].as_table()) {
    ExampleRecord r;
    r.input = (*ex)["input"].value<std::string>().value_or("");
    r.output = (*ex)["output"].value<std::string>().value_or("");
    r.atol = (*ex)["atol"].value<double>().value_or(1e-5);
    if (!util::is_sha256_hex(r.input) || !util::is_sha256_hex(r.output))
      throw bad("[example] input and output must be 64-hex object names");
    p.example = r;
  }
  return p;
}

}  // namespace mvc::core
