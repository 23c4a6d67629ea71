// Weights in and out of LibTorch modules: the strict load of a safetensors file (validated
// by the torch-free reader, memory-mapped, copied once into the module's tensors), and the
// deterministic writer.
#include <sys/mman.h>
#include <sys/stat.h>
#include <torch/library.h>

#include <c10/core/impl/LocalDispatchKeySet.h>
#include <unistd.h>

#include <bit>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <set>

#include "model/check.h"
#include "model/internal.h"
#include "mvc/error.h"
#include "util/fs.h"
#include "weights/safetensors.h"
#include "weights/torch_zip.h"

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

  /// `what` names the file in errors.
  MappedSafetensors(const fs::path& path, const std::string& what) : file(path) {
    if (file.size() < 8) {
      throw Error(Exit::model, what + ": not a safetensors file: " + std::to_string(file.size()) +
                                   " bytes, too short for the 8-byte header size");
    }
    std::uint64_t n = 0;
    std::memcpy(&n, file.data(), 8);  // little-endian (static_assert above)
    if (n > weights::kMaxHeaderSize) {
      throw Error(Exit::model, what + ": not a safetensors file: header size " + std::to_string(n) +
                                   " exceeds the limit of " + std::to_string(weights::kMaxHeaderSize) + " bytes");
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
      if (u.rfind(p, 0) != 0) {
        all = false;
        break;
      }
      if (std::find(missing.begin(), missing.end(), u.substr(p.size())) != missing.end()) ++matched;
    }
    if (all && matched > 0) {
      return std::string(" (the file's keys carry the prefix '") + prefix + "', as " +
             (p == "module." ? "DataParallel/DDP" : "torch.compile") + " saves them: commit with --strip-prefix " +
             prefix + ", which records strip_prefix = \"" + prefix + "\" in the pointer's [load] table)";
    }
  }
  return {};
}

