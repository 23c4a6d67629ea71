// Weights in and out of LibTorch modules: the strict load of a safetensors file (validated
// by the torch-free reader, then read once, straight into the module's tensors, which were
// built without running their random initialisers), and the deterministic writer.
#include <sys/stat.h>
#include <torch/library.h>
#include <unistd.h>

#include <c10/core/impl/LocalDispatchKeySet.h>
#include <cerrno>

#include <bit>
#include <cstring>

#include "model/check.h"
#include "model/internal.h"
#include "mvc/error.h"
#include "util/fs.h"
#include "weights/safetensors.h"

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; a big-endian host would need byte swaps");

namespace mvc::model {

namespace fs = std::filesystem;
using weights::SafetensorsHeader;
using weights::TensorInfo;

namespace {

/// A safetensors file opened for a load: its header read with pread and validated by the
/// torch-free parser, and the descriptor the tensor bytes are then read from, straight into
/// the tensors' memory (one kernel copy out of the page cache; no mapping whose pages would
/// count a second time in the process's memory).
struct SafetensorsFile {
  util::Fd fd;
  fs::path path;
  std::uint64_t size = 0;
  SafetensorsHeader header;
  std::uint64_t data_offset = 0;  ///< file offset of the data buffer

  explicit SafetensorsFile(const fs::path& p) : fd(util::open_read(p)), path(p) {
    const std::string what = path.string();
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) throw Error(Exit::failure, util::errno_message(path, "cannot stat"));
    if (!S_ISREG(st.st_mode)) throw Error(Exit::failure, what + ": not a regular file");
    size = static_cast<std::uint64_t>(st.st_size);
    if (size < 8) {
      throw Error(Exit::model, what + ": not a safetensors file: " + std::to_string(size) +
                                   " bytes, too short for the 8-byte header size");
    }
    std::uint64_t n = 0;
    read_at(&n, 8, 0);  // little-endian (static_assert above)
    if (n > weights::kMaxHeaderSize) {
      throw Error(Exit::model, what + ": not a safetensors file: header size " + std::to_string(n) +
                                   " exceeds the limit of " + std::to_string(weights::kMaxHeaderSize) +
                                   " bytes");
    }
    if (n > size - 8) {
      throw Error(Exit::model, what + ": not a safetensors file: header size " + std::to_string(n) +
                                   " exceeds the file size " + std::to_string(size));
    }
    std::string json(n, '\0');
    read_at(json.data(), n, 8);
    header = weights::parse_safetensors_header(json, size, what);
    data_offset = 8 + n;
  }

  /// Reads exactly `n` bytes at `offset`; a short read (the file shrank) is a model error.
  void read_at(void* dst, std::uint64_t n, std::uint64_t offset) const {
    char* c = static_cast<char*>(dst);
    while (n > 0) {
      std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(n, 1u << 30));
      ssize_t r = ::pread(fd.get(), c, want, static_cast<off_t>(offset));
      if (r < 0) {
        if (errno == EINTR) continue;
        throw Error(Exit::failure, util::errno_message(path, "read failed"));
      }
      if (r == 0) throw Error(Exit::model, path.string() + ": file ends early (it changed while being read)");
      c += r;
      n -= static_cast<std::uint64_t>(r);
      offset += static_cast<std::uint64_t>(r);
    }
  }

  /// The bytes of tensor `t` into `dst` (t.end - t.begin bytes).
  void read_tensor(void* dst, const TensorInfo& t) const { read_at(dst, t.end - t.begin, data_offset + t.begin); }
};

/// While alive, on this thread, the random initialisers that LibTorch modules run when they
/// are built (reset(): kaiming_uniform_, xavier_uniform_, normal_, ... all end in aten::uniform_
/// or aten::normal_) do nothing. Model::load builds under it: the strict load then overwrites
/// every parameter and buffer, so the initial values were never seen — and LibTorch 1.13 has
/// no other way to build a module without initialising it. Uses the dispatch key LibTorch
/// reserves for deferred module initialisation (DispatchKey::DeferredInit, torchdistx); every
/// other operator falls through to its normal kernel.
class SkipRandomInit {
 public:
  SkipRandomInit() : guard_(c10::DispatchKey::DeferredInit) {}

