// mvc gc --remote NAME: deletes a remote's objects and manifests that no kept version needs
// (kept: branches, tags, the git remote's branches -- fetched first --, aliases; --keep-last),
// never younger than the grace period, under an exclusive lock object that push and fetch
// respect (core/remote_lock.h); fsck --remote checks the remote's manifests. Every case runs
// against a folder remote and S3 (s3rver on loopback).
#include <sys/wait.h>

#include <chrono>
#include <ctime>
#include <sstream>
#include <thread>

#include "cli/remote_backends.h"
#include "store/manifest.h"
#include "util/progress.h"
#include "util/sha256.h"

using namespace mvc::test;
using nlohmann::json;

namespace {

void require_ok(const RunResult& r) {
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
}

/// A bare git repository (the team's git remote) and clone `a` of it, with mvc remote "store"
/// (the default) of backend `fx`.
struct World {
  RemoteBackendFixture& fx;
  TempDir tmp;
  fs::path bare = tmp / "team.git";
  Repo a;
  explicit World(RemoteBackendFixture& f) : fx(f) {
    git({"init", "-q", "--bare", "-b", "main", bare.string()}, tmp.path());
    git({"remote", "add", "origin", bare.string()}, a.root);
    require_ok(run_mvc({"remote", "add", "store", fx.url(), "--default"}, a.root));
    fx.configure(a.root, "store");
    a.put_model("mlp_v1");
  }
  /// Another clone of the git remote, configured for the store.
  fs::path clone(const std::string& name) const {
    fs::path c = tmp / name;
    git_clone(bare, c);
    fx.configure(c, "store");
    return c;
  }
  /// Commits variant `k` of mlp_v1 in models/clf (plus `extra` arguments) and pushes its object.
  std::string commit_push(int k, const std::string& msg, const std::vector<std::string>& extra = {}) {
    write_weights_variant("mlp_v1", a / "models/clf/weights.safetensors", k);
    std::vector<std::string> args{"commit", "models/clf", "-m", msg};
    args.insert(args.end(), extra.begin(), extra.end());
    require_ok(run_mvc(args, a.root));
    require_ok(run_mvc({"push"}, a.root));
    return pointer_sha(a / "models/clf/weights.safetensors.mvc");
  }
  std::unique_ptr<mvc::store::Remote> remote() const { return mvc::store::open_remote(fx.spec()); }
};

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

/// The segment names of manifest text.
std::vector<std::string> segments_in(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind("seg ", 0) == 0) out.push_back(line.substr(4, 64));
  return out;
}

/// A lock object as another client writes it.
std::string lock_json(const std::string& kind, std::int64_t expires_in) {
  std::int64_t now = std::time(nullptr);
  return json({{"kind", kind},
               {"command", kind == "exclusive" ? "gc" : "push"},
               {"host", "elsewhere.example"},
               {"pid", 4242},
               {"created", now - 60},
               {"expires", now + expires_in}})
      .dump();
}

std::size_t lock_count(mvc::store::Remote& r) { return r.list_entries("locks/").size(); }

}  // namespace

