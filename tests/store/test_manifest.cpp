// Manifests (store/manifest.h) and the ObjectStore's split path with a Splitter of its own
// (no weights format: the cuts are given), so that the store's rules are tested alone.
#include <catch2/catch.hpp>
#include <functional>

#include "mvc/error.h"
#include "store/manifest.h"
#include "store/object_store.h"
#include "support.h"
#include "util/sha256.h"

using namespace mvc;
using namespace mvc::test;

namespace {

Exit code_of(const std::function<void()>& f, std::string* msg = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (msg) *msg = e.what();
    return e.code();
  }
  return Exit::ok;
}

std::string bytes_of(std::size_t n, int seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 31 + seed * 7 + i / 977) % 251);
  return s;
}

/// A Splitter cutting every file at the given offsets, naming segment k "part k".
store::Splitter fixed_cuts(std::vector<std::uint64_t> cuts) {
  return store::Splitter{[cuts](const fs::path&, std::uint64_t) { return cuts; },
                         [cuts](const fs::path&, std::uint64_t, std::uint64_t begin, std::uint64_t) {
                           for (std::size_t k = 0; k < cuts.size(); ++k)
                             if (cuts[k] == begin) return "part " + std::to_string(k);
                           return std::string();
                         }};
}

}  // namespace

TEST_CASE("manifest: render and parse round-trip, and damage, a wrong file and a newer format are refused",
          "[store][manifest]") {
  store::Manifest m;
  m.file_sha256 = std::string(64, 'a');
  m.size = 30;
  m.segments = {{std::string(64, 'b'), 10}, {std::string(64, 'c'), 20}};
  std::string text = store::render_manifest(m);
  CHECK(text.rfind("mvc-manifest 1\nfile " + m.file_sha256 + " 30\nseg " + std::string(64, 'b') + " 10\n", 0) == 0);
  store::Manifest back = store::parse_manifest(text, m.file_sha256, "t");
  CHECK(back.file_sha256 == m.file_sha256);
  CHECK(back.size == 30);
  REQUIRE(back.segments.size() == 2);
  CHECK(back.segments[1].sha256 == std::string(64, 'c'));
  CHECK(back.offset(1) == 10);

  std::string msg;
  std::string flipped = text;
  flipped[flipped.find(" 10\n") + 1] = '9';  // a size changed: the checksum no longer matches
  CHECK(code_of([&] { store::parse_manifest(flipped, m.file_sha256, "t"); }, &msg) == Exit::integrity);
  CHECK(msg.find("manifest t is corrupt: its 'end' checksum does not match its text") != std::string::npos);
  CHECK(code_of([&] { store::parse_manifest(text.substr(0, text.size() - 10), m.file_sha256, "t"); }) ==
        Exit::integrity);
  CHECK(code_of([&] { store::parse_manifest(text, std::string(64, 'd'), "t"); }, &msg) == Exit::integrity);
  CHECK(msg.find("it describes file " + m.file_sha256) != std::string::npos);
  CHECK(code_of([&] { store::parse_manifest("mvc-manifest 2\nwhatever\n", "", "t"); }, &msg) == Exit::not_repo);
  CHECK(msg.find("manifest format 2 needs a newer mvc (this one reads format 1)") != std::string::npos);
  CHECK(code_of([&] { store::parse_manifest("hello\n", "", "t"); }) == Exit::integrity);
}

TEST_CASE(
    "object store: a file cut into segments is stored once per segment, rebuilt byte for byte, and a bad "
    "segment is named",
    "[store][manifest]") {
  TempDir tmp;
  store::ObjectStore st(tmp / "cache");
  st.set_splitter(fixed_cuts({0, 100, 5000}));
  std::string a = bytes_of(9000, 1), b = a;
  b.replace(6000, 10, "0123456789");  // only the last segment differs
  write_file(tmp / "a", a);
  write_file(tmp / "b", b);
  auto sa = st.put_file(tmp / "a");
  CHECK(sa.sha256 == util::sha256_hex(a));
  CHECK(sa.segments == 3);
  CHECK(sa.written == 9000);
  CHECK_FALSE(st.has_object(sa.sha256));
  CHECK(st.contains(sa.sha256));
  CHECK(st.complete(sa.sha256));
  CHECK(st.file_size(sa.sha256) == 9000u);
  auto sb = st.put_file(tmp / "b");
  CHECK(sb.written == 4000);  // the first two segments were there
  CHECK(st.list().size() == 4);
  CHECK(read_file(tmp / "cache/layout") == "mvc-cache-layout 2\n");
  auto again = st.put_file(tmp / "a");
  CHECK(again.existed);
  CHECK(again.written == 0);

  fs::create_directories(tmp / "out");
  util::TempFile t = st.copy_out_verified(sb.sha256, 9000, tmp / "out", "w");
  CHECK(read_file(t.path()) == b);
  CHECK(st.rehash(sa.sha256) == sa.sha256);
  st.verify(sb.sha256);

  // The middle segment corrupt: exit 4 naming it; absent: exit 5 naming it.
  auto m = st.manifest(sa.sha256);
  REQUIRE(m);
  fs::path mid = st.object_path(m->segments[1].sha256);
  fs::permissions(mid, fs::perms::owner_write, fs::perm_options::add);
  std::string bytes = read_file(mid);
  bytes[7] ^= 1;
  write_file(mid, bytes);
  std::string msg;
  CHECK(code_of([&] { st.copy_out_verified(sa.sha256, 9000, tmp / "out", "w"); }, &msg) == Exit::integrity);
  CHECK(msg.find("object " + sa.sha256 + " is corrupt: part 1 (object " + m->segments[1].sha256 + ")") !=
        std::string::npos);
  CHECK(code_of([&] { st.verify(sa.sha256); }) == Exit::integrity);
  fs::remove(mid);
  CHECK_FALSE(st.complete(sa.sha256));
  CHECK(code_of([&] { st.copy_out_verified(sa.sha256, 9000, tmp / "out", "w"); }, &msg) == Exit::missing);
  CHECK(msg.find("object " + sa.sha256 + ": part 1 (object " + m->segments[1].sha256 +
                 ", 4900 bytes) is not in the "
                 "cache") != std::string::npos);
  // Nothing left in the output directory but the earlier temp file.
  std::size_t n = 0;
  for (auto& e : fs::directory_iterator(tmp / "out")) n += e.is_regular_file();
  CHECK(n == 1);
}
