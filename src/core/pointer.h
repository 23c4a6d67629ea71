// The pointer file `<weights>.mvc` that git keeps in place of a weights file (docs/repository-format.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

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

/// The pointer format this mvc reads and writes (docs/repository-format.md, "Pointer file").
inline constexpr int kPointerFormat = 1;

struct Pointer {
  int format = kPointerFormat;
  std::string path;                  ///< weights file, relative to the model directory
  std::string sha256;                ///< 64 lowercase hex
  std::uint64_t size = 0;            ///< bytes
  std::string kind = "safetensors";  ///< "safetensors" or "torch-zip"
  std::uint64_t tensors = 0;
  std::uint64_t parameters = 0;  ///< elements of all tensors of the state_dict that are parameters
  LoadOptions load;
  std::optional<ExampleRecord> example;

  /// TOML text with a stable key order (format, path, sha256, size, kind, tensors,
  /// parameters, [load], [example]).
  std::string to_toml() const;
};

/// Parses and validates pointer text. Throws mvc::Error(Exit::not_repo) "<name>: pointer format
/// N needs a newer mvc" for a format above kPointerFormat, and mvc::Error(Exit::model)
/// "<name>: <why>" for TOML errors, a format below 1, a path that is absolute, contains "..", a
/// backslash or a NUL, a sha256 that is not 64 lowercase hex digits, a missing key.
Pointer parse_pointer(const std::string& text, const std::string& name);

/// True when `rel` is a safe relative path of one or more components without "." or "..".
bool safe_relative_path(const std::string& rel);

}  // namespace mvc::core
