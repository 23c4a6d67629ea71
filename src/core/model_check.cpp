#include "core/model_check.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "mvc/error.h"
#include "util/fs.h"
#include "util/progress.h"
#include "weights/safetensors.h"
#include "weights/torch_zip.h"

namespace mvc::core {

namespace {

std::string shape_str(const std::vector<std::int64_t>& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

}  // namespace

std::optional<weights::DType> parse_cast(const std::string& cast, const std::string& what, Exit code) {
  if (cast.empty()) return std::nullopt;
  auto d = weights::dtype_from_torch(cast);
  if (!d || !weights::is_floating(*d))
    throw Error(code, what + ": cast '" + cast +
                          "' is not a floating-point dtype (valid: float64, float32, float16, bfloat16)");
  return d;
}

namespace {
/// The safetensors half of inspect_weights: `read` gives the header's tensors.
WeightsInfo inspect_safetensors(const std::string& display, const LoadOptions& load,
                                const std::function<std::vector<weights::TensorInfo>()>& read);
}  // namespace

WeightsInfo inspect_weights(const std::filesystem::path& path, const std::string& display, const LoadOptions& load) {
  // Messages of the readers start with the path they were given; show the display name instead.
  auto rename = [&](const Error& e) {
    std::string m = e.what();
    return Error(e.code(),
                 m.rfind(path.string(), 0) == 0 ? display + m.substr(path.string().size()) : display + ": " + m);
  };
  WeightsInfo w;
  weights::WeightsFormat format = weights::detect_weights_format(path);
  if (format == weights::WeightsFormat::torch_zip || format == weights::WeightsFormat::torchscript ||
      format == weights::WeightsFormat::torch_legacy) {
    w.kind = "torch-zip";
    weights::TorchCheckpoint c;
    try {
      c = weights::read_torch_checkpoint(path, {load.key, load.strip_prefix}, path.string());
    } catch (const Error& e) {
      throw rename(e);
    }
    if (c.key_detected) w.detected_key = c.key;
    for (auto& t : c.tensors) {
      weights::TensorInfo i;
      i.name = t.name;
      i.dtype = t.dtype;
      i.shape = t.shape;
      w.tensors.push_back(std::move(i));
    }
    return w;
  }
  return inspect_safetensors(display, load, [&] {
    try {
      return weights::read_safetensors_header(path).tensors;
    } catch (const Error& e) {
      throw rename(e);
    }
  });
}

WeightsInfo inspect_weights(const store::StoredFile& file, const std::string& display, const LoadOptions& load) {
  if (!file.path().empty()) return inspect_weights(file.path(), display, load);
  // Stored as segments: a safetensors file (the only format cut so), its header the first segment.
  return inspect_safetensors(display, load, [&] {
    return weights::read_safetensors_header(
               [&](std::uint64_t off, char* out, std::size_t n) {
                 file.read(off, off + n, out, display + ": the header");
               },
               file.size(), display)
        .tensors;
  });
}

namespace {

WeightsInfo inspect_safetensors(const std::string& display, const LoadOptions& load,
                                const std::function<std::vector<weights::TensorInfo>()>& read) {
  WeightsInfo w;
  w.kind = "safetensors";
  if (!load.key.empty())
    throw Error(Exit::model, display + ": [load] key '" + load.key +
                                 "' applies to torch.save checkpoints; a safetensors file holds one state dict");
  w.tensors = read();
  if (!load.strip_prefix.empty()) {
    std::set<std::string> names;
    for (auto& t : w.tensors) {
      if (t.name.rfind(load.strip_prefix, 0) == 0 && t.name.size() > load.strip_prefix.size())
        t.name.erase(0, load.strip_prefix.size());
      if (!names.insert(t.name).second)
        throw Error(Exit::model,
                    display + ": tensor '" + t.name + "' appears twice after stripping '" + load.strip_prefix + "'");
    }
    std::sort(w.tensors.begin(), w.tensors.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  }
  return w;
}

}  // namespace

std::string shards_display(const std::string& dir, const std::vector<std::string>& rels) {
  std::string out = (dir.empty() ? std::string(".") : dir) + " (shards ";
  for (std::size_t i = 0; i < rels.size(); ++i) {
    auto s = rels[i].rfind('/');
    out += (i ? ", " : "") + (s == std::string::npos ? rels[i] : rels[i].substr(s + 1));
  }
  return out + ")";
}

WeightsInfo inspect_shards(const std::filesystem::path& root, const std::vector<std::string>& rels,
                           const std::string& index_rel, const LoadOptions& load,
                           std::vector<std::uint64_t>* tensors_per_file) {
  auto base = [](const std::string& rel) {
    auto s = rel.rfind('/');
    return s == std::string::npos ? rel : rel.substr(s + 1);
  };
  WeightsInfo all;
  all.kind = "safetensors";
  std::map<std::string, std::string> owner;      // tensor (after strip_prefix) -> file
  std::map<std::string, std::string> raw_owner;  // tensor as the file names it -> file name
  for (const auto& rel : rels) {
    WeightsInfo w = inspect_weights(root / rel, rel, load);
    if (w.kind != "safetensors")
      throw Error(Exit::model, rel + ": a shard of sharded weights must be a safetensors file");
    if (tensors_per_file) tensors_per_file->push_back(w.tensors.size());
    for (auto& t : w.tensors) {
      auto [it, fresh] = owner.emplace(t.name, rel);
      if (!fresh)
        throw Error(Exit::model, "tensor '" + t.name + "' is in two shards: " + it->second + " and " + rel +
                                     "; a tensor belongs to one shard");
      all.tensors.push_back(std::move(t));
    }
    if (!index_rel.empty())
      for (auto& t : weights::read_safetensors_header(root / rel).tensors) raw_owner[t.name] = base(rel);
  }
  std::sort(all.tensors.begin(), all.tensors.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  if (index_rel.empty()) return all;

  nlohmann::json j;
  try {
    j = nlohmann::json::parse(util::read_file(root / index_rel));
  } catch (const nlohmann::json::exception& e) {
    throw Error(Exit::model, index_rel + ": not valid JSON (" + std::string(e.what()) + ")");
  }
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    throw Error(Exit::model, index_rel +
                                 ": no \"weight_map\" object (a Hugging Face shard index maps each tensor "
                                 "to its file)");
  std::set<std::string> files;
  for (const auto& rel : rels) files.insert(base(rel));
  std::set<std::string> listed;
  for (const auto& [name, file_v] : j["weight_map"].items()) {
    if (!file_v.is_string()) throw Error(Exit::model, index_rel + ": weight_map['" + name + "'] is not a file name");
    const std::string file = file_v.get<std::string>();
    if (!files.count(file))
      throw Error(Exit::model, index_rel + ": weight_map maps tensor '" + name + "' to shard '" + file +
                                   "', which is not in the model directory");
    auto it = raw_owner.find(name);
    if (it == raw_owner.end())
      throw Error(Exit::model, index_rel + ": weight_map maps tensor '" + name + "' to shard '" + file +
                                   "', which does not hold it (no shard does)");
    if (it->second != file)
      throw Error(Exit::model, index_rel + ": weight_map maps tensor '" + name + "' to shard '" + file +
                                   "', which does not hold it (it is in " + it->second + ")");
    listed.insert(name);
  }
  for (const auto& [name, file] : raw_owner)
    if (!listed.count(name))
      throw Error(Exit::model,
                  index_rel + ": tensor '" + name + "' of shard '" + file + "' is not listed in weight_map");
  return all;
}

static std::string prefix_hint(const std::vector<std::string>& missing, const std::vector<std::string>& unexpected) {
  if (missing.empty() || unexpected.empty()) return {};
  std::set<std::string> miss(missing.begin(), missing.end());
  for (const char* prefix : {"module.", "_orig_mod."}) {
    std::string p = prefix;
    bool all = true;
    bool any = false;
    for (const auto& u : unexpected) {
      if (u.rfind(p, 0) != 0) {
        all = false;
        break;
      }
      any = any || miss.count(u.substr(p.size()));
    }
    if (all && any)
      return std::string("; the file's names carry the prefix '") + prefix + "' that " +
             (p == "module." ? "DataParallel/DDP" : "torch.compile") + " adds: commit with --strip-prefix " + prefix;
  }
  return {};
}

Fit check_fit(const arch::Architecture& a, const WeightsInfo& w, const std::string& weights_name,
              const std::string& arch_name, const std::string& cast) {
  std::optional<weights::DType> cast_to = parse_cast(cast, weights_name);
  std::vector<arch::ExpectedTensor> expected = arch::expected_state_dict(a);
  std::map<std::string, const weights::TensorInfo*> have;
  for (const auto& t : w.tensors) have[t.name] = &t;
  std::vector<std::string> problems, missing, unexpected;
  std::string cast_hint;
  Fit fit;
  std::map<std::string, bool> seen;
  for (const auto& e : expected) {
    seen[e.key] = true;
    if (!e.is_buffer) {
      std::uint64_t n = 1;
      for (auto d : e.shape) n *= static_cast<std::uint64_t>(d);
      fit.parameters += n;
    }
    auto it = have.find(e.key);
    if (it == have.end()) {
      problems.push_back("missing tensor '" + e.key + "' " + shape_str(e.shape) + " " + e.dtype);
      missing.push_back(e.key);
      continue;
    }
    const weights::TensorInfo& t = *it->second;
    if (t.shape != e.shape)
      problems.push_back("tensor '" + e.key + "': shape " + shape_str(t.shape) + ", expected " + shape_str(e.shape));
    std::string dt(weights::torch_name(t.dtype));
    auto want = weights::dtype_from_torch(e.dtype);
    if (!want || !weights::dtype_loads_as(t.dtype, *want, cast_to)) {
      problems.push_back("tensor '" + e.key + "': dtype " + dt + ", expected " + e.dtype);
      if (want && weights::is_floating(t.dtype) && weights::is_floating(*want) && cast_hint.empty())
        cast_hint = "; floating-point weights load into another floating dtype only when asked: declare dtype = \"" +
                    dt + "\" in " + arch_name + ", or commit with --cast " + e.dtype;
    }
  }
  for (const auto& t : w.tensors)
    if (!seen.count(t.name)) {
      problems.push_back("unexpected tensor '" + t.name + "' " + shape_str(t.shape));
      unexpected.push_back(t.name);
    }
  if (!problems.empty()) {
    std::string msg = weights_name + " does not fit " + arch_name + ": ";
    for (std::size_t i = 0; i < problems.size(); ++i) msg += (i ? "; " : "") + problems[i];
    throw Error(Exit::model, msg + prefix_hint(missing, unexpected) + cast_hint);
  }
  fit.tensors = expected.size();
  return fit;
}

std::string human_bytes(std::uint64_t n) { return util::human_bytes(n); }

}  // namespace mvc::core
