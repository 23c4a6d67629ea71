// The stat cache (util/stat_cache.h): hits only for unchanged stat data, and never for a racily
// clean entry (git's racy-git problem: a file changed within the same timestamp tick as it was
// hashed, keeping its size, must be rehashed).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include "support.h"
#include "util/fs.h"
#include "util/sha256.h"
#include "util/stat_cache.h"

using namespace mvc;
using namespace mvc::test;

namespace {

constexpr std::int64_t kSec = 1000000000LL;
const std::string kShaA = std::string(64, 'a');
const std::string kShaB = std::string(64, 'b');

struct stat fake_stat(std::int64_t mtime_ns, std::int64_t ctime_ns, std::uint64_t size = 100, std::uint64_t ino = 7) {
  struct stat st {};
  st.st_mode = S_IFREG | 0644;
  st.st_dev = 3;
  st.st_ino = ino;
  st.st_size = static_cast<off_t>(size);
  st.st_mtim.tv_sec = mtime_ns / kSec;
  st.st_mtim.tv_nsec = mtime_ns % kSec;
  st.st_ctim.tv_sec = ctime_ns / kSec;
  st.st_ctim.tv_nsec = ctime_ns % kSec;
  return st;
}

struct stat lstat_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st;
}

/// Sets a file's mtime (and atime) to `ns` since the epoch.
void set_mtime(const fs::path& p, std::int64_t ns) {
  struct timespec ts[2];
  ts[0].tv_sec = ts[1].tv_sec = ns / kSec;
  ts[0].tv_nsec = ts[1].tv_nsec = ns % kSec;
  REQUIRE(::utimensat(AT_FDCWD, p.c_str(), ts, 0) == 0);
}

}  // namespace

TEST_CASE("stat cache: a hit needs the same inode, size, mtime and ctime", "[util][stat_cache]") {
  TempDir tmp;
  util::StatCache c(tmp / "state" / "stat-cache");
  const std::int64_t t = 1700000000 * kSec + 123456789;
  struct stat st = fake_stat(t, t);
  c.record("models/a/w.safetensors", st, kShaA, t + 5 * kSec);
  CHECK(c.lookup("models/a/w.safetensors", st) == kShaA);
  CHECK_FALSE(c.lookup("models/b/w.safetensors", st));
  CHECK_FALSE(c.lookup("models/a/w.safetensors", fake_stat(t + 1, t)));      // mtime, 1 ns later
  CHECK_FALSE(c.lookup("models/a/w.safetensors", fake_stat(t, t + 1)));      // ctime
  CHECK_FALSE(c.lookup("models/a/w.safetensors", fake_stat(t, t, 101)));     // size
  CHECK_FALSE(c.lookup("models/a/w.safetensors", fake_stat(t, t, 100, 8)));  // inode (file replaced)
  struct stat dir = st;
  dir.st_mode = S_IFDIR | 0755;
  CHECK_FALSE(c.lookup("models/a/w.safetensors", dir));
  c.erase("models/a/w.safetensors");
  CHECK_FALSE(c.lookup("models/a/w.safetensors", st));
}

TEST_CASE("stat cache: an entry hashed in its file's mtime tick is racily clean and never trusted",
          "[util][stat_cache]") {
  TempDir tmp;
  util::StatCache c(tmp / "stat-cache");
  const std::int64_t t = 1700000000 * kSec;
  struct stat st = fake_stat(t, t);
  // Hashing began in the same tick the file was last written: a write later in that tick
  // would leave size and mtime unchanged, so the entry must not answer.
  c.record("w", st, kShaA, t);
  CHECK_FALSE(c.lookup("w", st));
  // An mtime in the future (clock skew, touch -d) is never trusted either.
  c.record("w", st, kShaA, t - kSec);
  CHECK_FALSE(c.lookup("w", st));
  // Hashed strictly after the last write: trusted.
  c.record("w", st, kShaA, t + 1);
  CHECK(c.lookup("w", st) == kShaA);
}

