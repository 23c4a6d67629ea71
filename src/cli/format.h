// Small formatting helpers shared by the CLI commands.
#pragma once

#include <cstdint>
#include <string>

namespace mvc::cli {

/// First 8 hex digits of an object name.
inline std::string short_sha(const std::string& sha) { return sha.substr(0, 8); }
/// "models/clf", or "." for the repository root.
inline std::string display_dir(const std::string& dir) { return dir.empty() ? "." : dir; }
/// Thousands separators: 1234567 → "1,234,567".
std::string group_digits(std::uint64_t n);

}  // namespace mvc::cli