TEST_CASE("gc --remote keeps the versions of branches, tags, aliases and the git remote, deletes the rest",
          "[cli][gc][gc-remote]") {
  FOR_EACH_BACKEND(fx);
  World w(fx);
  std::string on_main = w.commit_push(1, "v1 on main");
  git({"push", "-q", "origin", "main"}, w.a.root);
  // Only on a local branch.
  git({"checkout", "-q", "-b", "other"}, w.a.root);
  std::string on_branch = w.commit_push(2, "on other");
  // Only on the git remote's branch: pushed there, then gone from this clone entirely.
  git({"checkout", "-q", "-b", "feature", "main"}, w.a.root);
  std::string on_git_remote = w.commit_push(3, "on feature");
  git({"push", "-q", "origin", "feature"}, w.a.root);
  git({"checkout", "-q", "main"}, w.a.root);
  git({"branch", "-q", "-D", "feature"}, w.a.root);
  git({"update-ref", "-d", "refs/remotes/origin/feature"}, w.a.root);
  // Only by a tag.
  std::string on_tag = w.commit_push(4, "tagged", {"--tag", "keep-me"});
  git({"reset", "-q", "--hard", "HEAD~1"}, w.a.root);
  // Only by an alias (its commit reachable from nothing else).
  std::string on_alias = w.commit_push(5, "aliased");
  std::string aliased_commit = w.a.head();
  aliased_commit.erase(aliased_commit.find_last_not_of("\n") + 1);
  git({"reset", "-q", "--hard", "HEAD~1"}, w.a.root);
  require_ok(run_mvc({"alias", "set", "prod", aliased_commit, "--", "models/clf"}, w.a.root));
  // Dropped: in the reflog only, which a remote's gc does not count.
  std::string dropped = w.commit_push(6, "dropped");
  git({"reset", "-q", "--hard", "HEAD~1"}, w.a.root);

  std::vector<std::string> all = sorted({on_main, on_branch, on_git_remote, on_tag, on_alias, dropped});
  REQUIRE(fx.stored() == all);

  // Everything is younger than the default grace period (1h): nothing goes.
  RunResult r = run_mvc({"gc", "--remote", "store"}, w.a.root);
  require_ok(r);
  CHECK(r.out.find("gc: deleted 0 objects and 0 manifests") != std::string::npos);
  CHECK(r.out.find("1 unreferenced but younger than 1h") != std::string::npos);
  CHECK(fx.stored() == all);
  CHECK(git({"rev-parse", "--verify", "-q", "refs/remotes/origin/feature"}, w.a.root, false).exit_code == 0);

  // --dry-run lists what would go, with its size, and deletes nothing.
  r = run_mvc({"gc", "--remote", "store", "--grace", "0", "--dry-run"}, w.a.root);
  require_ok(r);
  std::uint64_t dropped_size = fs::file_size(object_path(w.a.root, dropped));
  CHECK(r.out.rfind("would delete object " + dropped + " (" + mvc::util::human_bytes(dropped_size) + ")\ngc (dry run)",
                    0) == 0);
  CHECK(r.out.find("gc (dry run): would delete 1 object and 0 manifests") != std::string::npos);
  CHECK(run_mvc({"gc", "--quiet", "--remote", "store", "--grace", "0", "--dry-run"}, w.a.root).out ==
        "would delete object " + dropped + " (" + mvc::util::human_bytes(dropped_size) + ")\n");
  CHECK(fx.stored() == all);
  json j = json::parse(run_mvc({"gc", "--remote", "store", "--grace", "0", "--dry-run", "--json"}, w.a.root).out);
  CHECK(j["dry_run"] == true);
  CHECK(j["deleted"] == json::array({{{"kind", "object"}, {"sha256", dropped}, {"size", dropped_size}}}));
  CHECK(j["kept_objects"] == 5);
  CHECK(j["kept_manifests"] == 0);
  CHECK(j["git_fetched"] == json::array({"origin"}));
  CHECK(fx.stored() == all);

  r = run_mvc({"gc", "--remote", "store", "--grace", "0"}, w.a.root);
  require_ok(r);
  CHECK(r.out.find("gc: deleted 1 object and 0 manifests") != std::string::npos);
  CHECK(r.out.find("kept 5 objects and 0 manifests") != std::string::npos);
  CHECK(fx.stored() == sorted({on_main, on_branch, on_git_remote, on_tag, on_alias}));
  CHECK(lock_count(*w.remote()) == 0);  // its lock is gone

  // What it kept restores in a fresh clone: the git remote's branch included.
  fs::path c = w.clone("c");
  git({"checkout", "-q", "feature"}, c);
  require_ok(run_mvc({"pull"}, c));
  CHECK(mvc::util::sha256_file(c / "models/clf/weights.safetensors") == on_git_remote);
  // --no-fetch does not fetch: its dry-run result is then that of the refs as they are here.
  git({"update-ref", "-d", "refs/remotes/origin/feature"}, w.a.root);
  j = json::parse(
      run_mvc({"gc", "--remote", "store", "--grace", "0", "--dry-run", "--json", "--no-fetch"}, w.a.root).out);
  CHECK(j["git_fetched"] == json::array());
  CHECK(j["deleted"] == json::array({{{"kind", "object"}, {"sha256", on_git_remote}, {"size", dropped_size}}}));
}

