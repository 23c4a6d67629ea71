// Streaming SHA-256 (FIPS 180-4) over OpenSSL's EVP interface, which uses the CPU's SHA
// extensions where present.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace mvc::util {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, std::size_t n);
  void update(std::string_view s) { update(s.data(), s.size()); }
  /// The digest as 64 lowercase hex characters. Call once.
  std::string hex_digest();

 private:
  void* ctx_;  // EVP_MD_CTX*
};

/// SHA-256 of a file's bytes, as 64 lowercase hex characters. Throws mvc::Error(failure) on I/O error.
std::string sha256_file(const std::filesystem::path& path, std::uint64_t* size_out = nullptr);

/// SHA-256 of a byte string, as 64 lowercase hex characters.
std::string sha256_hex(std::string_view bytes);

/// True when `s` is exactly 64 lowercase hex digits (a valid object name).
bool is_sha256_hex(std::string_view s);

}  // namespace mvc::util
