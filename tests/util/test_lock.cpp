// util::FileLock: exclusive, waits with backoff, gives up with exit 6 naming pid and host,
// breaks a lock whose holder is dead on this host, commits by rename.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "mvc/error.h"
#include "support.h"
#include "util/lock.h"

using namespace mvc;
using namespace mvc::test;
using namespace std::chrono_literals;

TEST_CASE("a lock file holds pid and host and is removed on release", "[util][lock]") {
  TempDir d;
  fs::path target = d / "config.toml";
  {
    util::FileLock l(target, 1s);
    REQUIRE(fs::exists(d / "config.toml.lock"));
    CHECK(read_file(d / "config.toml.lock") == std::to_string(::getpid()) + " " + util::host_name() + "\n");
  }
  CHECK_FALSE(fs::exists(d / "config.toml.lock"));
  CHECK_FALSE(fs::exists(target));
}

TEST_CASE("commit replaces the target by rename and releases the lock", "[util][lock]") {
  TempDir d;
  fs::path target = d / "config.toml";
  write_file(target, "old\n");
  util::FileLock l(target, 1s);
  l.commit("new\n");
  CHECK(read_file(target) == "new\n");
  CHECK_FALSE(fs::exists(d / "config.toml.lock"));
}

TEST_CASE("a held lock makes the next taker wait, then it gets the lock", "[util][lock]") {
  TempDir d;
  fs::path target = d / "f";
  auto first = std::make_unique<util::FileLock>(target, 1s);
  std::thread releaser([&] {
    std::this_thread::sleep_for(300ms);
    first.reset();
  });
  auto start = std::chrono::steady_clock::now();
  util::FileLock second(target, 5s);
  double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  releaser.join();
  CHECK(waited >= 0.25);
  CHECK(waited < 3.0);
}

TEST_CASE("a lock held by a live process: exit 6 after the timeout, naming pid and host", "[util][lock]") {
  TempDir d;
  fs::path target = d / "f";
  pid_t child = ::fork();
  if (child == 0) {
    ::pause();
    _exit(0);
  }
  write_file(d / "f.lock", std::to_string(child) + " " + util::host_name() + "\n");
  auto start = std::chrono::steady_clock::now();
  try {
    util::FileLock l(target, 400ms);
    FAIL("the lock was taken");
  } catch (const Error& e) {
    CHECK(e.code() == Exit::lock);
    CHECK(std::string(e.what()).find("held by pid " + std::to_string(child) + " on host " + util::host_name()) !=
          std::string::npos);
  }
  CHECK(std::chrono::steady_clock::now() - start >= 400ms);
  CHECK(fs::exists(d / "f.lock"));  // a live holder's lock is never broken
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
}

TEST_CASE("a lock whose holder is dead on this host is broken", "[util][lock]") {
  TempDir d;
  pid_t child = ::fork();
  if (child == 0) _exit(0);
  ::waitpid(child, nullptr, 0);  // now a dead pid
  write_file(d / "f.lock", std::to_string(child) + " " + util::host_name() + "\n");
  util::FileLock l(d / "f", 2s);
  CHECK(read_file(d / "f.lock") == std::to_string(::getpid()) + " " + util::host_name() + "\n");
}

TEST_CASE("a lock of another host is not broken", "[util][lock]") {
  TempDir d;
  write_file(d / "f.lock", "1 some-other-host\n");
  try {
    util::FileLock l(d / "f", 200ms);
    FAIL("the lock was taken");
  } catch (const Error& e) {
    CHECK(e.code() == Exit::lock);
    CHECK(std::string(e.what()).find("held by pid 1 on host some-other-host") != std::string::npos);
  }
}