/// Gives the kernel back the file pages of [p, p + n) that were copied out (whole pages only),
/// so that a load's resident memory stays about the model's size, not twice it.
void release_pages(const char* p, std::size_t n) {
  static const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  auto begin = (reinterpret_cast<std::uintptr_t>(p) + page - 1) & ~(page - 1);
  auto end = (reinterpret_cast<std::uintptr_t>(p) + n) & ~(page - 1);
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

/// A weights file opened for loading, either format (detected from its bytes): its state
/// dict's names (after [load] key and strip_prefix), dtypes and shapes, and its tensors.
class WeightsFile {
 public:
  struct Entry {
    std::string name;
    weights::DType dtype;
    std::vector<std::int64_t> shape;
    std::size_t index;  ///< into the format's own list
  };

  /// `what` names the file in errors (the work-tree name of a verified temp copy or object).
  WeightsFile(const fs::path& path, const std::string& what, const std::string& key, const std::string& strip_prefix)
      : path_(path) {
    auto format = weights::detect_weights_format(path);
    if (format == weights::WeightsFormat::torch_zip || format == weights::WeightsFormat::torchscript ||
        format == weights::WeightsFormat::torch_legacy) {
      ckpt_ = weights::read_torch_checkpoint(path, {key, strip_prefix}, what);
      zip_ = std::make_unique<weights::TorchZip>(path);
      for (std::size_t i = 0; i < ckpt_->tensors.size(); ++i) {
        const auto& t = ckpt_->tensors[i];
        entries_.push_back({t.name, t.dtype, t.shape, i});
      }
      return;
    }
    if (!key.empty())
      throw Error(Exit::model, what + ": [load] key '" + key +
                                   "' applies to torch.save checkpoints; a safetensors file holds one state dict");
    st_.emplace(path, what);
    for (std::size_t i = 0; i < st_->header.tensors.size(); ++i) {
      const auto& t = st_->header.tensors[i];
      std::string name = t.name;
      if (!strip_prefix.empty() && name.rfind(strip_prefix, 0) == 0 && name.size() > strip_prefix.size())
        name.erase(0, strip_prefix.size());
      entries_.push_back({name, t.dtype, t.shape, i});
    }
    std::sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) { return a.name < b.name; });
    for (std::size_t i = 1; i < entries_.size(); ++i)
      if (entries_[i].name == entries_[i - 1].name)
        throw Error(Exit::model,
                    what + ": tensor '" + entries_[i].name + "' appears twice after stripping '" + strip_prefix + "'");
  }

  const std::vector<Entry>& entries() const { return entries_; }
  const Entry* find(const std::string& name) const {
    auto it = std::lower_bound(entries_.begin(), entries_.end(), name,
                               [](const Entry& e, const std::string& n) { return e.name < n; });
    return it != entries_.end() && it->name == name ? &*it : nullptr;
  }

  /// Calls `use(entry, tensor)` for each of `wanted`. safetensors: the tensor is the mapped
  /// bytes themselves (from_blob) when they are aligned, a copy otherwise, and the pages are
  /// released after `use`. torch-zip: each storage is read once, the tensors are views into it
  /// (shared storages stay shared), and it is dropped when its last tensor has been used.
  void visit(const std::vector<const Entry*>& wanted,
             const std::function<void(const Entry&, const at::Tensor&)>& use) const {
    if (st_) {
      for (const Entry* e : wanted) {
        const TensorInfo& info = st_->header.tensors[e->index];
        use(*e, mapped(st_->bytes(info), info.end - info.begin, info.shape, info.dtype));
        release_pages(st_->bytes(info), info.end - info.begin);
      }
      return;
    }
    std::map<std::string, std::vector<const Entry*>> by_storage;
    for (const Entry* e : wanted) by_storage[ckpt_->tensors[e->index].storage].push_back(e);
    for (const auto& [key, list] : by_storage) {
      at::Tensor typed = read_storage(ckpt_->storages.at(key));
      for (const Entry* e : list) use(*e, view(typed, ckpt_->tensors[e->index]));
    }
  }

  /// Copies the tensors of `wanted` into `dst` (same shapes; dtypes checked by the caller;
  /// copy_ converts floating dtypes). Into a contiguous destination the bytes go in pieces of
  /// kChunk (safetensors: mapped pages released after each piece; checkpoints: contiguous
  /// views streamed from their zip entry), so the load holds about the model once, not twice.
  void copy_into(const std::vector<const Entry*>& wanted, const std::map<std::string, at::Tensor*>& dst) const {
    std::vector<const Entry*> rest;
    for (const Entry* e : wanted) {
      at::Tensor& d = *dst.at(e->name);
      if (!d.is_contiguous() || !d.device().is_cpu()) {
        rest.push_back(e);
        continue;
      }
      const std::size_t es = weights::dtype_size(e->dtype);
      at::Tensor flat = d.view({-1});
      if (st_) {
        const TensorInfo& info = st_->header.tensors[e->index];
        const char* src = st_->bytes(info);
        const std::uint64_t n = info.end - info.begin;
        for (std::uint64_t off = 0; off < n; off += kChunk) {
          std::uint64_t k = std::min<std::uint64_t>(kChunk, n - off);
          flat.narrow(0, static_cast<std::int64_t>(off / es), static_cast<std::int64_t>(k / es))
              .copy_(mapped(src + off, k, {static_cast<std::int64_t>(k / es)}, e->dtype));
          release_pages(src + off, k);
        }
        continue;
      }
      const weights::TorchTensorInfo& t = ckpt_->tensors[e->index];
      if (!t.contiguous()) {
        rest.push_back(e);
        continue;
      }
      std::int64_t pos = 0;
      auto opts = torch::TensorOptions().dtype(to_scalar_type(e->dtype));
      zip_->read_range(ckpt_->storages.at(t.storage).entry, t.storage_offset * es, t.numel() * es, kChunk,
                       [&](const char* p, std::size_t k) {
                         auto m = static_cast<std::int64_t>(k / es);
                         flat.narrow(0, pos, m).copy_(torch::from_blob(const_cast<char*>(p), {m}, opts));
                         pos += m;
                       });
    }
    if (!rest.empty()) visit(rest, [&](const Entry& e, const at::Tensor& src) { dst.at(e.name)->copy_(src); });
  }

  /// Every tensor, keyed by name (torch-zip tensors sharing a storage share it here too).
  std::vector<std::pair<std::string, at::Tensor>> all() const {
    std::vector<const Entry*> wanted;
    for (const auto& e : entries_) wanted.push_back(&e);
    std::map<std::string, at::Tensor> out;
    if (st_) {
      visit(wanted, [&](const Entry& e, const at::Tensor& t) { out[e.name] = t.clone(); });
    } else {
      std::map<std::string, at::Tensor> storages;
      for (const auto& [key, s] : ckpt_->storages) storages[key] = read_storage(s);
      for (const auto& e : entries_) {
        const auto& t = ckpt_->tensors[e.index];
        out[e.name] = view(storages.at(t.storage), t);
      }
    }
    return {out.begin(), out.end()};
  }

 private:
  fs::path path_;
  std::optional<MappedSafetensors> st_;
  std::optional<weights::TorchCheckpoint> ckpt_;
  std::unique_ptr<weights::TorchZip> zip_;
  std::vector<Entry> entries_;

  static constexpr std::uint64_t kChunk = 16u << 20;  // bytes; a multiple of every dtype size

  /// The `nbytes` at `src` as a tensor: in place when aligned for the dtype, else a copy.
  static at::Tensor mapped(const char* src, std::uint64_t nbytes, const std::vector<std::int64_t>& shape,
                           weights::DType dtype) {
    auto opts = torch::TensorOptions().dtype(to_scalar_type(dtype));
    if (nbytes == 0) return torch::empty(shape, opts);
    if (reinterpret_cast<std::uintptr_t>(src) % weights::dtype_size(dtype) == 0)
      return torch::from_blob(const_cast<char*>(src), shape, opts);
    at::Tensor tmp = torch::empty(shape, opts);
    std::memcpy(tmp.data_ptr(), src, nbytes);
    return tmp;
  }

  at::Tensor read_storage(const weights::TorchStorageInfo& s) const {
    at::Tensor typed =
        torch::empty({static_cast<std::int64_t>(s.numel)}, torch::TensorOptions().dtype(to_scalar_type(s.dtype)));
    zip_->read(s.entry, static_cast<char*>(typed.data_ptr()), s.nbytes());
    return typed;
  }
  static at::Tensor view(const at::Tensor& storage, const weights::TorchTensorInfo& t) {
    return storage.as_strided(t.shape, t.strides, static_cast<std::int64_t>(t.storage_offset));
  }
};

