#include "util/md5.h"

#include <openssl/evp.h>

#include "mvc/error.h"

namespace mvc::util {

namespace {
EVP_MD_CTX* ctx_of(void* p) { return static_cast<EVP_MD_CTX*>(p); }
}  // namespace

Md5::Md5() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || EVP_DigestInit_ex(ctx_of(ctx_), EVP_md5(), nullptr) != 1)
    throw Error(Exit::failure, "md5: cannot initialise the digest");
}

Md5::~Md5() { EVP_MD_CTX_free(ctx_of(ctx_)); }

void Md5::update(const void* data, std::size_t n) {
  if (n && EVP_DigestUpdate(ctx_of(ctx_), data, n) != 1) throw Error(Exit::failure, "md5: digest update failed");
}

std::string Md5::hex_digest() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_of(ctx_), md, &len) != 1 || len != 16) throw Error(Exit::failure, "md5: digest failed");
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

}  // namespace mvc::util
