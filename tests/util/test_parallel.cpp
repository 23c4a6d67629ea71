// util::parallel_for (hashing several weights files at once) and util::copy_and_hash (commit's
// copy in the kernel with the hash behind it).
#include <catch2/catch.hpp>

#include <atomic>
#include <set>
#include <stdexcept>
#include <thread>

#include "mvc/error.h"
#include "support.h"
#include "util/fs.h"
#include "util/parallel.h"
#include "util/sha256.h"

using namespace mvc;
using namespace mvc::test;

TEST_CASE("parallel_for runs every index once, on several threads", "[util][parallel]") {
  std::vector<std::atomic<int>> hits(50);
  std::mutex m;
  std::set<std::thread::id> threads;
  util::parallel_for(hits.size(), [&](std::size_t i) {
    ++hits[i];
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    std::lock_guard lk(m);
    threads.insert(std::this_thread::get_id());
  });
  for (auto& h : hits) CHECK(h == 1);
  if (std::thread::hardware_concurrency() > 1) CHECK(threads.size() > 1);
  util::parallel_for(0, [](std::size_t) { FAIL("called for n = 0"); });
}

TEST_CASE("parallel_for rethrows the first error and starts nothing after it", "[util][parallel]") {
  std::atomic<int> ran{0};
  try {
    // Jobs of 1 ms (they stand for seconds of hashing): without the early stop the 1,000
    // would take 0.5 s on two threads; with it, a handful run. (Jobs that take no time could
    // all be finished by another thread before the first throw unwinds.)
    util::parallel_for(1000, [&](std::size_t i) {
      ++ran;
      if (i == 3) throw Error(Exit::integrity, "job 3 failed");
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == Exit::integrity);
    CHECK(std::string(e.what()) == "job 3 failed");
  }
  CHECK(ran >= 4);
  CHECK(ran < 100);
}

TEST_CASE("copy_and_hash copies in the kernel and hashes the copy", "[util][sha256]") {
  TempDir tmp;
  std::string data;
  for (std::size_t i = 0; i < util::kCopyChunk + 3 * util::kStreamChunk + 77; ++i)
    data.push_back(static_cast<char>((i * 7919) % 253));
  write_file(tmp / "src", data);
  util::Fd in = util::open_read(tmp / "src");
  util::TempFile out(tmp.path(), "dst");
  std::uint64_t last = 0;
  util::StreamResult r = util::copy_and_hash(in, tmp / "src", out.fd(), out.path(), [&](std::uint64_t done) {
    CHECK(done > last);
    last = done;
  });
  CHECK(r.size == data.size());
  CHECK(last == data.size());
  CHECK(r.sha256 == util::sha256_hex(data));
  CHECK(read_file(out.path()) == data);
}
