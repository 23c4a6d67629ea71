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

fs::path aged(const fs::path& p, std::chrono::hours age) {
  write_file(p, "partial");
  fs::last_write_time(p, fs::file_time_type::clock::now() - age);
  return p;
}

/// An older mvc's temp name: "<stem>.tmp.<12 hex>".
fs::path temp_named(const fs::path& dir, const std::string& stem, std::chrono::hours age) {
  return aged(dir / (stem + ".tmp.0123456789ab"), age);
}

/// A temp file named as util::TempFile names it: "<stem>.mvc-tmp.<12 hex>.<pid>@<host>".
fs::path temp_owned(const fs::path& dir, const std::string& stem, const std::string& owner, std::chrono::hours age) {
  return aged(dir / (stem + ".mvc-tmp.a1b2c3d4e5f6." + owner), age);
}

long dead_pid() {
  pid_t pid = ::fork();
  if (pid == 0) _exit(0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return pid;
}

}  // namespace

TEST_CASE("folder remote reclaim: dead writers' temps go, live writers' and young foreign ones stay",
          "[store][reclaim]") {
  TempDir d;
  fs::path root = d / "remote";
  fs::create_directories(root / "tmp");
  const std::string host = mvc::util::host_name(), sha16 = "0123456789abcdef";
  const auto old = std::chrono::hours(48), young = std::chrono::hours(0);
  const std::string me = std::to_string(::getpid()) + "@" + host;
  fs::path live_old = temp_named(root / "tmp", sha16 + "." + me, old);  // this process: alive
  fs::path dead_young = temp_named(root / "tmp", sha16 + "." + std::to_string(dead_pid()) + "@" + host, young);
  fs::path other_young = temp_named(root / "tmp", sha16 + ".4242@another-host.example", young);
  fs::path other_old = temp_named(root / "tmp", sha16 + ".4243@another-host.example", old);
  fs::path unnamed_young = temp_named(root / "tmp", sha16, young);  // an older mvc's name
  fs::path unnamed_old = temp_named(root / "tmp", "fedcba9876543210", old);

  auto remote = mvc::store::open_remote(mvc::store::RemoteSpec{"origin", root.string(), {}, {}});
  // As this mvc names them.
  fs::path live_old2 = temp_owned(root / "tmp", sha16, me, old);
  fs::path dead_young2 = temp_owned(root / "tmp", sha16, std::to_string(dead_pid()) + "@" + host, young);
  fs::path other_young2 = temp_owned(root / "tmp", sha16, "4244@another-host.example", young);
  fs::path other_old2 = temp_owned(root / "tmp", sha16, "4245@another-host.example", old);
  fs::path not_temp = aged(root / "tmp" / "notes.txt", old);  // not a temp by its name: kept

  CHECK(remote->reclaim(mvc::store::kStaleUploadAge) == 5);
  CHECK(fs::exists(live_old2));
  CHECK_FALSE(fs::exists(dead_young2));
  CHECK(fs::exists(other_young2));
  CHECK_FALSE(fs::exists(other_old2));
  CHECK(fs::exists(not_temp));
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

TEST_CASE("temp names: this mvc's and older ones are told apart from other files", "[util][reclaim]") {
  using mvc::util::parse_temp_name;
  auto t = parse_temp_name("weights.safetensors.mvc-tmp.0123456789ab.123@host.example.com");
  CHECK(t.is_temp);
  CHECK(t.pid == "123");
  CHECK(t.host == "host.example.com");
  t = parse_temp_name("0123456789abcdef.77@h.tmp.0123456789ab");  // a folder remote's, mvc 0.1
  CHECK(t.is_temp);
  CHECK(t.pid == "77");
  CHECK(t.host == "h");
  t = parse_temp_name("weights.safetensors.tmp.0123456789ab");  // mvc 0.1, no writer
  CHECK(t.is_temp);
  CHECK(t.pid.empty());
  for (const char* name : {"weights.safetensors", "data.tmp.csv", "x.mvc-tmp.nothex123456.1@h",
                           "x.mvc-tmp.0123456789ab", "x.mvc-tmp.0123456789ab.12a@h", "x.mvc-tmp.0123456789ab.12@",
                           ".mvc-tmp.0123456789ab.1@h", "best[1].tmp.", "a.tmp.XYZ"}) {
    INFO(name);
    CHECK_FALSE(parse_temp_name(name).is_temp);
  }
}