 private:
  c10::impl::IncludeDispatchKeyGuard guard_;
};

at::Tensor& skip_uniform(at::Tensor& self, double, double, c10::optional<at::Generator>) { return self; }
at::Tensor& skip_normal(at::Tensor& self, double, double, c10::optional<at::Generator>) { return self; }

std::string join(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

std::string shape_str(const std::vector<std::int64_t>& s) { return model::shape_str(c10::IntArrayRef(s)); }

/// When the file's keys are the module's keys behind a wrapper prefix, says which option fixes it.
std::string prefix_hint(const std::vector<std::string>& missing, const std::vector<std::string>& unexpected) {
  if (missing.empty() || unexpected.empty()) return {};
  for (const char* prefix : {"module.", "_orig_mod."}) {
    std::string p = prefix;
    bool all = true;
    std::size_t matched = 0;
    for (const auto& u : unexpected) {
      if (u.rfind(p, 0) != 0) { all = false; break; }
      if (std::find(missing.begin(), missing.end(), u.substr(p.size())) != missing.end()) ++matched;
    }
    if (all && matched > 0) {
      return std::string(" (the file's keys carry the prefix '") + prefix + "', as " +
             (p == "module." ? "DataParallel/DDP" : "torch.compile") +
             " saves them: load with strip_prefix = \"" + prefix + "\")";
    }
  }
  return {};
}

/// Reads the file's bytes of `info` into `dst` (same shape and dtype, already checked):
/// straight into its memory when it is a contiguous CPU tensor, else through a temporary.
void copy_into(at::Tensor& dst, const SafetensorsFile& f, const TensorInfo& info) {
  std::size_t nbytes = info.end - info.begin;
  if (nbytes == 0) return;
  auto st = to_scalar_type(info.dtype);
  if (dst.is_contiguous() && dst.device().is_cpu() && dst.scalar_type() == st &&
      static_cast<std::size_t>(dst.nbytes()) == nbytes) {
    f.read_tensor(dst.data_ptr(), info);
  } else {
    at::Tensor tmp = torch::empty(info.shape, torch::TensorOptions().dtype(st));
    f.read_tensor(tmp.data_ptr(), info);
    dst.copy_(tmp);
  }
}

/// Checks the module's state against the file (all defects at once) and copies the tensors in.
void load_strict(torch::nn::Module& root, const SafetensorsFile& f, const fs::path& path,
                 const std::string& arch_file) {
  auto state = module_state(root);
  std::vector<std::string> missing, unexpected, mismatched;
  std::vector<std::string> keys;
  for (const auto& [key, t] : state) {
    keys.push_back(key);
    const TensorInfo* info = f.header.find(key);
    if (!info) {
      missing.push_back(key);
      continue;
    }
    std::vector<std::int64_t> want = t.sizes().vec();
    if (want != info->shape) {
      mismatched.push_back("shape of " + key + ": expected " + shape_str(want) + ", file has " +
                           shape_str(info->shape));
    }
    if (to_scalar_type(info->dtype) != t.scalar_type()) {
      mismatched.push_back("dtype of " + key + ": expected " + dtype_name(t.scalar_type()) +
                           ", file has " + std::string(weights::torch_name(info->dtype)));
    }
  }
  std::sort(keys.begin(), keys.end());
  for (const auto& info : f.header.tensors) {
    if (!std::binary_search(keys.begin(), keys.end(), info.name)) unexpected.push_back(info.name);
  }
  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    std::vector<std::string> parts;
    if (!missing.empty()) parts.push_back("missing keys: " + join(missing));
    if (!unexpected.empty()) parts.push_back("unexpected keys: " + join(unexpected));
    for (const auto& m : mismatched) parts.push_back(m);
    throw Error(Exit::model, path.string() + ": weights do not fit the architecture in " + arch_file +
                                 ": " + join(parts, "; ") + prefix_hint(missing, unexpected));
  }

  torch::NoGradGuard no_grad;
  for (auto& [key, t] : state) copy_into(t, f, *f.header.find(key));
}

}  // namespace

