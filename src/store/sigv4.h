// AWS Signature Version 4 for S3 requests, after AWS's "Signature Version 4 signing process"
// and "Authenticating Requests: Using the Authorization Header" (S3 API reference):
//   CanonicalRequest = METHOD \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n
//                      SignedHeaders \n HexPayloadHash
//   StringToSign     = "AWS4-HMAC-SHA256" \n AmzDate \n Date/Region/s3/aws4_request \n
//                      Hex(SHA256(CanonicalRequest))
//   SigningKey       = HMAC(HMAC(HMAC(HMAC("AWS4" + Secret, Date), Region), "s3"), "aws4_request")
// HMAC-SHA256 and SHA-256 come from OpenSSL. Checked in the tests against botocore's signer
// and AWS's published example.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace mvc::store::sigv4 {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  ///< "" = none; else sent and signed as x-amz-security-token
};

struct Request {
  std::string method;                          ///< "GET", "PUT", ...
  std::string path;                            ///< raw (not encoded) path, "/bucket/key" or "/key"
  std::map<std::string, std::string> query;    ///< raw names and values ("uploads" → "")
  std::map<std::string, std::string> headers;  ///< lowercase names → values; must include host
  std::string payload_sha256;                  ///< hex, or "UNSIGNED-PAYLOAD"
};

/// RFC 3986 percent-encoding as S3 wants it (unreserved A-Z a-z 0-9 - _ . ~ kept; '/' kept
/// unless `encode_slash`).
std::string uri_encode(std::string_view s, bool encode_slash);

std::string canonical_request(const Request& r);
std::string string_to_sign(const std::string& canonical, const std::string& amz_date, const std::string& region,
                           const std::string& service = "s3");
/// The Authorization header value for `r` at `amz_date` ("20130524T000000Z"). `r.headers`
/// must already hold x-amz-date, x-amz-content-sha256 (and x-amz-security-token when used):
/// every header in it is signed.
std::string authorization(const Request& r, const Credentials& c, const std::string& amz_date,
                          const std::string& region, const std::string& service = "s3");

/// Current UTC time as "YYYYMMDDTHHMMSSZ".
std::string amz_date_now();

}  // namespace mvc::store::sigv4
