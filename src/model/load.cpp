// Weights in and out of LibTorch modules: the strict load of a safetensors file (validated
// by the torch-free reader, memory-mapped, copied once into the module's tensors), and the
// deterministic writer.
#include <sys/mman.h>
#include <sys/stat.h>

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

/// A whole file, memory-mapped read-only.
class MappedFile {
 public:
  explicit MappedFile(const fs::path& path) : fd_(util::open_read(path)) {
    struct stat st {};
    if (::fstat(fd_.get(), &st) != 0) throw Error(Exit::failure, util::errno_message(path, "cannot stat"));
    if (!S_ISREG(st.st_mode)) throw Error(Exit::failure, path.string() + ": not a regular file");
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ == 0) return;
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd_.get(), 0);
    if (p == MAP_FAILED) throw Error(Exit::failure, util::errno_message(path, "cannot mmap"));
    data_ = static_cast<const char*>(p);
    ::madvise(p, size_, MADV_SEQUENTIAL);
  }
  ~MappedFile() {
    if (data_) ::munmap(const_cast<char*>(data_), size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const char* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  util::Fd fd_;
  const char* data_ = nullptr;
  std::size_t size_ = 0;
};

/// A mapped safetensors file and its validated header. The header is parsed from the mapped
/// bytes themselves, so the tensors read are exactly the ones validated.
struct MappedSafetensors {
  MappedFile file;
  SafetensorsHeader header;
  const char* buffer = nullptr;  ///< start of the data buffer

  explicit MappedSafetensors(const fs::path& path) : file(path) {
    const std::string what = path.string();
    if (file.size() < 8) {
      throw Error(Exit::model, what + ": not a safetensors file: " + std::to_string(file.size()) +
                                   " bytes, too short for the 8-byte header size");
    }
    std::uint64_t n = 0;
    std::memcpy(&n, file.data(), 8);  // little-endian (static_assert above)
    if (n > weights::kMaxHeaderSize) {
      throw Error(Exit::model, what + ": not a safetensors file: header size " + std::to_string(n) +
                                   " exceeds the limit of " + std::to_string(weights::kMaxHeaderSize) +
                                   " bytes");
    }
    if (n > file.size() - 8) {
      throw Error(Exit::model, what + ": not a safetensors file: header size " + std::to_string(n) +
                                   " exceeds the file size " + std::to_string(file.size()));
    }
    header = weights::parse_safetensors_header(std::string_view(file.data() + 8, n), file.size(), what);
    buffer = file.data() + 8 + n;
  }

  const char* bytes(const TensorInfo& t) const { return buffer + t.begin; }
};

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

/// Copies the file's bytes of `info` into `dst` (same shape and dtype, already checked).
void copy_into(at::Tensor& dst, const MappedSafetensors& f, const TensorInfo& info) {
  std::size_t nbytes = info.end - info.begin;
  if (nbytes == 0) return;
  const char* src = f.bytes(info);
  auto st = to_scalar_type(info.dtype);
  std::size_t align = weights::dtype_size(info.dtype);
  if (reinterpret_cast<std::uintptr_t>(src) % align == 0) {
    dst.copy_(torch::from_blob(const_cast<char*>(src), info.shape, torch::TensorOptions().dtype(st)));
  } else if (dst.is_contiguous() && dst.device().is_cpu() && dst.scalar_type() == st) {
    std::memcpy(dst.data_ptr(), src, nbytes);  // from_blob needs aligned data
  } else {
    at::Tensor tmp = torch::empty(info.shape, torch::TensorOptions().dtype(st));
    std::memcpy(tmp.data_ptr(), src, nbytes);
    dst.copy_(tmp);
  }
}

/// Checks the module's state against the file (all defects at once) and copies the tensors in.
void load_strict(torch::nn::Module& root, const MappedSafetensors& f, const fs::path& path,
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
  model::MappedSafetensors file(source.weights);
  Model m = build(source);
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
  model::MappedSafetensors f(path);
  std::vector<std::pair<std::string, at::Tensor>> out;
  out.reserve(f.header.tensors.size());
  for (const auto& info : f.header.tensors) {
    at::Tensor t = torch::empty(info.shape, torch::TensorOptions().dtype(model::to_scalar_type(info.dtype)));
    if (info.end > info.begin) std::memcpy(t.data_ptr(), f.bytes(info), info.end - info.begin);
    out.emplace_back(info.name, std::move(t));
  }
  return out;
}

}  // namespace mvc

namespace mvc::model {

std::vector<RunOutput> run_files(const ModelSource& source, const std::filesystem::path& input,
                                 const std::filesystem::path& output) {
  Model m = Model::load(source);
  auto inputs = load_safetensors(input);
  auto outs = m.run(inputs);
  std::vector<RunOutput> r;
  for (const auto& [name, t] : outs) r.push_back({name, t.sizes().vec(), dtype_name(t.scalar_type())});
  save_safetensors(outs, output);
  return r;
}

}  // namespace mvc::model
