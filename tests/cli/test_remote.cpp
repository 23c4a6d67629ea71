// Remotes on a folder: remote add/list/remove, push/fetch/pull between two clones, integrity
// on the way in, an interrupted push redone, checkout fetching, concurrent pulls, config lock.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "cli/remote_support.h"
#include "util/lock.h"
#include "util/sha256.h"

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
  fs::path remote_object(const std::string& sha) const {
    return remote / "objects/sha256" / sha.substr(0, 2) / sha.substr(2);
  }
  fs::path clone(const std::string& name) const {
    fs::path b = a.tmp.path() / name;
    git_clone(a.root, b);
    return b;
  }
};

std::string fixture_weights(const std::string& name) { return read_file(fixture_dir() / name / "weights.safetensors"); }

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
      {{"remote", "remove", "nope"}, 1, "no remote named 'nope'"},
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

TEST_CASE("a held config lock: remote add waits for it, or gives up with exit 6 naming the holder", "[cli][remote][lock]") {
  Repo repo;
  fs::path lock = repo / ".mvc/config.toml.lock";
  // Held by a live process (this one): gives up after the timeout, config unchanged.
  write_file(lock, std::to_string(::getpid()) + " " + mvc::util::host_name() + "\n");
  std::string before = read_file(repo / ".mvc/config.toml");
  RunResult r = run_mvc({"remote", "add", "origin", "/srv/a"}, repo.root, {{"MVC_LOCK_TIMEOUT", "0.5"}});
  CHECK(r.exit_code == 6);
  CHECK(r.err.find("held by pid " + std::to_string(::getpid()) + " on host " + mvc::util::host_name()) != std::string::npos);
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

TEST_CASE("folder remote: clone A pushes, clone B pulls byte-identical weights", "[cli][remote][folder]") {
  Shared s;
  CHECK_FALSE(fs::exists(s.remote));
  RunResult r = run_mvc({"push", "--all-commits"}, s.a.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("pushed 2 objects") != std::string::npos);
  // The remote uses the cache layout and holds exactly the cache's bytes.
  CHECK(read_file(s.remote_object(s.sha1)) == fixture_weights("mlp_v1"));
  CHECK(read_file(s.remote_object(s.sha2)) == fixture_weights("mlp_v2"));
  r = run_mvc({"push"}, s.a.root);
  CHECK(r.out.find("pushed 0 objects (0 B)") != std::string::npos);
  CHECK(r.out.find("1 already there") != std::string::npos);

  fs::path b = s.clone("b");
  r = run_mvc({"pull"}, b);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("fetched 1 object") != std::string::npos);
  CHECK(read_file(b / "models/clf/weights.safetensors") == fixture_weights("mlp_v2"));
  CHECK(git({"status", "--porcelain"}, b).out == "");
  // checkout of another version fetches its object from the default remote.
  CHECK_FALSE(fs::exists(object_path(b, s.sha1)));
  r = run_mvc({"checkout", "--no-load", "clf-v1", "--", "models/clf"}, b);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(b / "models/clf/weights.safetensors") == fixture_weights("mlp_v1"));
  CHECK(mvc::util::sha256_file(object_path(b, s.sha1)) == s.sha1);
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

TEST_CASE("a corrupted remote object never enters the cache: exit 4 naming object and remote", "[cli][remote][integrity]") {
  Shared s;
  REQUIRE(run_mvc({"push"}, s.a.root).exit_code == 0);
  fs::path obj = s.remote_object(s.sha2);
  fs::permissions(obj, fs::perms::owner_write, fs::perm_options::add);
  std::string bytes = read_file(obj);
  bytes[bytes.size() / 2] ^= 0x20;
  write_file(obj, bytes);
  fs::path b = s.clone("b");
  RunResult r = run_mvc({"pull"}, b);
  CHECK(r.exit_code == 4);
  CHECK(r.err.find("object " + s.sha2 + " from remote origin (" + s.remote.string() + ") is corrupt") != std::string::npos);
  CHECK_FALSE(fs::exists(object_path(b, s.sha2)));
  CHECK_FALSE(fs::exists(b / "models/clf/weights.safetensors"));
  // No temp file left behind either.
  std::error_code ec;
  CHECK(fs::is_empty(b / ".mvc/cache/tmp", ec));
  // checkout (fetching from the default remote) refuses the same way.
  r = run_mvc({"checkout", "--no-load"}, b);
  CHECK(r.exit_code == 4);
  CHECK_FALSE(fs::exists(b / "models/clf/weights.safetensors"));
}

TEST_CASE("a corrupt cache object is never pushed: exit 4, nothing on the remote", "[cli][remote][integrity]") {
  Shared s;
  fs::path obj = object_path(s.a.root, s.sha2);
  fs::permissions(obj, fs::perms::owner_write, fs::perm_options::add);
  std::string bytes = read_file(obj);
  bytes[7] ^= 0x02;
  write_file(obj, bytes);
  RunResult r = run_mvc({"push"}, s.a.root);
  CHECK(r.exit_code == 4);
  CHECK(r.err.find("object " + s.sha2 + " is corrupt") != std::string::npos);
  CHECK_FALSE(fs::exists(s.remote_object(s.sha2)));
  std::error_code ec;
  CHECK(fs::is_empty(s.remote / "tmp", ec));
}

