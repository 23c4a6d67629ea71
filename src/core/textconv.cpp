#include "core/textconv.h"

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
  out += "path: " + p.path + "\n";
  out += "size: " + std::to_string(p.size) + " bytes (" + human_bytes(p.size) + ")\n";
  out += "sha256: " + p.sha256 + "\n";
  out += "kind: " + p.kind + "\n";
  out += "tensors: " + std::to_string(p.tensors) + "\n";
  out += "parameters: " + std::to_string(p.parameters) + "\n";
  if (!p.load.key.empty()) out += "load.key: " + p.load.key + "\n";
  if (!p.load.strip_prefix.empty()) out += "load.strip_prefix: " + p.load.strip_prefix + "\n";
  if (!p.load.cast.empty()) out += "load.cast: " + p.load.cast + "\n";
  if (p.example) out += "example: input " + p.example->input + ", output " + p.example->output + "\n";
  if (!ws) return out + "(not in an mvc repository: no tensor lines)\n";
  if (!ws->store().contains(p.sha256))
    return out + "(object not in the cache: no tensor lines; 'mvc fetch' brings it)\n";
  try {
    weights::StateDictOptions opts{p.load.key, p.load.strip_prefix};
    TensorFile f(ws->store().object_path(p.sha256), opts, p.path);
    std::string lines, buf;
    for (std::size_t i = 0; i < f.tensors().size(); ++i) {
      const TensorFile::Entry& e = f.tensors()[i];
      std::string digest = util::sha256_hex(f.bytes(i, buf)).substr(0, 12);
      lines += "tensor " + e.name + " " + std::string(weights::safetensors_name(e.dtype)) + " " + shape_str(e.shape) +
               " sha256:" + digest + "\n";
    }
    return out + lines;
  } catch (const Error& e) {
    return out + "(no tensor lines: " + e.what() + ")\n";
  }
}

}  // namespace mvc::core
