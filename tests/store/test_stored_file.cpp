#include <catch2/catch.hpp>

#include "mvc/error.h"
#include "store/object_store.h"
#include "store/stored_file.h"
#include "support.h"
#include "util/sha256.h"

using namespace mvc;
using namespace mvc::test;

namespace {

std::string pattern(std::size_t n, int seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>((i * 7 + i / 4096 + static_cast<std::size_t>(seed)) % 256);
  return s;
}

// A store whose Splitter cuts every file at 1000 and 5000 bytes: three segment objects.
store::ObjectStore split_store(const fs::path& root) {
  store::ObjectStore st(root);
  store::Splitter sp;
  sp.cuts = [](const fs::path&, std::uint64_t size) {
    return size > 5000 ? std::vector<std::uint64_t>{0, 1000, 5000} : std::vector<std::uint64_t>{};
  };
  st.set_splitter(sp);
  return st;
}

Exit code_of(const std::function<void()>& f, std::string& message) {
  try {
    f();
  } catch (const Error& e) {
    message = e.what();
    return e.code();
  }
  message.clear();
  return Exit::ok;
}

}  // namespace

TEST_CASE("StoredFile reads a file stored whole from its object, in place", "[store][stored_file]") {
  TempDir tmp;
  store::ObjectStore st(tmp / "cache");
  const std::string data = pattern(20000, 1);
  write_file(tmp / "w.bin", data);
  auto s = st.put_file(tmp / "w.bin");
  REQUIRE(s.segments == 0);
  store::StoredFile f(st, s.sha256);
  CHECK(f.size() == data.size());
  CHECK(f.path() == st.object_path(s.sha256));
  CHECK_FALSE(f.manifest());
  std::string buf;
  CHECK(f.view(100, 12000, buf) == data.substr(100, 11900));
  CHECK(buf.empty());  // a view of the mapped object, nothing copied
  std::string out(50, '\0');
  f.read(19950, 20000, out.data());
  CHECK(out == data.substr(19950));
  auto sp = f.span(10, 20);
  REQUIRE(sp);
  CHECK(sp->object == s.sha256);
  CHECK(sp->offset == 10);
  CHECK_THROWS_AS(f.view(0, 20001, buf), Error);

  // a plain file: the same reads, no span (it is not in the store)
  store::StoredFile p(tmp / "w.bin");
  CHECK(p.size() == data.size());
  CHECK(p.view(5, 9, buf) == data.substr(5, 4));
  CHECK_FALSE(p.span(5, 9));
  CHECK(p.sha256().empty());

  // neither an object nor a manifest: exit 5 naming it
  const std::string absent(64, 'a');
  std::string msg;
  CHECK(code_of([&] { store::StoredFile x(st, absent); }, msg) == Exit::missing);
  CHECK(msg.find("object " + absent + " is not in the cache") == 0);
}

TEST_CASE("StoredFile reads a file stored as segments from the segment objects, without rebuilding it",
          "[store][stored_file]") {
  TempDir tmp;
  store::ObjectStore st = split_store(tmp / "cache");
  const std::string data = pattern(9000, 2);
  write_file(tmp / "w.bin", data);
  auto s = st.put_file(tmp / "w.bin");
  REQUIRE(s.segments == 3);
  REQUIRE_FALSE(st.has_object(s.sha256));
  store::StoredFile f(st, s.sha256);
  CHECK(f.size() == 9000);
  CHECK(f.path().empty());
  REQUIRE(f.manifest());
  const auto& segs = f.manifest()->segments;
  CHECK(segs[1].sha256 == util::sha256_hex(data.substr(1000, 4000)));

  std::string buf;
  // within one segment: a view of its mapped object
  CHECK(f.view(1200, 4900, buf) == data.substr(1200, 3700));
  CHECK(buf.empty());
  auto sp = f.span(1200, 4900);
  REQUIRE(sp);
  CHECK(sp->object == segs[1].sha256);
  CHECK(sp->offset == 200);
  // across segments: copied, byte for byte; no span
  CHECK(f.view(900, 5100, buf) == data.substr(900, 4200));
  CHECK(buf.size() == 4200);
  CHECK_FALSE(f.span(900, 5100));
  std::string all(9000, '\0');
  f.read(0, 9000, all.data());
  CHECK(all == data);
  CHECK(std::distance(fs::directory_iterator(tmp / "cache"), fs::directory_iterator()) > 0);
  CHECK((!fs::exists(tmp / "cache/tmp") || fs::is_empty(tmp / "cache/tmp")));  // nothing rebuilt

  // another file sharing the middle segment: same span there, different elsewhere
  std::string other = data;
  other[10] ^= 1;
  other[8000] ^= 1;
  write_file(tmp / "w2.bin", other);
  auto s2 = st.put_file(tmp / "w2.bin");
  store::StoredFile g(st, s2.sha256);
  CHECK(g.span(1200, 4900) == f.span(1200, 4900));
  CHECK(g.span(0, 100) != f.span(0, 100));
  CHECK(g.span(6000, 7000) != f.span(6000, 7000));
}

TEST_CASE("StoredFile: a missing segment object is exit 5, a truncated one exit 4, both naming the bytes",
          "[store][stored_file]") {
  TempDir tmp;
  store::ObjectStore st = split_store(tmp / "cache");
  const std::string data = pattern(9000, 3);
  write_file(tmp / "w.bin", data);
  auto s = st.put_file(tmp / "w.bin");
  const auto m = *st.manifest(s.sha256);
  const std::string seg = m.segments[2].sha256;
  st.remove(seg);
  store::StoredFile f(st, s.sha256);  // the manifest is there: opening reads no segment
  std::string buf, msg;
  CHECK(f.view(0, 1000, buf) == data.substr(0, 1000));  // the others still read
  CHECK(code_of([&] { f.view(6000, 7000, buf, "m/w.safetensors at v1: tensor 'fc.weight'"); }, msg) == Exit::missing);
  CHECK(msg == "m/w.safetensors at v1: tensor 'fc.weight': object " + seg + " (4000 bytes, segment 3 of 3 of file " +
                   s.sha256 + ") is not in the cache");

  // the object back, truncated: exit 4
  write_file(st.object_path(seg), data.substr(5000, 3999));
  store::StoredFile g(st, s.sha256);
  CHECK(code_of([&] { g.view(6000, 7000, buf, "t"); }, msg) == Exit::integrity);
  CHECK(msg == "t: object " + seg + " is corrupt: it holds 3999 bytes, not the 4000 its manifest records (" +
                   st.object_path(seg).string() + ")");
}