TEST_CASE("gc --remote --keep-last N keeps the N newest versions per model and branch, and what tags and aliases name",
          "[cli][gc][gc-remote]") {
  FOR_EACH_BACKEND(fx);
  World w(fx);
  std::string v1 = w.commit_push(1, "v1", {"--tag", "clf-v1"});
  std::string v2 = w.commit_push(2, "v2");
  std::string v2_commit = w.a.head();
  v2_commit.erase(v2_commit.find_last_not_of("\n") + 1);
  std::string v3 = w.commit_push(3, "v3");
  std::string v4 = w.commit_push(4, "v4");
  std::string v5 = w.commit_push(5, "v5");
  require_ok(run_mvc({"alias", "set", "prod", v2_commit, "--", "models/clf"}, w.a.root));
  git({"push", "-q", "origin", "main"}, w.a.root);
  REQUIRE(fx.stored() == sorted({v1, v2, v3, v4, v5}));

  // Without --keep-last the whole history of main is kept.
  json j = json::parse(run_mvc({"gc", "--remote", "store", "--grace", "0", "--dry-run", "--json"}, w.a.root).out);
  CHECK(j["deleted"] == json::array());
  // --keep-last 2: v5 and v4 are the newest; v1 (tag) and v2 (alias) do not count and stay.
  RunResult r = run_mvc({"gc", "--remote", "store", "--grace", "0", "--keep-last", "2"}, w.a.root);
  require_ok(r);
  CHECK(r.out.find("gc: deleted 1 object and 0 manifests") != std::string::npos);
  CHECK(fx.stored() == sorted({v1, v2, v4, v5}));
  // A second branch keeps its own newest.
  git({"checkout", "-q", "-b", "old", "clf-v1"}, w.a.root);
  std::string o1 = w.commit_push(7, "o1");
  git({"checkout", "-q", "main"}, w.a.root);
  r = run_mvc({"gc", "--remote", "store", "--grace", "0", "--keep-last", "1"}, w.a.root);
  require_ok(r);
  CHECK(fx.stored() == sorted({v1, v2, v5, o1}));

  // Bad values are refused before anything is looked at.
  r = run_mvc({"gc", "--remote", "store", "--keep-last", "0"}, w.a.root);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--keep-last: Value 0 not in range 1 to 1000000000") != std::string::npos);
  r = run_mvc({"gc", "--keep-last", "2"}, w.a.root);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--keep-last requires --remote") != std::string::npos);
  r = run_mvc({"gc", "--remote", "nosuch"}, w.a.root);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("no remote named 'nosuch'") != std::string::npos);
  CHECK(fx.stored() == sorted({v1, v2, v5, o1}));
}

TEST_CASE("gc --remote deletes an unkept manifest and its own segments, never a segment a kept manifest names",
          "[cli][gc][gc-remote]") {
  FOR_EACH_BACKEND(fx);
  World w(fx);
  fs::path dir = w.a / "models/deep";
  copy_fixture_model("deep_v1", dir);
  require_ok(run_mvc({"commit", "models/deep", "-m", "v1", "--tag", "v1"}, w.a.root));
  std::string sha1 = pointer_sha(dir / "weights.safetensors.mvc");
  fs::copy_file(fixture_dir() / "deep_v2/weights.safetensors", dir / "weights.safetensors",
                fs::copy_options::overwrite_existing);
  require_ok(run_mvc({"commit", "models/deep", "-m", "v2"}, w.a.root));
  std::string sha2 = pointer_sha(dir / "weights.safetensors.mvc");
  require_ok(run_mvc({"push", "--all-commits"}, w.a.root));
  auto remote = w.remote();
  auto m1 = remote->get_manifest(sha1), m2 = remote->get_manifest(sha2);
  REQUIRE(m1);
  REQUIRE(m2);
  std::vector<std::string> segs1 = sorted(segments_in(*m1)), segs2 = sorted(segments_in(*m2));
  std::vector<std::string> shared, only1;
  std::set_intersection(segs1.begin(), segs1.end(), segs2.begin(), segs2.end(), std::back_inserter(shared));
  std::set_difference(segs1.begin(), segs1.end(), segs2.begin(), segs2.end(), std::back_inserter(only1));
  REQUIRE(shared.size() >= 3);  // fc1..fc3 (and what packs them) are the same in both
  REQUIRE(!only1.empty());
  REQUIRE(fx.stored() == sorted([&] {
            auto v = segs1;
            v.insert(v.end(), segs2.begin(), segs2.end());
            return v;
          }()));

  // The local gc counts the manifests it keeps.
  json j = json::parse(run_mvc({"gc", "--json"}, w.a.root).out);
  CHECK(j["kept_manifests"] == 2);
  CHECK(j["kept"] == std::uint64_t(sorted([&] {
                                     auto v = segs1;
                                     v.insert(v.end(), segs2.begin(), segs2.end());
                                     return v;
                                   }())
                                       .size() +
                                   2));

  // v1 is named by a tag only: --keep-last 1 still keeps it. Without the tag it goes.
  git({"tag", "-d", "v1"}, w.a.root);
  RunResult r = run_mvc({"gc", "--remote", "store", "--grace", "0", "--keep-last", "1", "--no-fetch"}, w.a.root);
  require_ok(r);
  CHECK(r.out.find("gc: deleted " + std::to_string(only1.size()) + " object") != std::string::npos);
  CHECK(r.out.find(" and 1 manifest ") != std::string::npos);
  CHECK(r.out.find("deleted manifest " + sha1) != std::string::npos);
  CHECK_FALSE(remote->get_manifest(sha1));
  CHECK(remote->get_manifest(sha2) == m2);
  CHECK(fx.stored() == segs2);  // every segment of the kept manifest, the shared ones included

  // fsck --remote checks the remote's manifests: all there, then one segment gone (exit 5).
  r = run_mvc({"fsck", "--remote", "store"}, w.a.root);
  require_ok(r);
  CHECK(r.out.find("remote objects checked (and 1 manifests), 0 corrupt") != std::string::npos);
  git({"push", "-q", "origin", "main"}, w.a.root);
  fs::path c = w.clone("c");
  require_ok(run_mvc({"pull"}, c));
  CHECK(mvc::util::sha256_file(c / "models/deep/weights.safetensors") == sha2);
  remote->remove(shared[0]);
  r = run_mvc({"fsck", "--remote", "store"}, w.a.root);
  CHECK(r.exit_code == 5);
  CHECK(r.out.find("missing: segment object " + shared[0] + " of manifest " + sha2 + " on remote store") !=
        std::string::npos);

  // A damaged kept manifest stops gc before it deletes anything; fsck --remote reports it (exit 4).
  std::string damaged = *m2;
  std::size_t at = damaged.find("seg ") + 4;
  damaged[at] = damaged[at] == '0' ? '1' : '0';
  remote->put_key(mvc::store::manifest_key(sha2), damaged);
  remote->put_key(mvc::store::manifest_key(sha1), *m1);  // unkept, and would go
  auto before = fx.stored();
  r = run_mvc({"gc", "--remote", "store", "--grace", "0", "--no-fetch"}, w.a.root);
  CHECK(r.exit_code == 4);
  CHECK(r.err.find(sha2) != std::string::npos);
  CHECK(r.err.find("gc deleted nothing") != std::string::npos);
  CHECK(fx.stored() == before);
  CHECK(remote->get_manifest(sha1) == m1);
  r = run_mvc({"fsck", "--remote", "store"}, w.a.root);
  CHECK(r.exit_code == 4);
  CHECK(r.out.find("corrupt: object " + sha2 + " on remote store") != std::string::npos);
}

