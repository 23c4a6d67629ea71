// AWS SigV4: AWS's published S3 example, and equality with botocore's signer for fixed
// requests (PUT with a body and a query, GET with a session token).
#include <catch2/catch.hpp>

#include "cli/remote_support.h"
#include "store/sigv4.h"
#include "util/sha256.h"

using namespace mvc;
using namespace mvc::test;

TEST_CASE("SigV4: AWS's GET Object example signs to the published signature", "[store][sigv4]") {
  // S3 API reference, "Authenticating Requests: Using the Authorization Header", Example: GET Object.
  store::sigv4::Request r;
  r.method = "GET";
  r.path = "/test.txt";
  r.payload_sha256 = util::sha256_hex("");
  r.headers = {{"host", "examplebucket.s3.amazonaws.com"},
               {"range", "bytes=0-9"},
               {"x-amz-content-sha256", r.payload_sha256},
               {"x-amz-date", "20130524T000000Z"}};
  store::sigv4::Credentials c{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
  CHECK(store::sigv4::authorization(r, c, "20130524T000000Z", "us-east-1") ==
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST_CASE("SigV4: uri_encode keeps unreserved characters and optionally '/'", "[store][sigv4]") {
  CHECK(store::sigv4::uri_encode("a b/c+d~e_f.g-h", false) == "a%20b/c%2Bd~e_f.g-h");
  CHECK(store::sigv4::uri_encode("a/b=c&d", true) == "a%2Fb%3Dc%26d");
}

namespace {

std::string mvc_auth(const std::string& method, const std::string& host, const std::string& path,
                     const std::map<std::string, std::string>& query, const std::string& body,
                     const std::string& token) {
  store::sigv4::Request r;
  r.method = method;
  r.path = path;
  r.query = query;
  r.payload_sha256 = util::sha256_hex(body);
  r.headers = {{"host", host}, {"x-amz-content-sha256", r.payload_sha256}, {"x-amz-date", "20260102T030405Z"}};
  if (!token.empty()) r.headers["x-amz-security-token"] = token;
  store::sigv4::Credentials c{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token};
  return store::sigv4::authorization(r, c, "20260102T030405Z", "us-east-1");
}

}  // namespace

TEST_CASE("SigV4: mvc's signature equals botocore's for a multipart part PUT", "[store][sigv4][botocore]") {
  TempDir d;
  std::string body = "part two of an object\n";
  write_file(d / "body", body);
  std::string key = "/mvc-test/team/models/objects/sha256/ab/" + std::string(62, 'c');
  RunResult py = s3_client({"sign", "PUT", "http://127.0.0.1:4568" + key + "?partNumber=2&uploadId=x%2By%3D%3D",
                            (d / "body").string(), "-"});
  INFO(py.err);
  REQUIRE(py.exit_code == 0);
  std::string mine = mvc_auth("PUT", "127.0.0.1:4568", key, {{"partNumber", "2"}, {"uploadId", "x+y=="}}, body, "");
  CHECK(mine + "\n" == py.out);
}

TEST_CASE("SigV4: mvc's signature equals botocore's for a GET with a session token", "[store][sigv4][botocore]") {
  std::string key = "/objects/sha256/01/" + std::string(62, 'f');
  RunResult py =
      s3_client({"sign", "GET", "https://mvc-test.s3.us-east-1.amazonaws.com" + key, "-", "FwoGZXIvYXdzEXAMPLE/+="});
  INFO(py.err);
  REQUIRE(py.exit_code == 0);
  std::string mine = mvc_auth("GET", "mvc-test.s3.us-east-1.amazonaws.com", key, {}, "", "FwoGZXIvYXdzEXAMPLE/+=");
  CHECK(mine + "\n" == py.out);
}
