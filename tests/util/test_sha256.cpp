#include <catch2/catch.hpp>

#include "mvc/error.h"
#include "support.h"
#include "util/fs.h"
#include "util/sha256.h"

using namespace mvc;
using namespace mvc::test;

TEST_CASE("SHA-256 matches the FIPS 180-4 test vectors", "[util][sha256]") {
  CHECK(util::sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(util::sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(util::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST_CASE("streamed file hashing equals sha256sum across buffer boundaries", "[util][sha256]") {
  TempDir tmp;
  std::string data;
  for (std::size_t i = 0; i < util::kIoBufferSize * 2 + 12345; ++i) data.push_back(static_cast<char>((i * 131) % 251));
  write_file(tmp / "f", data);
  std::uint64_t size = 0;
  std::string h = util::sha256_file(tmp / "f", &size);
  CHECK(size == data.size());
  CHECK(h == run({"sha256sum", (tmp / "f").string()}).out.substr(0, 64));
  CHECK(h == util::sha256_hex(data));
}

TEST_CASE("object names are exactly 64 lowercase hex digits", "[util][sha256]") {
  CHECK(util::is_sha256_hex(std::string(64, 'a')));
  CHECK_FALSE(util::is_sha256_hex(std::string(64, 'A')));
  CHECK_FALSE(util::is_sha256_hex(std::string(63, 'a')));
  CHECK_FALSE(util::is_sha256_hex("../" + std::string(61, 'a')));
}

TEST_CASE("write_file_atomic replaces a symlink instead of writing through it", "[util][fs]") {
  TempDir tmp;
  write_file(tmp / "target", "keep");
  fs::create_symlink(tmp / "target", tmp / "link");
  util::write_file_atomic(tmp / "link", "new");
  CHECK_FALSE(fs::is_symlink(tmp / "link"));
  CHECK(read_file(tmp / "link") == "new");
  CHECK(read_file(tmp / "target") == "keep");
  std::size_t n = 0;
  for (auto& e : fs::directory_iterator(tmp.path())) (void)e, ++n;
  CHECK(n == 2);  // no temp file left
}

TEST_CASE("reading a missing file names it", "[util][fs]") {
  try {
    util::read_file("/nonexistent/x");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == Exit::failure);
    CHECK(std::string(e.what()).find("/nonexistent/x") != std::string::npos);
  }
}