TEST_CASE("gc --remote refuses while another client holds a live lock, and removes expired locks",
          "[cli][gc][gc-remote]") {
  FOR_EACH_BACKEND(fx);
  World w(fx);
  std::string keep = w.commit_push(1, "v1");
  std::string dropped = w.commit_push(2, "dropped");
  git({"reset", "-q", "--hard", "HEAD~1"}, w.a.root);
  auto remote = w.remote();
  CHECK(lock_count(*remote) == 0);  // push removed its shared lock

  // A live shared lock (a push on another host): gc refuses with exit 6, naming it; nothing goes.
  remote->put_key("locks/0123456789abcdef.json", lock_json("shared", 600));
  RunResult r = run_mvc({"gc", "--remote", "store", "--grace", "0"}, w.a.root);
  CHECK(r.exit_code == 6);
  CHECK(r.err.find("locked by another client's shared lock of push (pid 4242 on host elsewhere.example") !=
        std::string::npos);
  CHECK(fx.stored() == sorted({keep, dropped}));
  CHECK(lock_count(*remote) == 1);  // its own lock removed again
  // A dry run takes no lock: it lists.
  r = run_mvc({"gc", "--remote", "store", "--grace", "0", "--dry-run"}, w.a.root);
  require_ok(r);
  CHECK(r.out.find("would delete object " + dropped + " (" +
                   mvc::util::human_bytes(fs::file_size(object_path(w.a.root, dropped))) + ")\n") != std::string::npos);

  // An exclusive lock (a gc elsewhere): push waits for it, then gives up with exit 6.
  remote->remove_key("locks/0123456789abcdef.json");
  remote->put_key("locks/fedcba9876543210.json", lock_json("exclusive", 600));
  write_weights_variant("mlp_v1", w.a / "models/clf/weights.safetensors", 3);
  require_ok(run_mvc({"commit", "models/clf", "-m", "v3"}, w.a.root));
  r = run_mvc({"push"}, w.a.root, {{"MVC_LOCK_TIMEOUT", "1"}});
  CHECK(r.exit_code == 6);
  CHECK(r.err.find("waiting for remote store") != std::string::npos);
  CHECK(r.err.find("exclusive lock of gc (pid 4242 on host elsewhere.example") != std::string::npos);
  CHECK(r.err.find("gave up waiting") != std::string::npos);
  CHECK(fx.stored() == sorted({keep, dropped}));

  // Expired locks (crashed clients) and an unreadable one past the lock lifetime block nothing,
  // and gc removes them.
  remote->remove_key("locks/fedcba9876543210.json");
  remote->put_key("locks/1111111111111111.json", lock_json("exclusive", -1));
  remote->put_key("locks/2222222222222222.json", lock_json("shared", -3600));
  r = run_mvc({"gc", "--remote", "store", "--grace", "0", "--json"}, w.a.root);
  require_ok(r);
  json j = json::parse(r.out);
  CHECK(j["locks_removed"] == 2);
  CHECK(j["deleted"].size() == 1);
  CHECK(lock_count(*remote) == 0);
  // An unreadable lock object counts as live for the lock lifetime after it was written.
  remote->put_key("locks/3333333333333333.json", "not json");
  r = run_mvc({"gc", "--remote", "store", "--grace", "0"}, w.a.root);
  CHECK(r.exit_code == 6);
  CHECK(r.err.find("locks/3333333333333333.json (not a lock this mvc reads") != std::string::npos);
  remote->remove_key("locks/3333333333333333.json");
  require_ok(run_mvc({"push"}, w.a.root));
  CHECK(fx.stored() == sorted({keep, pointer_sha(w.a / "models/clf/weights.safetensors.mvc")}));
}

