#include "core/model_check.h"

#include <cstdio>
#include <map>
#include <sstream>

#include "mvc/error.h"
#include "util/fs.h"

namespace mvc::core {

namespace {

std::string shape_str(const std::vector<std::int64_t>& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

}  // namespace

WeightsInfo inspect_weights(const std::filesystem::path& path, const std::string& display) {
  char magic[8] = {0};
  std::size_t n = 0;
  {
    util::Fd fd = util::open_read(path);
    n = util::read_some(fd, magic, sizeof magic, path);
  }
  if (n >= 4 && magic[0] == 'P' && magic[1] == 'K' && magic[2] == 3 && magic[3] == 4)
    throw Error(Exit::model, display +
                                 ": a torch.save zip checkpoint; this mvc version reads safetensors only. Convert it "
                                 "in Python: safetensors.torch.save_file(torch.load(f), 'weights.safetensors')");
  if (n >= 2 && static_cast<unsigned char>(magic[0]) == 0x80 && static_cast<unsigned char>(magic[1]) <= 5)
    throw Error(Exit::model, display + ": a legacy (pre-1.6) torch.save pickle; re-save it as safetensors");
  WeightsInfo w;
  w.kind = "safetensors";
  try {
    w.header = weights::read_safetensors_header(path);
  } catch (const Error& e) {
    throw Error(e.code(), std::string(e.what()).rfind(path.string(), 0) == 0
                              ? display + std::string(e.what()).substr(path.string().size())
                              : display + ": " + e.what());
  }
  return w;
}

Fit check_fit(const arch::Architecture& a, const WeightsInfo& w, const std::string& weights_name,
              const std::string& arch_name) {
  std::vector<arch::ExpectedTensor> expected = arch::expected_state_dict(a);
  std::map<std::string, const weights::TensorInfo*> have;
  for (const auto& t : w.header.tensors) have[t.name] = &t;
  std::vector<std::string> problems;
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
      continue;
    }
    const weights::TensorInfo& t = *it->second;
    if (t.shape != e.shape)
      problems.push_back("tensor '" + e.key + "': shape " + shape_str(t.shape) + ", expected " + shape_str(e.shape));
    std::string dt(weights::torch_name(t.dtype));
    if (dt != e.dtype) problems.push_back("tensor '" + e.key + "': dtype " + dt + ", expected " + e.dtype);
  }
  for (const auto& t : w.header.tensors)
    if (!seen.count(t.name)) problems.push_back("unexpected tensor '" + t.name + "' " + shape_str(t.shape));
  if (!problems.empty()) {
    std::string msg = weights_name + " does not fit " + arch_name + ": ";
    for (std::size_t i = 0; i < problems.size(); ++i) msg += (i ? "; " : "") + problems[i];
    throw Error(Exit::model, msg);
  }
  fit.tensors = expected.size();
  return fit;
}

std::string human_bytes(std::uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0) std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(n));
  else std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

}  // namespace mvc::core
