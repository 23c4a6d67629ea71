#include "store/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <ctime>

#include "mvc/error.h"
#include "util/sha256.h"

namespace mvc::store::sigv4 {

namespace {

std::string hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
            data.size(), out, &len))
    throw Error(Exit::failure, "HMAC-SHA256 failed (OpenSSL)");
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string hex(std::string_view bytes) {
  static const char* d = "0123456789abcdef";
  std::string s;
  s.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    s.push_back(d[c >> 4]);
    s.push_back(d[c & 15]);
  }
  return s;
}

std::string trim(const std::string& v) {
  // Trim and collapse sequential spaces, as the signing process asks.
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

}  // namespace

std::string uri_encode(std::string_view s, bool encode_slash) {
  static const char* d = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~' || (c == '/' && !encode_slash)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(d[c >> 4]);
      out.push_back(d[c & 15]);
    }
  }
  return out;
}

std::string canonical_request(const Request& r) {
  std::string out = r.method + "\n" + uri_encode(r.path.empty() ? "/" : r.path, false) + "\n";
  std::map<std::string, std::string> q;
  for (auto& [k, v] : r.query) q[uri_encode(k, true)] = uri_encode(v, true);
  bool first = true;
  for (auto& [k, v] : q) {
    if (!first) out += "&";
    first = false;
    out += k + "=" + v;
  }
  out += "\n";
  std::string signed_headers;
  for (auto& [k, v] : r.headers) {
    out += k + ":" + trim(v) + "\n";
    signed_headers += (signed_headers.empty() ? "" : ";") + k;
  }
  out += "\n" + signed_headers + "\n" + r.payload_sha256;
  return out;
}

std::string string_to_sign(const std::string& canonical, const std::string& amz_date, const std::string& region,
                           const std::string& service) {
  std::string scope = amz_date.substr(0, 8) + "/" + region + "/" + service + "/aws4_request";
  return "AWS4-HMAC-SHA256\n" + amz_date + "\n" + scope + "\n" + util::sha256_hex(canonical);
}

std::string authorization(const Request& r, const Credentials& c, const std::string& amz_date,
                          const std::string& region, const std::string& service) {
  std::string date = amz_date.substr(0, 8);
  std::string k = hmac("AWS4" + c.secret_access_key, date);
  k = hmac(k, region);
  k = hmac(k, service);
  k = hmac(k, "aws4_request");
  std::string sts = string_to_sign(canonical_request(r), amz_date, region, service);
  std::string signed_headers;
  for (auto& [name, v] : r.headers) signed_headers += (signed_headers.empty() ? "" : ";") + name;
  return "AWS4-HMAC-SHA256 Credential=" + c.access_key_id + "/" + date + "/" + region + "/" + service +
         "/aws4_request, SignedHeaders=" + signed_headers + ", Signature=" + hex(hmac(k, sts));
}

std::string amz_date_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

}  // namespace mvc::store::sigv4
