// torch.save checkpoints, torch-free. See torch_zip.h.
#include "weights/torch_zip.h"

#include <sys/stat.h>
#include <zip.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "mvc/error.h"
#include "util/fs.h"
#include "weights/pickle.h"

namespace mvc::weights {

namespace {

using pickle::Value;
using Kind = pickle::Value::Kind;

[[noreturn]] void fail(const std::string& what, const std::string& why) { throw Error(Exit::model, what + ": " + why); }

std::string quoted_list(const std::vector<std::string>& v, std::size_t max = 20) {
  std::string s;
  for (std::size_t i = 0; i < v.size() && i < max; ++i) s += (i ? ", '" : "'") + v[i] + "'";
  if (v.size() > max) s += ", ... (" + std::to_string(v.size()) + " keys)";
  return s.empty() ? "none" : s;
}

bool is_tensor_dict(const Value& v) {
  if (v.kind != Kind::dict || v.entries.empty()) return false;
  for (const auto& [k, x] : v.entries)
    if (k->kind != Kind::string || x->kind != Kind::tensor) return false;
  return true;
}

std::vector<std::string> string_keys(const Value& v) {
  std::vector<std::string> keys;
  for (const auto& [k, x] : v.entries) keys.push_back(k->kind == Kind::string ? k->s : "<" + k->type_name() + ">");
  return keys;
}

constexpr std::string_view kResaveZip =
    "re-save it with PyTorch >= 1.6: torch.save(torch.load(f), 'weights.pt') (or as safetensors)";

}  // namespace

std::uint64_t TorchTensorInfo::numel() const {
  std::uint64_t n = 1;
  for (auto d : shape) n *= static_cast<std::uint64_t>(d);
  return n;
}

bool TorchTensorInfo::contiguous() const {
  std::int64_t expected = 1;
  for (std::size_t i = shape.size(); i-- > 0;) {
    if (shape[i] == 0) return true;
    if (shape[i] != 1 && strides[i] != expected) return false;
    expected *= shape[i];
  }
  return true;
}

const TorchTensorInfo* TorchCheckpoint::find(std::string_view name) const {
  auto it = std::lower_bound(tensors.begin(), tensors.end(), name,
                             [](const TorchTensorInfo& t, std::string_view n) { return t.name < n; });
  return it != tensors.end() && it->name == name ? &*it : nullptr;
}

TorchCheckpoint describe_torch_pickle(std::string_view pkl, const StateDictOptions& opts, const std::string& what,
                                      const std::string& prefix) {
  pickle::Ref root = pickle::unpickle(pkl, what);
  TorchCheckpoint c;
  c.prefix = prefix;
  const Value* sd = nullptr;
  if (root->kind != Kind::dict)
    fail(what, "the checkpoint holds a " + root->type_name() + ", not a state dict (a dict of tensors)");
  c.top_keys = string_keys(*root);
  const std::string hint = " (top-level keys: " + quoted_list(c.top_keys) + ")";
  if (!opts.key.empty()) {
    sd = root->get(opts.key);
    if (!sd) fail(what, "no key '" + opts.key + "' in the checkpoint" + hint);
    if (sd->kind != Kind::dict) fail(what, "'" + opts.key + "' holds a " + sd->type_name() + ", not a state dict");
    c.key = opts.key;
  } else if (root->entries.empty() || is_tensor_dict(*root)) {
    sd = root.get();
  } else {
    std::vector<std::string> preferred, any;
    for (const auto& [k, v] : root->entries) {
      if (k->kind != Kind::string || !is_tensor_dict(*v)) continue;
      any.push_back(k->s);
      if (k->s == "state_dict" || k->s == "model_state_dict" || k->s == "model") preferred.push_back(k->s);
    }
    const auto& pick = preferred.size() == 1 ? preferred : any;
    if (pick.size() != 1) {
      fail(what, std::string(pick.empty() ? "no state dict (a dict of tensors) found in the checkpoint"
                                          : "the checkpoint holds several state dicts (" + quoted_list(pick) + ")") +
                     hint + "; name the one to load with --key KEY");
    }
    c.key = pick[0];
    c.key_detected = true;
    sd = root->get(c.key);
  }

  std::set<std::string> names;
  for (const auto& [k, v] : sd->entries) {
    if (k->kind != Kind::string)
      fail(what, "state dict" + (c.key.empty() ? "" : " '" + c.key + "'") + " has a " + k->type_name() +
                     " key, not a string");
    if (v->kind != Kind::tensor)
      fail(what, "state dict entry '" + k->s + "' is a " + v->type_name() + ", not a tensor");
    std::string name = k->s;
    if (!opts.strip_prefix.empty() && name.rfind(opts.strip_prefix, 0) == 0) {
      name.erase(0, opts.strip_prefix.size());
      if (name.empty())
        fail(what, "tensor '" + k->s + "': nothing is left after stripping '" + opts.strip_prefix + "'");
    }
    if (!names.insert(name).second)
      fail(what, "tensor '" + name + "' appears twice in the state dict" +
                     (opts.strip_prefix.empty() ? "" : " (after stripping '" + opts.strip_prefix + "')"));
    const pickle::Tensor& pt = *v->tensor;
    TorchTensorInfo t;
    t.name = name;
    t.dtype = pt.storage->dtype;
    t.shape = pt.shape;
    t.strides = pt.strides;
    t.storage_offset = pt.storage_offset;
    t.storage = pt.storage->key;
    t.parameter = pt.parameter;
    c.tensors.push_back(std::move(t));
    if (!c.storages.count(pt.storage->key)) {
      TorchStorageInfo s;
      s.key = pt.storage->key;
      s.dtype = pt.storage->dtype;
      s.numel = pt.storage->numel;
      s.entry = prefix + "/data/" + s.key;
      std::uint64_t bytes = 0;
      if (__builtin_mul_overflow(s.numel, static_cast<std::uint64_t>(dtype_size(s.dtype)), &bytes))
        fail(what, "storage '" + s.key + "' size overflows 64 bits");
      c.storages.emplace(s.key, std::move(s));
    }
  }
  std::sort(c.tensors.begin(), c.tensors.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return c;
}

// --- zip ---------------------------------------------------------------------------------

struct TorchZip::Impl {
  std::string what;
  zip_t* z = nullptr;
  std::map<std::string, std::uint64_t> entries;
  ~Impl() {
    if (z) zip_discard(z);
  }
};

TorchZip::TorchZip(const std::filesystem::path& path) : impl_(std::make_unique<Impl>()) {
  impl_->what = path.string();
  int err = 0;
  impl_->z = zip_open(impl_->what.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &err);
  if (!impl_->z) {
    zip_error_t ze;
    zip_error_init_with_code(&ze, err);
    std::string msg = zip_error_strerror(&ze);
    zip_error_fini(&ze);
    if (err == ZIP_ER_OPEN || err == ZIP_ER_READ) throw Error(Exit::failure, impl_->what + ": cannot read: " + msg);
    fail(impl_->what, "not a valid zip archive: " + msg);
  }
  zip_int64_t count = zip_get_num_entries(impl_->z, 0);
  for (zip_int64_t i = 0; i < count; ++i) {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(impl_->z, static_cast<zip_uint64_t>(i), ZIP_FL_ENC_RAW, &st) != 0 || !(st.valid & ZIP_STAT_NAME))
      continue;
    impl_->entries[st.name] = (st.valid & ZIP_STAT_SIZE) ? st.size : 0;
  }
}

const std::map<std::string, std::uint64_t>& TorchZip::entries() const { return impl_->entries; }

TorchZip::~TorchZip() = default;

void TorchZip::read(const std::string& name, char* dst, std::uint64_t n) const {
  const std::string& what = impl_->what;
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_stat(impl_->z, name.c_str(), ZIP_FL_ENC_RAW, &st) != 0) fail(what, "zip entry '" + name + "' is missing");
  if (!(st.valid & ZIP_STAT_SIZE) || st.size != n)
    fail(what, "zip entry '" + name + "' is " + std::to_string(st.size) + " bytes, expected " + std::to_string(n));
  zip_file_t* f = zip_fopen(impl_->z, name.c_str(), ZIP_FL_ENC_RAW);
  if (!f) fail(what, "zip entry '" + name + "': " + zip_strerror(impl_->z));
  std::uint64_t done = 0;
  while (done < n) {
    zip_int64_t r = zip_fread(f, dst + done, std::min<std::uint64_t>(n - done, 1u << 30));
    if (r <= 0) {
      std::string msg = r < 0 ? zip_file_strerror(f) : "unexpected end of entry";
      zip_fclose(f);
      fail(what, "zip entry '" + name + "': " + msg);
    }
    done += static_cast<std::uint64_t>(r);
  }
  char extra;
  zip_int64_t r = zip_fread(f, &extra, 1);  // reaching the end makes libzip check the CRC
  int rc = zip_fclose(f);
  if (r != 0 || rc != 0) fail(what, "zip entry '" + name + "' is corrupt (CRC or size mismatch)");
}