TORCH_LIBRARY_IMPL(_, DeferredInit, m) { m.fallback(torch::CppFunction::makeFallthrough()); }
TORCH_LIBRARY_IMPL(aten, DeferredInit, m) {
  m.impl("uniform_", TORCH_FN(skip_uniform));
  m.impl("normal_", TORCH_FN(skip_normal));
}

LoadCheck load_check(const ModelSource& source) {
  Model m = Model::load(source);
  LoadCheck c;
  c.parameters = m.parameter_count();
  c.tensors = module_state(*m.module()).size();
  return c;
}

}  // namespace mvc::model

namespace mvc {

namespace fs = std::filesystem;

ModelSource ModelSource::from_directory(const fs::path& dir, const fs::path& weights_file) {
  ModelSource s;
  fs::path arch = dir / "arch.toml";
  std::error_code ec;
  if (!fs::is_regular_file(arch, ec)) {
    throw Error(Exit::model, dir.string() + ": not a model directory (no arch.toml)");
  }
  s.arch_toml = util::read_file(arch);
  s.arch_name = arch.string();
  fs::path hp = dir / "hparams.toml";
  s.hparams_name = hp.string();
  if (fs::exists(hp, ec)) s.hparams_toml = util::read_file(hp);
  s.weights = weights_file.empty() ? dir / "weights.safetensors" : weights_file;
  return s;
}

Model Model::load(const ModelSource& source) {
  if (source.weights.empty()) throw Error(Exit::failure, source.arch_name + ": no weights file given");
  model::SafetensorsFile file(source.weights);
  Model m = [&] {
    model::SkipRandomInit skip;  // every value is overwritten by the strict load below
    return build(source);
  }();
  try {
    model::load_strict(*m.impl_->root, file, source.weights, m.impl_->arch.file);
  } catch (const c10::Error& e) {
    std::string msg = e.what_without_backtrace();
    msg.resize(std::min(msg.find('\n'), msg.size()));
    throw Error(Exit::model, source.weights.string() + ": " + msg);
  }
  m.impl_->root->eval();
  return m;
}

void save_safetensors(const std::vector<std::pair<std::string, at::Tensor>>& state_dict,
                      const fs::path& path, const std::map<std::string, std::string>& metadata) {
  std::vector<at::Tensor> keep;
  std::vector<weights::TensorBytes> tensors;
  keep.reserve(state_dict.size());
  tensors.reserve(state_dict.size());
  try {
    for (const auto& [name, t] : state_dict) {
      if (!t.defined()) throw Error(Exit::failure, path.string() + ": tensor '" + name + "' is undefined");
      at::Tensor c = t.detach().to(torch::kCPU).contiguous();
      keep.push_back(c);
      tensors.push_back(weights::TensorBytes{
          name, model::from_scalar_type(c.scalar_type(), path.string() + ": tensor '" + name + "'"),
          c.sizes().vec(),
          std::string_view(static_cast<const char*>(c.data_ptr()), c.nbytes())});
    }
  } catch (const c10::Error& e) {
    std::string msg = e.what_without_backtrace();
    msg.resize(std::min(msg.find('\n'), msg.size()));
    throw Error(Exit::failure, path.string() + ": " + msg);
  }
  weights::write_safetensors(path, std::move(tensors), metadata);
}

void save_safetensors(const torch::nn::Module& module, const fs::path& path) {
  save_safetensors(model::module_state(module), path);
}

std::vector<std::pair<std::string, at::Tensor>> load_safetensors(const fs::path& path) {
  model::SafetensorsFile f(path);
  std::vector<std::pair<std::string, at::Tensor>> out;
  out.reserve(f.header.tensors.size());
  for (const auto& info : f.header.tensors) {
    at::Tensor t = torch::empty(info.shape, torch::TensorOptions().dtype(model::to_scalar_type(info.dtype)));
    if (info.end > info.begin) f.read_tensor(t.data_ptr(), info);
    out.emplace_back(info.name, std::move(t));
  }
  return out;
}

}  // namespace mvc