TEST_CASE("an object on no remote: pull and checkout exit 5", "[cli][remote][missing]") {
  Shared s;
  fs::path b = s.clone("b");
  RunResult r = run_mvc({"pull"}, b);
  CHECK(r.exit_code == 5);
  CHECK(r.err.find("is not on remote origin") != std::string::npos);
  r = run_mvc({"checkout", "--no-load"}, b);
  CHECK(r.exit_code == 5);
  CHECK(r.err.find("is neither in the cache nor on remote origin") != std::string::npos);
}

TEST_CASE("a push killed half-way leaves no visible object; redone, a fresh clone pulls good objects", "[cli][remote][interrupt]") {
  Shared s;
  // A large (sparse-made, 96 MiB) but valid weights file so that the copy takes a while.
  const std::uint64_t n = 96ull << 20;
  std::string header = "{\"linear1.weight\":{\"dtype\":\"F32\",\"shape\":[" + std::to_string(n / 4) +
                       ",1],\"data_offsets\":[0," + std::to_string(n) + "]}}";
  fs::path big = s.a / "models/big";
  fs::create_directories(big);
  write_file(big / "arch.toml",
             "format = \"mvc.arch/1\"\nname = \"big\"\n[inputs]\nx = { shape = [\"batch\", 1], dtype = \"float32\" }\n"
             "[[layers]]\nname = \"linear1\"\ntype = \"Linear\"\nin_features = 1\nout_features = " +
                 std::to_string(n / 4) + "\nbias = false\n");
  {
    std::string len(8, '\0');
    for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
    write_file(big / "weights.safetensors", len + header);
    fs::resize_file(big / "weights.safetensors", 8 + header.size() + n);
  }
  RunResult r = run_mvc({"commit", "models/big", "-m", "big"}, s.a.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  std::string big_sha = pointer_sha(big / "weights.safetensors.mvc");

  pid_t pid = spawn_mvc({"push", "--all-commits", "-j", "1"}, s.a.root, s.a.tmp.path() / "push.log");
  // Kill it as soon as the big object's temp file is being written on the remote.
  bool killed = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline && !killed) {
    std::error_code ec;
    for (auto& e : fs::directory_iterator(s.remote / "tmp", ec)) {
      if (e.path().filename().string().rfind(big_sha.substr(0, 16), 0) == 0) {
        ::kill(pid, SIGKILL);
        killed = true;
        break;
      }
    }
    if (!killed) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  int status = wait_pid(pid);
  REQUIRE(killed);
  CHECK(status == 128 + SIGKILL);
  CHECK_FALSE(fs::exists(s.remote_object(big_sha)));  // never visible half-written

  r = run_mvc({"push", "--all-commits", "-j", "1"}, s.a.root);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(fs::file_size(s.remote_object(big_sha)) == 8 + header.size() + n);

  fs::path b = s.clone("b");
  r = run_mvc({"pull"}, b);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(mvc::util::sha256_file(b / "models/big/weights.safetensors") == big_sha);
  CHECK(read_file(b / "models/clf/weights.safetensors") == fixture_weights("mlp_v2"));
  r = run_mvc({"fsck", "--remote", "origin"}, b);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
}

TEST_CASE("two pulls into one shared cache at once both succeed and the cache is valid", "[cli][remote][concurrency]") {
  Shared s;
  REQUIRE(run_mvc({"push", "--all-commits"}, s.a.root).exit_code == 0);
  fs::path shared_cache = s.a.tmp.path() / "shared-cache";
  fs::path b = s.clone("b"), c = s.clone("c");
  for (auto& d : {b, c}) write_file(d / ".mvc/config.local.toml", "[cache]\ndir = \"" + shared_cache.string() + "\"\n");
  for (int round = 0; round < 3; ++round) {
    fs::remove_all(shared_cache);
    fs::remove(b / "models/clf/weights.safetensors");
    fs::remove(c / "models/clf/weights.safetensors");
    pid_t p1 = spawn_mvc({"pull", "-j", "2"}, b, s.a.tmp.path() / "pull-b.log");
    pid_t p2 = spawn_mvc({"pull", "-j", "2"}, c, s.a.tmp.path() / "pull-c.log");
    int e1 = wait_pid(p1), e2 = wait_pid(p2);
    INFO(read_file(s.a.tmp.path() / "pull-b.log") << read_file(s.a.tmp.path() / "pull-c.log"));
    CHECK(e1 == 0);
    CHECK(e2 == 0);
    CHECK(read_file(b / "models/clf/weights.safetensors") == fixture_weights("mlp_v2"));
    CHECK(read_file(c / "models/clf/weights.safetensors") == fixture_weights("mlp_v2"));
    CHECK(mvc::util::sha256_file(shared_cache / "objects/sha256" / s.sha2.substr(0, 2) / s.sha2.substr(2)) == s.sha2);
    RunResult f = run_mvc({"fsck", "--remote", "origin"}, b);
    INFO(f.out << f.err);
    CHECK(f.exit_code == 0);
    CHECK(f.out.find("fsck: 1 cache objects checked, 0 corrupt; 2 remote objects checked, 0 corrupt; 0 missing") !=
          std::string::npos);
  }
}

TEST_CASE("remote, push, fetch, pull, gc and fsck never load LibTorch", "[cli][remote][torchfree]") {
  Shared s;
  fs::path b = s.clone("b");
  for (auto& [cmd, dir] : std::vector<std::pair<std::vector<std::string>, fs::path>>{
           {{"remote", "list"}, s.a.root},
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