void TorchZip::read_range(const std::string& name, std::uint64_t begin, std::uint64_t n, std::size_t chunk,
                          const std::function<void(const char*, std::size_t)>& sink) const {
  const std::string& what = impl_->what;
  auto it = impl_->entries.find(name);
  if (it == impl_->entries.end()) fail(what, "zip entry '" + name + "' is missing");
  if (begin > it->second || n > it->second - begin)
    fail(what, "zip entry '" + name + "' is " + std::to_string(it->second) + " bytes, shorter than needed");
  zip_file_t* f = zip_fopen(impl_->z, name.c_str(), ZIP_FL_ENC_RAW);
  if (!f) fail(what, "zip entry '" + name + "': " + zip_strerror(impl_->z));
  std::string buf(std::max<std::size_t>(chunk, 1), '\0');
  auto read_exact = [&](std::size_t k) {
    std::size_t done = 0;
    while (done < k) {
      zip_int64_t r = zip_fread(f, buf.data() + done, k - done);
      if (r <= 0) {
        std::string msg = r < 0 ? zip_file_strerror(f) : "unexpected end of entry";
        zip_fclose(f);
        fail(what, "zip entry '" + name + "': " + msg);
      }
      done += static_cast<std::size_t>(r);
    }
  };
  // Stored entries (what torch.save writes) seek; compressed ones are read and skipped.
  if (begin > 0 && zip_fseek(f, static_cast<zip_int64_t>(begin), SEEK_SET) != 0) {
    for (std::uint64_t skip = begin; skip > 0;) {
      std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(skip, buf.size()));
      read_exact(k);
      skip -= k;
    }
  }
  for (std::uint64_t left = n; left > 0;) {
    std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(left, buf.size()));
    read_exact(k);
    sink(buf.data(), k);
    left -= k;
  }
  zip_fclose(f);
}

