// safetensors: torch-free reading of headers and writing of files.
//
// Format (source: github.com/huggingface/safetensors, README "Format"):
//   8 bytes   N, little-endian uint64: size of the header
//   N bytes   UTF-8 JSON object: { "<tensor name>": {"dtype": "F32", "shape": [2, 3],
//             "data_offsets": [begin, end]}, ..., "__metadata__": {"k": "v"} }
//   rest      the byte buffer; offsets are relative to its start
// Rules checked by the reader (as the reference implementation checks them): N <= 100 MB and
// 8 + N <= file size; the header is a JSON object; every tensor entry has a known dtype, a
// shape of non-negative integers whose product times the dtype size fits in 64 bits and equals
// end - begin; offsets, taken in order, are contiguous from 0 and cover the buffer exactly (no
// gaps, no overlaps, no trailing bytes); no duplicate keys; `__metadata__` maps strings to
// strings.
// Details: the header must start with '{' and may end with JSON whitespace (writers pad with
// spaces); it must be UTF-8 and hold no NUL byte. Several empty tensors may share an offset.
// `"__metadata__": null` means no metadata (serde reads it so). Stricter than the reference:
// a tensor entry has exactly the fields dtype, shape, data_offsets (the reference ignores
// others), duplicate keys are refused at every level (serde keeps the last), nesting deeper
// than a header needs is refused, and dtypes mvc does not handle (U16, F8_*, ...) are refused
// with their own message.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "weights/dtype.h"

namespace mvc::weights {

/// One tensor of a safetensors file.
struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<std::int64_t> shape;  ///< empty for a 0-d tensor
  std::uint64_t begin = 0;          ///< byte offset into the data buffer
  std::uint64_t end = 0;            ///< one past the last byte
  std::uint64_t numel() const;
};

struct SafetensorsHeader {
  std::uint64_t header_size = 0;  ///< N
  std::uint64_t data_offset = 0;  ///< 8 + N: where the data buffer starts in the file
  std::uint64_t file_size = 0;
  std::vector<TensorInfo> tensors;  ///< sorted by name
  std::map<std::string, std::string> metadata;
  const TensorInfo* find(std::string_view name) const;
};

/// Upper bound on N (bytes), as in the reference implementation.
inline constexpr std::uint64_t kMaxHeaderSize = 100'000'000;

/// Reads and validates the header of `path` without reading the tensor data.
/// Throws mvc::Error(Exit::model) "<path>: <why>" for every rule above, naming the tensor.
SafetensorsHeader read_safetensors_header(const std::filesystem::path& path);

/// Reads `n` bytes at offset `off` of a file into `out` (throws when it cannot).
using ReadAt = std::function<void(std::uint64_t off, char* out, std::size_t n)>;
/// read_safetensors_header for a file read through `read_at` (a file stored as segment
/// objects, store/stored_file.h): same rules and errors, `what` naming the file.
SafetensorsHeader read_safetensors_header(const ReadAt& read_at, std::uint64_t file_size, const std::string& what);

/// Validates a header given its JSON bytes and the size of the whole file. `what` names the
/// file in errors.
SafetensorsHeader parse_safetensors_header(std::string_view json, std::uint64_t file_size, const std::string& what);

/// Validates the header of a whole safetensors file held in memory (size prefix, header and
/// data: `bytes.size()` is the file size). Same rules and errors as read_safetensors_header; the
/// entry point for fuzzing (tests/weights/fuzz/).
SafetensorsHeader parse_safetensors_bytes(std::string_view bytes, const std::string& what);

/// A tensor to write: raw little-endian bytes, C-contiguous.
struct TensorBytes {
  std::string name;
  DType dtype;
  std::vector<std::int64_t> shape;
  std::string_view data;  ///< must be numel * dtype_size bytes
};

/// The first 8 + N bytes (size prefix and padded JSON header) of the safetensors file holding
/// `tensors` and `metadata`; the data of the tensors, sorted by name, follows. Deterministic: tensors
/// are laid out sorted by name (whatever the input order), JSON has no whitespace and sorted
/// keys, the header is padded with spaces to a multiple of 8 bytes (as the reference writer
/// does), so the same tensors and metadata give the same bytes and the same SHA-256.
/// Throws mvc::Error(Exit::model) on duplicate names or a size mismatch.
std::string safetensors_header_bytes(const std::vector<TensorBytes>& tensors,
                                     const std::map<std::string, std::string>& metadata);

/// Writes a deterministic safetensors file atomically (temp file + fsync + rename).
void write_safetensors(const std::filesystem::path& path, std::vector<TensorBytes> tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace mvc::weights
