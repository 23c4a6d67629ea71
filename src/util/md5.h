// MD5 (OpenSSL EVP), for reading other tools' records: DVC names its cache objects by the MD5
// of their bytes (core/migrate.h). Never used for mvc's own objects (SHA-256).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mvc::util {

class Md5 {
 public:
  Md5();
  ~Md5();
  Md5(const Md5&) = delete;
  Md5& operator=(const Md5&) = delete;

  void update(const void* data, std::size_t n);
  void update(std::string_view s) { update(s.data(), s.size()); }
  /// The digest as 32 lowercase hex characters. Call once.
  std::string hex_digest();

 private:
  void* ctx_;  // EVP_MD_CTX*
};

}  // namespace mvc::util