std::string TorchZip::read_storage(const TorchStorageInfo& s) const {
  std::string out(static_cast<std::size_t>(s.nbytes()), '\0');
  read(s.entry, out.data(), out.size());
  return out;
}

WeightsFormat detect_weights_format(const std::filesystem::path& path) {
  unsigned char magic[16] = {0};
  std::size_t n = 0;
  std::uint64_t file_size = 0;
  {
    util::Fd fd = util::open_read(path);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) throw Error(Exit::failure, util::errno_message(path, "cannot stat"));
    file_size = static_cast<std::uint64_t>(st.st_size);
    n = util::read_some(fd, reinterpret_cast<char*>(magic), sizeof magic, path);
  }
  // safetensors first: its first byte is the low byte of the header size N, which can be any
  // value, 0x80 (a pickle's first byte) for N = 128, 384, 640, ... included. The shape below
  // cannot be a zip (byte 8 would be compression method 0x7b, which does not exist) nor a
  // legacy torch.save file (its magic number makes N > 2^62, beyond any file).
  if (n >= 9 && magic[8] == '{') {
    std::uint64_t header = 0;
    for (int i = 7; i >= 0; --i) header = (header << 8) | magic[i];
    if (header >= 1 && file_size >= 8 && header <= file_size - 8) return WeightsFormat::safetensors;
  }
  if (n >= 4 && magic[0] == 'P' && magic[1] == 'K' && magic[2] == 3 && magic[3] == 4) {
    int err = 0;
    zip_t* z = zip_open(path.c_str(), ZIP_RDONLY, &err);
    if (!z) return WeightsFormat::torch_zip;  // read_torch_checkpoint reports the zip error
    WeightsFormat f = WeightsFormat::torch_zip;
    zip_int64_t count = zip_get_num_entries(z, 0);
    for (zip_int64_t i = 0; i < count; ++i) {
      const char* nm = zip_get_name(z, static_cast<zip_uint64_t>(i), ZIP_FL_ENC_RAW);
      if (!nm) continue;
      std::string_view s(nm);
      auto slash = s.find('/');
      if (slash == std::string_view::npos) continue;
      auto rest = s.substr(slash + 1);
      if (rest == "constants.pkl" || rest.rfind("code/", 0) == 0) f = WeightsFormat::torchscript;
    }
    zip_discard(z);
    return f;
  }
  // Legacy torch.save: a pickle stream (PROTO 2) whose first object is the magic number
  // 0x1950a86a20f9469cfc6c, pickled as LONG1 of 10 bytes.
  static const unsigned char legacy[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c,
                                         0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
  if (n >= sizeof legacy && std::memcmp(magic, legacy, sizeof legacy) == 0) return WeightsFormat::torch_legacy;
  if (n >= 2 && magic[0] == 0x80 && magic[1] <= 5) return WeightsFormat::torch_legacy;  // some other bare pickle
  return WeightsFormat::unknown;
}

