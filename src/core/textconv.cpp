#include "core/textconv.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "core/diff.h"
#include "core/model_check.h"
#include "mvc/error.h"
#include "util/sha256.h"

namespace mvc::core {

namespace {

std::string shape_str(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

std::string textconv_pointer(const std::string& text, Workspace* ws) {
  Pointer p;
  try {
    p = parse_pointer(text, "pointer");
  } catch (const Error&) {
    return text;
  }
  std::string out = "mvc pointer (format " + std::to_string(p.format) + ")\n";
  const auto files = p.files();
  if (!p.sharded()) {
    out += "path: " + p.path + "\n";
    out += "size: " + std::to_string(p.size) + " bytes (" + human_bytes(p.size) + ")\n";
    out += "sha256: " + p.sha256 + "\n";
    out += "kind: " + p.kind + "\n";
  } else {  // sharded weights: each file, then the tensors of all of them by name
    for (const auto& f : files)
      out += "file: " + f.path + " " + std::to_string(f.size) + " bytes (" + human_bytes(f.size) +
             ") sha256:" + f.sha256 + " " + std::to_string(f.tensors) + " tensors\n";
  }
  out += "tensors: " + std::to_string(p.tensors) + "\n";
  out += "parameters: " + std::to_string(p.parameters) + "\n";
  if (!p.load.key.empty()) out += "load.key: " + p.load.key + "\n";
  if (!p.load.strip_prefix.empty()) out += "load.strip_prefix: " + p.load.strip_prefix + "\n";
  if (!p.load.cast.empty()) out += "load.cast: " + p.load.cast + "\n";
  if (p.example) out += "example: input " + p.example->input + ", output " + p.example->output + "\n";
  if (!ws) return out + "(not in an mvc repository: no tensor lines)\n";
  for (const auto& f : files)
    if (!ws->store().contains(f.sha256))
      return out + "(object not in the cache: no tensor lines; 'mvc fetch' brings it)\n";
  try {
    weights::StateDictOptions opts{p.load.key, p.load.strip_prefix};
    std::vector<std::pair<std::string, std::string>> lines;  // name, line
    std::string buf;
    for (const auto& file : files) {
      // Read in place, not verified (docs/repository-format.md, "Reading in place").
      TensorFile f(std::make_unique<store::StoredFile>(ws->store(), file.sha256), opts, file.path);
      for (std::size_t i = 0; i < f.tensors().size(); ++i) {
        const TensorFile::Entry& e = f.tensors()[i];
        std::string digest = util::sha256_hex(f.bytes(i, buf)).substr(0, 12);
        lines.emplace_back(e.name, "tensor " + e.name + " " + std::string(weights::safetensors_name(e.dtype)) + " " +
                                       shape_str(e.shape) + " sha256:" + digest + "\n");
      }
    }
    if (files.size() > 1) std::sort(lines.begin(), lines.end());  // the union, by tensor name
    std::string all;
    for (auto& [name, line] : lines) all += line;
    return out + all;
  } catch (const Error& e) {
    return out + "(no tensor lines: " + e.what() + ")\n";
  }
}

}  // namespace mvc::core
