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

std::string shards_digest(const std::vector<std::pair<std::string, std::string>>& files) {
  std::string text;
  for (const auto& [path, sha] : files) text += path + " " + sha + "\n";
  return util::sha256_hex(text);
}

std::string Pointer::weights_digest() const {
  if (!sharded()) return sha256;
  std::vector<std::pair<std::string, std::string>> files;
  for (const auto& f : shards) files.emplace_back(f.path, f.sha256);
  return shards_digest(files);
}

std::vector<WeightsFileRecord> Pointer::files() const {
  if (!shards.empty()) return shards;
  return {WeightsFileRecord{path, sha256, size, kind, tensors}};
}

void Pointer::set_files(std::vector<WeightsFileRecord> f) {
  shards = std::move(f);
  if (shards.empty()) return;
  path = shards[0].path;
  sha256 = shards[0].sha256;
  size = shards[0].size;
  kind = shards[0].kind;
}

std::vector<WeightsFileRecord> Pointer::stored_files() const {
  std::vector<WeightsFileRecord> all = files();
  if (optimizer) all.push_back(*optimizer);
  return all;
}

std::uint64_t Pointer::total_size() const {
  std::uint64_t n = 0;
  for (const auto& f : files()) n += f.size;
  return n;
}

std::string Pointer::to_toml() const {
  std::ostringstream o;
  auto file_keys = [&](const WeightsFileRecord& f) {
    o << "path = " << quote(f.path) << "\n";
    o << "sha256 = " << quote(f.sha256) << "\n";
    o << "size = " << f.size << "\n";
    o << "kind = " << quote(f.kind) << "\n";
    o << "tensors = " << f.tensors << "\n";
  };
  if (!sharded() && !optimizer) {
    // Format 1, byte for byte (docs/conventions.md, "Compatibility": nothing new is used).
    o << "format = 1\n";
    o << "path = " << quote(path) << "\n";
    o << "sha256 = " << quote(sha256) << "\n";
    o << "size = " << size << "\n";
    o << "kind = " << quote(kind) << "\n";
    o << "tensors = " << tensors << "\n";
    o << "parameters = " << parameters << "\n";
  } else {
    // Format 2 for shards; format 3 (the same text, plus [optimizer] below) when the version
    // stores optimizer state, which an older mvc would otherwise not restore and gc would drop.
    o << "format = " << (optimizer ? 3 : 2) << "\n";
    o << "tensors = " << tensors << "\n";
    o << "parameters = " << parameters << "\n";
    for (const auto& f : files()) {
      o << "\n[[files]]\n";
      file_keys(f);
    }
  }
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
  if (optimizer) {
    o << "\n[optimizer]\n";
    file_keys(*optimizer);
  }
  return o.str();
}

Pointer parse_pointer(const std::string& text, const std::string& name, int max_format) {
  toml::table t = parse_toml(text, name, Exit::model);
  auto bad = [&](const std::string& why) { return Error(Exit::model, name + ": " + why); };
  Pointer p;
  auto fmt = t["format"].value<int64_t>();
  if (!fmt) throw bad("missing integer key 'format'");
  // Compatibility (docs/conventions.md): a later format needs a newer mvc (exit 3), never a misread.
  if (*fmt > max_format)
    throw Error(Exit::not_repo, name + ": pointer format " + std::to_string(*fmt) +
                                    " needs a newer mvc (this one reads format " + std::to_string(max_format) + ")");
  if (*fmt < 1) throw bad("invalid pointer format " + std::to_string(*fmt));
  p.format = static_cast<int>(*fmt);
  // One weights file's keys, in table `tt` (`where` prefixes the messages: "" or "[[files]] N: ").
  auto read_file_keys = [&](const toml::table& tt, const std::string& where) {
    auto str = [&](const char* key) {
      auto v = tt[key].value<std::string>();
      if (!v) throw bad(where + "missing string key '" + key + "'");
      return *v;
    };
    auto u64 = [&](const char* key) {
      auto v = tt[key].value<int64_t>();
      if (!v || *v < 0) throw bad(where + "missing non-negative integer key '" + key + "'");
      return static_cast<std::uint64_t>(*v);
    };
    WeightsFileRecord f;
    f.path = str("path");
    if (!safe_relative_path(f.path))
      throw bad(where + "path '" + f.path + "' must be relative to the model directory, without '..'");
    f.sha256 = str("sha256");
    if (!util::is_sha256_hex(f.sha256)) throw bad(where + "sha256 '" + f.sha256 + "' is not 64 lowercase hex digits");
    f.size = u64("size");
    f.kind = str("kind");
    if (f.kind != "safetensors" && f.kind != "torch-zip")
      throw bad(where + "kind '" + f.kind + "' unknown (valid: safetensors, torch-zip)");
    f.tensors = static_cast<std::uint64_t>(tt["tensors"].value<int64_t>().value_or(0));
    return f;
  };
  p.tensors = t["tensors"].value<int64_t>().value_or(0);
  p.parameters = t["parameters"].value<int64_t>().value_or(0);
  if (p.format == 1) {
    WeightsFileRecord f = read_file_keys(t, "");
    f.tensors = p.tensors;
    p.set_files({f});
  } else {
    auto* arr = t["files"].as_array();
    if (!arr || arr->empty())
      throw bad("pointer format " + std::to_string(p.format) + " needs a non-empty [[files]] array");
    std::vector<WeightsFileRecord> files;
    std::vector<std::string> paths;
    for (std::size_t i = 0; i < arr->size(); ++i) {
      auto* tt = (*arr)[i].as_table();
      const std::string where = "[[files]] " + std::to_string(i + 1) + ": ";
      if (!tt) throw bad(where + "not a table");
      WeightsFileRecord f = read_file_keys(*tt, where);
      if (arr->size() > 1 && f.kind != "safetensors")
        throw bad(where + "kind '" + f.kind + "': sharded weights are safetensors files");
      for (const auto& q : paths)
        if (q == f.path) throw bad(where + "path '" + f.path + "' is listed twice");
      paths.push_back(f.path);
      files.push_back(std::move(f));
    }
    p.set_files(std::move(files));
  }
  if (auto* load = t["load"].as_table()) {
    p.load.key = (*load)["key"].value<std::string>().value_or("");
    p.load.strip_prefix = (*load)["strip_prefix"].value<std::string>().value_or("");
    p.load.cast = (*load)["cast"].value<std::string>().value_or("");
  }
  if (auto* opt = t["optimizer"].as_table()) {
    if (p.format < 3)
      throw bad("[optimizer] needs pointer format 3 (this one is format " + std::to_string(p.format) + ")");
    WeightsFileRecord f = read_file_keys(*opt, "[optimizer]: ");
    if (f.kind != "safetensors") throw bad("[optimizer]: kind '" + f.kind + "': optimizer state is a safetensors file");
    for (const auto& w : p.files())
      if (w.path == f.path) throw bad("[optimizer]: path '" + f.path + "' is a weights file's");
    p.optimizer = std::move(f);
  } else if (t.contains("optimizer")) {
    throw bad("[optimizer] must be a table");
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