TorchCheckpoint read_torch_checkpoint(const std::filesystem::path& path, const StateDictOptions& opts,
                                      const std::string& what) {
  switch (detect_weights_format(path)) {
    case WeightsFormat::torchscript:
      fail(what,
           "a TorchScript archive (torch.jit.save); mvc reads state dicts: save one in Python with "
           "torch.save(model.state_dict(), 'weights.pt')");
    case WeightsFormat::torch_legacy:
      fail(what,
           std::string("a legacy torch.save file (PyTorch < 1.6, not a zip archive); ") + std::string(kResaveZip));
    case WeightsFormat::torch_zip:
      break;
    default:
      fail(what, "not a torch.save zip checkpoint");
  }
  TorchZip zip(path);
  std::string pkl_entry;
  for (const auto& [nm, size] : zip.entries()) {
    auto slash = nm.find('/');
    if (slash != std::string::npos && nm.substr(slash + 1) == "data.pkl") {
      if (!pkl_entry.empty()) fail(what, "the archive holds two data.pkl entries ('" + pkl_entry + "', '" + nm + "')");
      pkl_entry = nm;
    }
  }
  if (pkl_entry.empty()) fail(what, "a zip archive without <dir>/data.pkl: not a torch.save checkpoint");
  std::string prefix = pkl_entry.substr(0, pkl_entry.find('/'));
  if (auto it = zip.entries().find(prefix + "/byteorder"); it != zip.entries().end()) {
    if (it->second > 16) fail(what, "byteorder entry too large");
    std::string bo(static_cast<std::size_t>(it->second), '\0');
    zip.read(it->first, bo.data(), bo.size());
    if (bo != "little")
      fail(what, "a checkpoint saved on a '" + bo + "'-endian machine; mvc reads little-endian checkpoints");
  }
  std::uint64_t pkl_size = zip.entries().at(pkl_entry);
  if (pkl_size > kMaxPickleSize)
    fail(what, "data.pkl is " + std::to_string(pkl_size) + " bytes, more than the limit of " +
                   std::to_string(kMaxPickleSize));
  std::string pkl(static_cast<std::size_t>(pkl_size), '\0');
  zip.read(pkl_entry, pkl.data(), pkl.size());
  TorchCheckpoint c = describe_torch_pickle(pkl, opts, what, prefix);
  for (const auto& [key, s] : c.storages) {
    auto it = zip.entries().find(s.entry);
    if (it == zip.entries().end()) fail(what, "storage '" + key + "': zip entry '" + s.entry + "' is missing");
    if (it->second != s.nbytes())
      fail(what, "storage '" + key + "': zip entry '" + s.entry + "' is " + std::to_string(it->second) +
                     " bytes, but " + std::to_string(s.numel) + " elements of " + std::string(torch_name(s.dtype)) +
                     " need " + std::to_string(s.nbytes()));
  }
  return c;
}

std::string gather_tensor_bytes(const TorchTensorInfo& t, std::string_view storage) {
  const std::size_t es = dtype_size(t.dtype);
  const std::uint64_t n = t.numel();
  std::string out(static_cast<std::size_t>(n * es), '\0');
  if (n == 0) return out;
  if (t.contiguous()) {
    std::memcpy(out.data(), storage.data() + t.storage_offset * es, out.size());
    return out;
  }
  // Odometer over the multi-index; `src` is the element index in the storage.
  const std::size_t nd = t.shape.size();
  std::vector<std::int64_t> idx(nd, 0);
  std::uint64_t src = t.storage_offset;
  char* dst = out.data();
  for (std::uint64_t k = 0; k < n; ++k) {
    std::memcpy(dst, storage.data() + src * es, es);
    dst += es;
    for (std::size_t d = nd; d-- > 0;) {
      if (++idx[d] < t.shape[d]) {
        src += static_cast<std::uint64_t>(t.strides[d]);
        break;
      }
      src -= static_cast<std::uint64_t>(t.strides[d]) * static_cast<std::uint64_t>(t.shape[d] - 1);
      idx[d] = 0;
    }
  }
  return out;
}

}  // namespace mvc::weights
