// The pointer file `<weights>.mvc` that git keeps in place of a weights file (docs/repository-format.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mvc::core {

/// Suffix of pointer files: "weights.safetensors" → "weights.safetensors.mvc".
inline constexpr const char* kPointerSuffix = ".mvc";

struct LoadOptions {
  std::string key;           ///< state dict inside a wrapping checkpoint ("" = none)
  std::string strip_prefix;  ///< e.g. "module."
  std::string cast;          ///< dtype to cast floating tensors to ("" = none)
  bool empty() const { return key.empty() && strip_prefix.empty() && cast.empty(); }
};

struct ExampleRecord {
  std::string input;   ///< sha256 of the example input object
  std::string output;  ///< sha256 of the recorded output object
  double atol = 1e-5;
};

/// The newest pointer format this mvc reads (docs/repository-format.md, "Pointer file"). It
/// writes format 1 for one weights file, format 2 only for several (sharded weights) and
/// format 3 only for a version that also stores its optimizer state (`[optimizer]`).
inline constexpr int kPointerFormat = 3;
/// The optimizer state of a version (docs/repository-format.md, "Optimizer state"): its tensors
/// (stored in the cache, like weights, named in the pointer's `[optimizer]` table) and its
/// param groups (a git file, like hparams.toml). Never a weights file.
inline constexpr const char* kOptimizerStateFile = "optimizer.safetensors";
inline constexpr const char* kOptimizerFile = "optimizer.toml";

/// One weights file of a version (format 2's `[[files]]`; format 1's top-level keys).
struct WeightsFileRecord {
  std::string path;                  ///< relative to the model directory
  std::string sha256;                ///< 64 lowercase hex
  std::uint64_t size = 0;            ///< bytes (64-bit: files over 4 GiB)
  std::string kind = "safetensors";  ///< "safetensors" or "torch-zip"
  std::uint64_t tensors = 0;         ///< tensors in this file
};

/// One digest of sharded weights: SHA-256 (lowercase hex) of the lines "PATH SHA256\n", one per
/// file in the pointer's order (docs/repository-format.md, "Pointer file").
std::string shards_digest(const std::vector<std::pair<std::string, std::string>>& files);

struct Pointer {
  int format = 1;  ///< as read; to_toml() writes 1 for one file, 2 for several
  // The first weights file (format 1: the only one), so that code about one file reads it here.
  std::string path;                  ///< weights file, relative to the model directory
  std::string sha256;                ///< 64 lowercase hex
  std::uint64_t size = 0;            ///< bytes
  std::string kind = "safetensors";  ///< "safetensors" or "torch-zip"
  std::uint64_t tensors = 0;         ///< tensors of the whole state_dict (every file)
  std::uint64_t parameters = 0;      ///< elements of all tensors of the state_dict that are parameters
  /// Every weights file, in path order for shards; parse_pointer fills it for format 1 too
  /// (one entry equal to path/sha256/size/kind). Empty in a pointer built by hand with
  /// path/sha256/size/kind only: files() then gives that one.
  std::vector<WeightsFileRecord> shards;
  LoadOptions load;
  std::optional<ExampleRecord> example;
  /// The optimizer state's tensors file (format 3's `[optimizer]` table: path, sha256, size,
  /// kind "safetensors", tensors); nullopt when the version stores none.
  std::optional<WeightsFileRecord> optimizer;

  /// Every file whose object the version needs in the work tree: files(), then the optimizer
  /// state's. What commit stores, checkout restores, status compares and push, fetch, gc and
  /// fsck keep; loading weights reads files() only.
  std::vector<WeightsFileRecord> stored_files() const;

  /// The weights files: `shards`, or the one file of the top-level keys.
  std::vector<WeightsFileRecord> files() const;
  /// Sets `shards` and the top-level path/sha256/size/kind from its first file.
  void set_files(std::vector<WeightsFileRecord> files);
  bool sharded() const { return shards.size() > 1; }
  /// What names the weights of this version in `log`, `diff` and `report`: `sha256` for one
  /// file; for sharded weights, shards_digest of every file, so that a change in any shard shows.
  std::string weights_digest() const;
  /// Total bytes of every file.
  std::uint64_t total_size() const;

  /// TOML text with a stable key order. One file: format 1 (format, path, sha256, size, kind,
  /// tensors, parameters, [load], [example]), byte for byte as before format 2 existed.
  /// Several: format 2 (format, tensors, parameters, [[files]] with path, sha256, size, kind,
  /// tensors each, [load], [example]). With optimizer state: format 3, format 2's text (its
  /// [[files]] even for one file) followed by [optimizer].
  std::string to_toml() const;
};

/// Parses and validates pointer text. Throws mvc::Error(Exit::not_repo) "<name>: pointer format
/// N needs a newer mvc (this one reads format M)" for a format above `max_format` (tests pass a
/// lower one to act as an older mvc), and mvc::Error(Exit::model) "<name>: <why>" for TOML
/// errors, a format below 1, a path that is absolute, contains "..", a backslash or a NUL, a
/// sha256 that is not 64 lowercase hex digits, a missing key, format 2 without `[[files]]`, two
/// files with one path, a shard that is not safetensors, an [optimizer] table outside format 3
/// or one whose path is a weights file's or whose kind is not safetensors.
Pointer parse_pointer(const std::string& text, const std::string& name, int max_format = kPointerFormat);

/// True when `rel` is a safe relative path of one or more components without "." or "..".
bool safe_relative_path(const std::string& rel);

}  // namespace mvc::core
