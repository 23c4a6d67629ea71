#include "util/sha256.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "mvc/error.h"
#include "util/fs.h"

namespace mvc::util {

namespace {
EVP_MD_CTX* ctx_of(void* p) { return static_cast<EVP_MD_CTX*>(p); }
}  // namespace

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || EVP_DigestInit_ex(ctx_of(ctx_), EVP_sha256(), nullptr) != 1)
    throw Error(Exit::failure, "sha256: cannot initialise OpenSSL digest");
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_of(ctx_)); }

void Sha256::update(const void* data, std::size_t n) {
  if (n && EVP_DigestUpdate(ctx_of(ctx_), data, n) != 1)
    throw Error(Exit::failure, "sha256: digest update failed");
}

std::string Sha256::hex_digest() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_of(ctx_), md, &len) != 1 || len != 32)
    throw Error(Exit::failure, "sha256: digest final failed");
  static const char* digits = "0123456789abcdef";
  std::string out(64, '0');
  for (unsigned i = 0; i < 32; ++i) {
    out[2 * i] = digits[md[i] >> 4];
    out[2 * i + 1] = digits[md[i] & 15];
  }
  return out;
}

std::string sha256_file(const std::filesystem::path& path, std::uint64_t* size_out) {
  Fd fd = open_read(path);
  Sha256 h;
  std::vector<char> buf(kIoBufferSize);
  std::uint64_t total = 0;
  for (;;) {
    std::size_t n = read_some(fd, buf.data(), buf.size(), path);
    if (n == 0) break;
    h.update(buf.data(), n);
    total += n;
  }
  if (size_out) *size_out = total;
  return h.hex_digest();
}

std::string sha256_hex(std::string_view bytes) {
  Sha256 h;
  h.update(bytes);
  return h.hex_digest();
}

bool is_sha256_hex(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace mvc::util
