// What a later push reclaims on a folder remote (Remote::reclaim via util::stale_temp): temp
// files of writers dead on this host at once, another host's (or unnamed) ones only when not
// written to for the grace period, a live writer's on this host never.
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>

#include "store/remote.h"
#include "support.h"
#include "util/lock.h"

using namespace mvc::test;

namespace {

fs::path temp_named(const fs::path& dir, const std::string& stem, std::chrono::hours age) {
  fs::path p = dir / (stem + ".tmp.0123456789ab");
  write_file(p, "partial");
  fs::last_write_time(p, fs::file_time_type::clock::now() - age);
  return p;
}

long dead_pid() {
  pid_t pid = ::fork();
  if (pid == 0) _exit(0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return pid;
}

}  // namespace

TEST_CASE("folder remote reclaim: dead writers' temps go, live writers' and young foreign ones stay", "[store][reclaim]") {
  TempDir d;
  fs::path root = d / "remote";
  fs::create_directories(root / "tmp");
  const std::string host = mvc::util::host_name(), sha16 = "0123456789abcdef";
  const auto old = std::chrono::hours(48), young = std::chrono::hours(0);
  fs::path live_old = temp_named(root / "tmp", mvc::util::owned_stem(sha16), old);  // this process: alive
  fs::path dead_young = temp_named(root / "tmp", sha16 + "." + std::to_string(dead_pid()) + "@" + host, young);
  fs::path other_young = temp_named(root / "tmp", sha16 + ".4242@another-host.example", young);
  fs::path other_old = temp_named(root / "tmp", sha16 + ".4243@another-host.example", old);
  fs::path unnamed_young = temp_named(root / "tmp", sha16, young);  // an older mvc's name
  fs::path unnamed_old = temp_named(root / "tmp", "fedcba9876543210", old);

  auto remote = mvc::store::open_remote(mvc::store::RemoteSpec{"origin", root.string(), {}, {}});
  CHECK(remote->reclaim(mvc::store::kStaleUploadAge) == 3);
  CHECK(fs::exists(live_old));
  CHECK_FALSE(fs::exists(dead_young));
  CHECK(fs::exists(other_young));
  CHECK_FALSE(fs::exists(other_old));
  CHECK(fs::exists(unnamed_young));
  CHECK_FALSE(fs::exists(unnamed_old));
  // A remote never pushed to (no tmp/) has nothing to reclaim.
  auto fresh = mvc::store::open_remote(mvc::store::RemoteSpec{"x", (d / "none").string(), {}, {}});
  CHECK(fresh->reclaim(mvc::store::kStaleUploadAge) == 0);
  CHECK_FALSE(fs::exists(d / "none"));
}
