// Remotes: remote add/list/remove, bad input, the config lock, naming remotes and revisions,
// no LibTorch. What every backend must do (push/pull between clones, integrity, interrupted
// pushes, concurrency) is in test_remote_conformance.cpp.
#include <unistd.h>

#include <chrono>
#include <thread>

#include "cli/remote_support.h"
#include "util/lock.h"

using namespace mvc::test;

namespace {

/// Clone A with v1 committed (tag clf-v1) and v2 committed, a folder remote as default.
struct Shared {
  Repo a;
  fs::path remote;
  std::string sha1, sha2;
  explicit Shared(bool with_remote = true) : remote(a.tmp.path() / "remote store") {
    if (with_remote) {
      RunResult r = run_mvc({"remote", "add", "origin", remote.string(), "--default"}, a.root);
      INFO(r.err);
      REQUIRE(r.exit_code == 0);
    }
    commit_two_versions(a, sha1, sha2);
  }
  fs::path clone(const std::string& name) const {
    fs::path b = a.tmp.path() / name;
    git_clone(a.root, b);
    return b;
  }
};

}  // namespace

TEST_CASE("remote add, list, remove edit and stage .mvc/config.toml", "[cli][remote]") {
  Repo repo;
  RunResult r = run_mvc({"remote", "add", "origin", "s3://bucket/team/models", "--default"}, repo.root);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  REQUIRE(run_mvc({"remote", "add", "backup", "/mnt/shared/mvc"}, repo.root).exit_code == 0);
  std::string cfg = read_file(repo / ".mvc/config.toml");
  CHECK(cfg.find("format = 1") != std::string::npos);
  CHECK(cfg.find("[core]\nremote = \"origin\"") != std::string::npos);
  CHECK(cfg.find("[remote.origin]\nurl = \"s3://bucket/team/models\"") != std::string::npos);
  CHECK(cfg.find("[remote.backup]\nurl = \"/mnt/shared/mvc\"") != std::string::npos);
  CHECK(git({"diff", "--cached", "--name-only"}, repo.root).out.find(".mvc/config.toml") != std::string::npos);
  CHECK_FALSE(fs::exists(repo / ".mvc/config.toml.lock"));
  // git sees what mvc wrote.
  CHECK(git({"show", ":.mvc/config.toml"}, repo.root).out == cfg);

  r = run_mvc({"remote", "list"}, repo.root);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out == "backup\t/mnt/shared/mvc\norigin\ts3://bucket/team/models\t(default)\n");

  REQUIRE(run_mvc({"remote", "remove", "origin"}, repo.root).exit_code == 0);
  r = run_mvc({"remote", "list"}, repo.root);
  CHECK(r.out == "backup\t/mnt/shared/mvc\n");
  CHECK(read_file(repo / ".mvc/config.toml").find("[core]") == std::string::npos);
}

TEST_CASE("remote add: bad input is refused and changes nothing", "[cli][remote][bad-input]") {
  Repo repo;
  REQUIRE(run_mvc({"remote", "add", "origin", "/srv/a"}, repo.root).exit_code == 0);
  std::string before = read_file(repo / ".mvc/config.toml");
  struct Case {
    std::vector<std::string> args;
    int code;
    std::string msg;
  } cases[] = {
      {{"remote", "add", "bad name", "/x"}, 2, "invalid remote name 'bad name'"},
      {{"remote", "add", "x", "http://example.com/x"}, 2, "unsupported URL 'http://example.com/x'"},
      {{"remote", "add", "x", "s3://"}, 2, "unsupported URL 's3://'"},
      {{"remote", "add", "origin", "/srv/b"}, 1, "remote 'origin' already exists"},
      {{"remote", "remove", "nope"}, 2, "no remote named 'nope'"},
      {{"push", "nope-remote-or-rev"}, 2, "unknown revision 'nope-remote-or-rev'"},
      {{"push"}, 1, "no default remote"},
  };
  for (auto& c : cases) {
    RunResult r = run_mvc(c.args, repo.root);
    INFO(c.args.back() << " " << r.err);
    CHECK(r.exit_code == c.code);
    CHECK(r.err.find(c.msg) != std::string::npos);
    CHECK(read_file(repo / ".mvc/config.toml") == before);
  }
}

TEST_CASE("credentials in the committed config.toml are refused", "[cli][remote][bad-input]") {
  Repo repo;
  write_file(repo / ".mvc/config.toml",
             "format = 1\n[remote.origin]\nurl = \"s3://b/p\"\nsecret_access_key = \"leaked\"\n");
  RunResult r = run_mvc({"remote", "list"}, repo.root);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("'secret_access_key' is a credential: it belongs in .mvc/config.local.toml") != std::string::npos);
}

TEST_CASE("a held config lock: remote add waits for it, or gives up with exit 6 naming the holder",
          "[cli][remote][lock]") {
  Repo repo;
  fs::path lock = repo / ".mvc/config.toml.lock";
  // Held by a live process (this one): gives up after the timeout, config unchanged.
  write_file(lock, std::to_string(::getpid()) + " " + mvc::util::host_name() + "\n");
  std::string before = read_file(repo / ".mvc/config.toml");
  RunResult r = run_mvc({"remote", "add", "origin", "/srv/a"}, repo.root, {{"MVC_LOCK_TIMEOUT", "0.5"}});
  CHECK(r.exit_code == 6);
  CHECK(r.err.find("held by pid " + std::to_string(::getpid()) + " on host " + mvc::util::host_name()) !=
        std::string::npos);
  CHECK(read_file(repo / ".mvc/config.toml") == before);
  // Released while mvc waits: it goes on.
  std::thread releaser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    fs::remove(lock);
  });
  r = run_mvc({"remote", "add", "origin", "/srv/a"}, repo.root, {{"MVC_LOCK_TIMEOUT", "10"}});
  releaser.join();
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(read_file(repo / ".mvc/config.toml").find("[remote.origin]") != std::string::npos);
}

TEST_CASE("pull REMOTE REV and fetch name the remote and revisions", "[cli][remote][folder]") {
  Shared s;
  REQUIRE(run_mvc({"push", "origin", "clf-v1", "HEAD"}, s.a.root).exit_code == 0);
  fs::path b = s.clone("b");
  RunResult r = run_mvc({"fetch", "origin", "clf-v1"}, b);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(fs::exists(object_path(b, s.sha1)));
  CHECK_FALSE(fs::exists(object_path(b, s.sha2)));
  r = run_mvc({"fetch", "-r", "origin", "-j", "2"}, b);
  REQUIRE(r.exit_code == 0);
  CHECK(fs::exists(object_path(b, s.sha2)));
}

TEST_CASE("remote, push, fetch, pull, gc and fsck never load LibTorch", "[cli][remote][torchfree]") {
  Shared s;
  fs::path b = s.clone("b");
  for (auto& [cmd, dir] :
       std::vector<std::pair<std::vector<std::string>, fs::path>>{{{"remote", "list"}, s.a.root},
                                                                  {{"push", "--all-commits"}, s.a.root},
                                                                  {{"fetch", "clf-v1"}, b},
                                                                  {{"pull"}, b},
                                                                  {{"gc", "--dry-run"}, b},
                                                                  {{"fsck"}, b}}) {
    RunResult r = run_mvc(cmd, dir, {{"LD_DEBUG", "libs"}});
    INFO(cmd[0]);
    CHECK(r.exit_code == 0);
    CHECK(r.err.find("libgit2") != std::string::npos);  // the probe sees libraries load at all
    CHECK(r.err.find("libtorch") == std::string::npos);
    CHECK(r.err.find("libmvc_torch") == std::string::npos);
  }
}
