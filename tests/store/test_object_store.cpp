#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "mvc/error.h"
#include "store/object_store.h"
#include "support.h"
#include "util/sha256.h"

using namespace mvc;
using namespace mvc::test;

namespace {

std::size_t count_files(const fs::path& dir) {
  std::size_t n = 0;
  if (!fs::exists(dir)) return 0;
  for (auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) ++n;
  return n;
}

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 7 + i / 4096) % 256);
  return s;
}

}  // namespace

TEST_CASE("put_file stores the bytes under their SHA-256, read-only, once", "[store]") {
  TempDir tmp;
  store::ObjectStore st(tmp / "cache");
  std::string data = pattern(3 * 1024 * 1024 + 17);
  write_file(tmp / "w.bin", data);
  auto a = st.put_file(tmp / "w.bin");
  CHECK(a.sha256 == util::sha256_hex(data));
  CHECK(a.size == data.size());
  CHECK_FALSE(a.existed);
  fs::path obj = tmp / "cache/objects/sha256" / a.sha256.substr(0, 2) / a.sha256.substr(2);
  CHECK(st.object_path(a.sha256) == obj);
  CHECK(read_file(obj) == data);
  CHECK((fs::status(obj).permissions() & fs::perms::all) ==
        (fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read));
  auto b = st.put_file(tmp / "w.bin");
  CHECK(b.existed);
  CHECK(b.sha256 == a.sha256);
  CHECK(count_files(tmp / "cache") == 1);
  CHECK(count_files(tmp / "cache/tmp") == 0);
}

TEST_CASE("object paths are only built from valid names", "[store]") {
  store::ObjectStore st("/x");
  CHECK_THROWS_AS(st.object_path("../../etc/passwd"), Error);
  CHECK_THROWS_AS(st.object_path(std::string(64, 'G')), Error);
}

TEST_CASE("a source that shrinks while it is read leaves no object and no temp file", "[store]") {
  TempDir tmp;
  store::ObjectStore st(tmp / "cache");
  write_file(tmp / "w.bin", pattern(4 * 1024 * 1024));
  bool truncated = false;
  auto shrink = [&](std::uint64_t done) {
    if (!truncated) {
      fs::resize_file(tmp / "w.bin", 1024 * 1024 + 5);
      truncated = true;
    }
  };
  try {
    st.put_file(tmp / "w.bin", shrink);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == Exit::failure);
    CHECK(std::string(e.what()).find("changed while being read") != std::string::npos);
  }
  CHECK(truncated);
  CHECK(count_files(tmp / "cache") == 0);
}

TEST_CASE("a write that fails half-way (file size limit) leaves no object and no temp file", "[store]") {
  TempDir tmp;
  write_file(tmp / "w.bin", pattern(3 * 1024 * 1024));
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl {
      1024 * 1024, 1024 * 1024
    };
    setrlimit(RLIMIT_FSIZE, &rl);
    store::ObjectStore st(tmp / "cache");
    try {
      st.put_file(tmp / "w.bin");
    } catch (const Error& e) {
      _exit(std::string(e.what()).find("write failed") != std::string::npos ? 42 : 43);
    }
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 42);
  CHECK(count_files(tmp / "cache") == 0);
}

TEST_CASE("copy_out_verified: good copy, corrupt object (exit 4), missing object (exit 5)", "[store]") {
  TempDir tmp;
  store::ObjectStore st(tmp / "cache");
  std::string data = pattern(100000);
  write_file(tmp / "w.bin", data);
  auto s = st.put_file(tmp / "w.bin");
  fs::create_directories(tmp / "out");
  {
    auto t = st.copy_out_verified(s.sha256, s.size, tmp / "out", "w");
    CHECK(read_file(t.path()) == data);
    t.commit_to(tmp / "out/w");
  }
  CHECK(read_file(tmp / "out/w") == data);

  fs::path obj = st.object_path(s.sha256);
  fs::permissions(obj, fs::perms::owner_write, fs::perm_options::add);
  std::string bad = data;
  bad[500] ^= 0x40;
  write_file(obj, bad);
  try {
    st.copy_out_verified(s.sha256, s.size, tmp / "out", "w");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == Exit::integrity);
    CHECK(std::string(e.what()).find(s.sha256) != std::string::npos);
  }
  CHECK_THROWS_AS(st.verify(s.sha256), Error);
  fs::remove(obj);
  try {
    st.copy_out_verified(s.sha256, s.size, tmp / "out", "w");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == Exit::missing);
  }
  CHECK(count_files(tmp / "out") == 1);  // only the first, committed copy
}
