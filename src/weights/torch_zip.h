// torch.save checkpoints (.pt/.pth), torch-free: the zip container (read with libzip) and its
// data.pkl (read with mvc's restricted unpickler, weights/pickle.h), turned into a description
// of the state dict: tensor name → dtype, shape, strides, storage offset and the zip entry that
// holds the storage's bytes. Commit, status and hooks check a checkpoint against arch.toml from
// this description without LibTorch and without reading tensor data (docs/repository-format.md, "Weights files").
//
// Format (source: PyTorch torch/serialization.py `_save`, caffe2/serialize/inline_container.h):
// a zip archive whose entries all sit under one directory <prefix>/ (the file's stem, or
// "archive"): <prefix>/data.pkl (the pickled object; tensors refer to storages by persistent id
// ('storage', torch.FloatStorage, "<key>", "<location>", numel)), <prefix>/data/<key> (each
// storage's raw bytes, little-endian, stored uncompressed), <prefix>/version and, from PyTorch
// 1.10 on, <prefix>/byteorder ("little").
// Recognised and refused, with how to re-save: the legacy format of PyTorch < 1.6 (a bare pickle
// stream starting with the magic number 0x1950a86a20f9469cfc6c) and TorchScript archives
// (torch.jit.save: the zip holds <prefix>/constants.pkl and <prefix>/code/).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "weights/dtype.h"

namespace mvc::weights {

/// What a weights file is, from its first bytes (and, for a zip, its entry names).
enum class WeightsFormat { safetensors, torch_zip, torchscript, torch_legacy, unknown };

/// Sniffs the format from the first 16 bytes and the file size, unambiguously, in this order:
/// safetensors when byte 8 is '{' and the little-endian uint64 N of bytes 0-7 has
/// 1 <= N <= file size - 8 (whatever byte 0 is: N = 128, 384, ... start with 0x80 like a pickle);
/// torch_zip / torchscript when the file starts with "PK\x03\x04"; torch_legacy for the legacy
/// magic or any other pickle (0x80, protocol 0-5); else unknown. Never throws for content;
/// Exit::failure when the file cannot be read.
WeightsFormat detect_weights_format(const std::filesystem::path& path);

/// How the state dict is found in a checkpoint (the pointer's [load] table, docs/repository-format.md).
struct StateDictOptions {
  std::string key;           ///< top-level key of the state dict in a wrapping checkpoint ("" = find it)
  std::string strip_prefix;  ///< removed from the start of every name that has it ("module.")
};

struct TorchStorageInfo {
  std::string key;  ///< "0", "1", ...
  DType dtype;
  std::uint64_t numel = 0;  ///< elements
  std::string entry;        ///< zip entry: "<prefix>/data/<key>"
  std::uint64_t nbytes() const { return numel * dtype_size(dtype); }
};

struct TorchTensorInfo {
  std::string name;  ///< after strip_prefix
  DType dtype;
  std::vector<std::int64_t> shape;    ///< empty for a 0-d tensor
  std::vector<std::int64_t> strides;  ///< elements, same length as shape, non-negative
  std::uint64_t storage_offset = 0;   ///< elements
  std::string storage;                ///< key into TorchCheckpoint::storages
  bool parameter = false;             ///< saved as an nn.Parameter
  std::uint64_t numel() const;
  bool contiguous() const;  ///< C-contiguous, as torch's is_contiguous()
};

/// The state dict of a checkpoint. Every view lies inside its storage and every storage entry
/// exists with exactly numel × dtype-size bytes (checked when read from a file).
struct TorchCheckpoint {
  std::string prefix;                                ///< the archive's directory ("archive")
  std::vector<std::string> top_keys;                 ///< string keys of the top-level dict, in file order
  std::string key;                                   ///< where the state dict was found ("" = top level)
  bool key_detected = false;                         ///< `key` was chosen by mvc, not given
  std::vector<TorchTensorInfo> tensors;              ///< sorted by name
  std::map<std::string, TorchStorageInfo> storages;  ///< those the tensors use
  const TorchTensorInfo* find(std::string_view name) const;
};

/// Reads and validates a checkpoint's description: the zip directory, data.pkl (at most
/// kMaxPickleSize bytes) and the sizes of the storage entries; no tensor data is read.
/// Finding the state dict: `opts.key` when given; else the top-level object when it is a dict
/// of tensors; else the only value among "state_dict", "model_state_dict", "model" (then any
/// key) that is a dict of tensors. Throws mvc::Error(Exit::model) "<what>: <why>": for a
/// TorchScript or legacy file (saying how to re-save), a refused pickle global (naming it), an
/// ambiguous or missing state dict (listing the top-level keys and the --key option), a
/// non-tensor entry in the state dict, duplicate names (also after strip_prefix), a view out
/// of its storage, a missing or wrongly sized storage entry, a big-endian checkpoint.
TorchCheckpoint read_torch_checkpoint(const std::filesystem::path& path, const StateDictOptions& opts,
                                      const std::string& what);

/// Upper bound on data.pkl's size (bytes).
inline constexpr std::uint64_t kMaxPickleSize = 256ull << 20;

/// The state dict of an unpickled data.pkl, without a zip (storage entries named with
/// `prefix`, sizes unchecked). Same rules and errors as read_torch_checkpoint; the entry point
/// for fuzzing (tests/weights/fuzz/).
TorchCheckpoint describe_torch_pickle(std::string_view pkl, const StateDictOptions& opts, const std::string& what,
                                      const std::string& prefix = "archive");

/// A zip archive opened with libzip, read-only.
class TorchZip {
 public:
  /// Throws mvc::Error(Exit::model) when `path` is not a readable zip archive.
  explicit TorchZip(const std::filesystem::path& path);
  ~TorchZip();
  TorchZip(const TorchZip&) = delete;
  TorchZip& operator=(const TorchZip&) = delete;

  /// Reads exactly `n` bytes of entry `name` into `dst` (the entry must be `n` bytes long;
  /// libzip checks its CRC). Throws mvc::Error(Exit::model).
  void read(const std::string& name, char* dst, std::uint64_t n) const;
  /// Streams bytes [begin, begin + n) of entry `name` to `sink` in pieces of at most `chunk`
  /// bytes (so a large storage never needs to be in memory whole). Throws mvc::Error(Exit::model)
  /// when the entry is missing or shorter.
  void read_range(const std::string& name, std::uint64_t begin, std::uint64_t n, std::size_t chunk,
                  const std::function<void(const char*, std::size_t)>& sink) const;
  /// Entry name → uncompressed size (as the zip directory declares it).
  const std::map<std::string, std::uint64_t>& entries() const;
  /// The bytes of a storage.
  std::string read_storage(const TorchStorageInfo& s) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The C-contiguous bytes of a tensor, gathered from its storage's bytes along its strides.
std::string gather_tensor_bytes(const TorchTensorInfo& t, std::string_view storage_bytes);

}  // namespace mvc::weights