TEST_CASE("stat cache: entries survive a save and reload, unless not older than the cache file", "[util][stat_cache]") {
  TempDir tmp;
  fs::path file = tmp / "state" / "stat-cache";
  const std::int64_t t = 1700000000 * kSec;
  struct stat a = fake_stat(t, t, 100, 1), b = fake_stat(t + 10 * kSec, t + 10 * kSec, 100, 2);
  {
    util::StatCache c(file);
    c.record("a", a, kShaA, t + kSec);
    c.record("b", b, kShaB, t + 11 * kSec);
    c.save();
  }
  REQUIRE(fs::exists(file));
  {
    util::StatCache c(file);  // written now: both mtimes are older
    CHECK(c.size() == 2);
    CHECK(c.lookup("a", a) == kShaA);
    CHECK(c.lookup("b", b) == kShaB);
  }
  // git's rule: the cache file was written in b's mtime tick (a 1 s filesystem, say), so b could
  // have changed after it was hashed without changing its stat data.
  set_mtime(file, t + 10 * kSec);
  {
    util::StatCache c(file);
    CHECK(c.lookup("a", a) == kShaA);
    CHECK_FALSE(c.lookup("b", b));
    // Saving again must not launder b into a newer cache file.
    c.record("c", fake_stat(t, t, 5, 3), kShaA, t + kSec);
    c.save();
  }
  {
    util::StatCache c(file);
    CHECK(c.lookup("a", a) == kShaA);
    CHECK_FALSE(c.lookup("b", b));
    CHECK(c.size() == 2);  // a and c
  }
}

TEST_CASE("stat cache: a malformed or torn cache file is an empty cache", "[util][stat_cache]") {
  TempDir tmp;
  fs::path file = tmp / "stat-cache";
  const std::int64_t t = 1700000000 * kSec;
  struct stat a = fake_stat(t, t);
  write_file(file, "not a stat cache\n" + kShaA + " 3 7 100 " + std::to_string(t) + " " + std::to_string(t) + " " +
                       std::to_string(t + kSec) + " a\n");
  CHECK(util::StatCache(file).size() == 0);
  std::string good = "mvc-stat-cache 1\n" + kShaA + " 3 7 100 " + std::to_string(t) + " " + std::to_string(t) + " " +
                     std::to_string(t + kSec) + " a\n";
  write_file(file, good + "zz" + kShaB.substr(2) + " 3 7 100 1 1 2 bad-hex\n" + kShaB + " 3 x 100 1 1 2 bad-number\n" +
                       kShaB + " 3 7 100 1 1 2 torn-without-newline");
  util::StatCache c(file);
  CHECK(c.size() == 1);
  CHECK(c.lookup("a", a) == kShaA);
}

TEST_CASE("stat cache on real files: same size, same mtime, new bytes are rehashed", "[util][stat_cache]") {
  TempDir tmp;
  fs::path f = tmp / "w.bin";
  write_file(f, std::string(4096, 'x'));
  std::this_thread::sleep_for(std::chrono::milliseconds(30));  // leave the file's mtime tick
  util::StatCache c(tmp / "stat-cache");
  std::int64_t hashed_at = util::coarse_now_ns();
  struct stat before = lstat_of(f);
  std::string sha = util::sha256_file(f);
  c.record("w.bin", before, sha, hashed_at);
  c.save();
  util::StatCache reloaded(tmp / "stat-cache");
  CHECK(reloaded.lookup("w.bin", lstat_of(f)) == sha);

  // Same size, and the mtime put back to exactly what it was: the ctime still moved.
  write_file(f, std::string(4095, 'x') + "y");
  set_mtime(f, util::timespec_ns(before.st_mtim));
  struct stat now = lstat_of(f);
  REQUIRE(now.st_size == before.st_size);
  REQUIRE(util::timespec_ns(now.st_mtim) == util::timespec_ns(before.st_mtim));
  CHECK_FALSE(reloaded.lookup("w.bin", now));

  // A file written in the tick its hashing began is racy: no entry, so the next look rehashes.
  util::StatCache racy(tmp / "stat-cache-2");
  write_file(f, std::string(4096, 'z'));
  racy.record("w.bin", lstat_of(f), util::sha256_file(f), util::timespec_ns(lstat_of(f).st_mtim));
  CHECK_FALSE(racy.lookup("w.bin", lstat_of(f)));
}