/// Checks the module's state against the file (all defects at once) and copies the tensors in.
/// Sharded weights (several files, one state dict) or one file.
using WeightsFiles = std::vector<std::unique_ptr<WeightsFile>>;

void load_strict(torch::nn::Module& root, const WeightsFiles& files, const std::string& what,
                 const std::string& arch_file, const std::string& cast) {
  std::optional<weights::DType> cast_to;
  if (!cast.empty()) {
    cast_to = weights::dtype_from_torch(cast);
    if (!cast_to || !weights::is_floating(*cast_to))
      throw Error(Exit::model, what + ": cast '" + cast +
                                   "' is not a floating-point dtype (valid: float64, float32, float16, bfloat16)");
  }
  auto state = module_state(root);
  std::vector<std::string> missing, unexpected, mismatched;
  std::vector<std::string> keys;
  std::vector<std::vector<const WeightsFile::Entry*>> wanted(files.size());
  std::map<std::string, at::Tensor*> dst;
  std::string cast_hint;
  for (auto& [key, t] : state) {
    keys.push_back(key);
    const WeightsFile::Entry* info = nullptr;
    for (std::size_t i = 0; i < files.size() && !info; ++i)
      if ((info = files[i]->find(key))) wanted[i].push_back(info);
    if (!info) {
      missing.push_back(key);
      continue;
    }
    dst[key] = &t;
    std::vector<std::int64_t> want = t.sizes().vec();
    if (want != info->shape) {
      mismatched.push_back("shape of " + key + ": expected " + shape_str(want) + ", file has " +
                           shape_str(info->shape));
    }
    weights::DType want_dt = from_scalar_type(t.scalar_type(), key);
    if (!weights::dtype_loads_as(info->dtype, want_dt, cast_to)) {
      mismatched.push_back("dtype of " + key + ": expected " + dtype_name(t.scalar_type()) + ", file has " +
                           std::string(weights::torch_name(info->dtype)));
      if (weights::is_floating(info->dtype) && weights::is_floating(want_dt) && cast_hint.empty())
        cast_hint = " (floating-point weights load as another dtype only with cast = \"" + dtype_name(t.scalar_type()) +
                    "\", commit --cast " + dtype_name(t.scalar_type()) + ")";
    }
  }
  std::sort(keys.begin(), keys.end());
  std::set<std::string> seen_names;
  for (const auto& f : files)
    for (const auto& e : f->entries()) {
      if (!seen_names.insert(e.name).second)
        throw Error(Exit::model, what + ": tensor '" + e.name + "' is in two shards; a tensor belongs to one shard");
      if (!std::binary_search(keys.begin(), keys.end(), e.name)) unexpected.push_back(e.name);
    }
  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    std::vector<std::string> parts;
    if (!missing.empty()) parts.push_back("missing keys: " + join(missing));
    if (!unexpected.empty()) parts.push_back("unexpected keys: " + join(unexpected));
    for (const auto& m : mismatched) parts.push_back(m);
    throw Error(Exit::model, what + ": weights do not fit the architecture in " + arch_file + ": " + join(parts, "; ") +
                                 prefix_hint(missing, unexpected) + cast_hint);
  }

  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < files.size(); ++i) files[i]->copy_into(wanted[i], dst);
}

}  // namespace