TEST_CASE("gc --remote against a push from a second clone: nothing the push sent is lost",
          "[cli][gc][gc-remote][concurrency]") {
  FOR_EACH_BACKEND(fx);
  World w(fx);
  w.commit_push(1, "clf");
  git({"push", "-q", "origin", "main"}, w.a.root);
  // deep_v1 pushed, then dropped: garbage on the remote, whose segments deep_v2 shares.
  copy_fixture_model("deep_v1", w.a / "models/deep");
  require_ok(run_mvc({"commit", "models/deep", "-m", "deep v1"}, w.a.root));
  std::string sha1 = pointer_sha(w.a / "models/deep/weights.safetensors.mvc");
  require_ok(run_mvc({"push"}, w.a.root));
  git({"reset", "-q", "--hard", "HEAD~1"}, w.a.root);
  auto remote = w.remote();
  REQUIRE(remote->get_manifest(sha1));

  // gc runs, and holds (lock taken, remote listed) until released.
  fs::path gate = w.tmp / "gate";
  pid_t gc = spawn_mvc({"gc", "--remote", "store", "--grace", "0"}, w.a.root, w.tmp / "gc.log",
                       {{"MVC_TEST_GC_PAUSE", gate.string()}});
  for (int i = 0; i < 1200 && !fs::exists(gate.string() + ".paused"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE(fs::exists(gate.string() + ".paused"));

  // Clone B commits deep_v2 and pushes while gc runs: the push waits for gc's lock.
  fs::path b = w.clone("b");
  copy_fixture_model("deep_v2", b / "models/deep");
  require_ok(run_mvc({"commit", "models/deep", "-m", "deep v2"}, b));
  std::string sha2 = pointer_sha(b / "models/deep/weights.safetensors.mvc");
  pid_t push = spawn_mvc({"push"}, b, w.tmp / "push.log");
  bool waiting = false;
  for (int i = 0; i < 1200 && !waiting; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    waiting = read_file(w.tmp / "push.log").find("waiting for remote store") != std::string::npos;
  }
  CHECK(waiting);
  write_file(gate, "");  // gc goes on: it deletes deep_v1's manifest and every segment
  int gc_status = wait_pid(gc);
  int push_status = wait_pid(push);
  INFO(read_file(w.tmp / "gc.log") << read_file(w.tmp / "push.log"));
  CHECK(gc_status == 0);
  CHECK(push_status == 0);
  CHECK(read_file(w.tmp / "gc.log").find("deleted manifest " + sha1) != std::string::npos);
  CHECK_FALSE(remote->get_manifest(sha1));

  // Everything the push sent is there: its manifest and every segment it names.
  auto m2 = remote->get_manifest(sha2);
  REQUIRE(m2);
  std::vector<std::string> stored = fx.stored();
  for (const std::string& seg : segments_in(*m2)) CHECK(std::binary_search(stored.begin(), stored.end(), seg));
  CHECK(lock_count(*remote) == 0);
  // A third clone pulls B's version and it verifies.
  fs::path c = w.clone("c");
  git({"fetch", "-q", b.string(), "main:fromb"}, c);
  git({"checkout", "-q", "fromb"}, c);
  require_ok(run_mvc({"pull"}, c));
  CHECK(mvc::util::sha256_file(c / "models/deep/weights.safetensors") == sha2);
  require_ok(run_mvc({"fsck", "--remote", "store"}, c));
}