// Kernels of SkipRandomInit: random initialisers do nothing under DeferredInit; every other
// operator falls through.
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

Model Model::load(const ModelSource& source) {
  if (source.weights.empty()) throw Error(Exit::failure, source.arch_name + ": no weights file given");
  const std::string what = source.weights_display();
  model::WeightsFiles file;
  file.push_back(std::make_unique<model::WeightsFile>(source.weights, what, source.weights_key, source.strip_prefix));
  for (std::size_t i = 0; i < source.extra_weights.size(); ++i) {
    const std::string name = i < source.extra_weights_names.size() && !source.extra_weights_names[i].empty()
                                 ? source.extra_weights_names[i]
                                 : source.extra_weights[i].string();
    file.push_back(
        std::make_unique<model::WeightsFile>(source.extra_weights[i], name, source.weights_key, source.strip_prefix));
  }
  Model m = [&] {
    model::SkipRandomInit skip;  // every value is overwritten by the strict load below
    return build(source);
  }();
  try {
    model::load_strict(*m.impl_->root, file, what, m.impl_->arch.file, source.cast);
  } catch (const c10::Error& e) {
    std::string msg = e.what_without_backtrace();
    msg.resize(std::min(msg.find('\n'), msg.size()));
    throw Error(Exit::model, what + ": " + msg);
  }
  m.impl_->root->eval();
  return m;
}

void save_safetensors(const std::vector<std::pair<std::string, at::Tensor>>& state_dict, const fs::path& path,
                      const std::map<std::string, std::string>& metadata) {
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
          name, model::from_scalar_type(c.scalar_type(), path.string() + ": tensor '" + name + "'"), c.sizes().vec(),
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
  model::MappedSafetensors f(path, path.string());
  std::vector<std::pair<std::string, at::Tensor>> out;
  out.reserve(f.header.tensors.size());
  for (const auto& info : f.header.tensors) {
    at::Tensor t = torch::empty(info.shape, torch::TensorOptions().dtype(model::to_scalar_type(info.dtype)));
    if (info.end > info.begin) std::memcpy(t.data_ptr(), f.bytes(info), info.end - info.begin);
    out.emplace_back(info.name, std::move(t));
  }
  return out;
}

std::vector<std::pair<std::string, at::Tensor>> load_state_dict(const fs::path& path, const std::string& key,
                                                                const std::string& strip_prefix) {
  try {
    return model::WeightsFile(path, path.string(), key, strip_prefix).all();
  } catch (const c10::Error& e) {
    std::string msg = e.what_without_backtrace();
    msg.resize(std::min(msg.find('\n'), msg.size()));
    throw Error(Exit::model, path.string() + ": " + msg);
  }
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
