// One suite run against every remote backend (after restic's internal/backend/test): the
// store::Remote operations (put, stat, get, list, remove), the chunked path for large objects,
// retries of transient faults injected by a proxy on loopback, and through the CLI: two clones
// sharing weights, integrity both ways, an interrupted push and what it leaves behind,
// concurrent writers. Backends: tests/cli/remote_backends.h (a new one: a fixture there and a
// name in backend_names()).
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <thread>

#include "cli/remote_backends.h"
#include "mvc/error.h"
#include "util/sha256.h"

using namespace mvc::test;
using mvc::Exit;

namespace {

std::string fixture_weights(const std::string& name) { return read_file(fixture_dir() / name / "weights.safetensors"); }

/// Runs `f` and returns the mvc::Error code it throws (Exit::ok when it throws none); the
/// message goes to `msg`.
template <typename F>
Exit error_of(F&& f, std::string* msg = nullptr) {
  try {
    f();
  } catch (const mvc::Error& e) {
    if (msg) *msg = e.what();
    return e.code();
  }
  return Exit::ok;
}

std::string get_all(mvc::store::Remote& r, const std::string& sha) {
  std::string out;
  r.get(
      sha, [&](const char* d, std::size_t n) { out.append(d, n); }, [&] { out.clear(); });
  return out;
}

/// Clone A with a remote "origin" (the default) of backend `fx`: v1 committed (tag clf-v1),
/// then v2.
struct Setup {
  RemoteBackendFixture& fx;
  Repo a;
  std::string sha1, sha2;
  explicit Setup(RemoteBackendFixture& f, const std::string& extra = "") : fx(f) {
    RunResult r = run_mvc({"remote", "add", "origin", fx.url(), "--default"}, a.root);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    fx.configure(a.root, "origin", extra);
    commit_two_versions(a, sha1, sha2);
  }
  fs::path clone(const std::string& name) const {
    fs::path b = a.tmp.path() / name;
    git_clone(a.root, b);
    fx.configure(b, "origin");
    return b;
  }
  /// "origin (URL)" as mvc describes the remote.
  std::string described() const { return "origin (" + fx.url() + ")"; }
};

}  // namespace

TEST_CASE("remote conformance: put, stat, get, list and remove", "[remote-conformance]") {
  FOR_EACH_BACKEND(fx);
  auto remote = mvc::store::open_remote(fx.spec());
  TempDir d;
  std::string v1 = fixture_weights("mlp_v1"), v2 = fixture_weights("mlp_v2");
  write_file(d / "v1", v1);
  write_file(d / "v2", v2);
  std::string sha1 = mvc::util::sha256_hex(v1), sha2 = mvc::util::sha256_hex(v2);

  CHECK_FALSE(remote->stat(sha1));
  CHECK(remote->list().empty());
  std::string msg;
  CHECK(error_of([&] { get_all(*remote, sha1); }, &msg) == Exit::missing);
  CHECK(msg.find("object " + sha1 + " is not on remote origin") != std::string::npos);

  remote->put(sha1, d / "v1", v1.size());
  CHECK(remote->stat(sha1) == v1.size());
  CHECK(get_all(*remote, sha1) == v1);
  CHECK(fx.stored() == std::vector<std::string>{sha1});
  remote->put(sha1, d / "v1", v1.size());  // again: the same one object
  remote->put(sha2, d / "v2", v2.size());
  std::vector<std::string> both{sha1, sha2};
  std::sort(both.begin(), both.end());
  std::vector<std::string> listed = remote->list();
  std::sort(listed.begin(), listed.end());
  CHECK(listed == both);
  CHECK(fx.stored() == both);

  // Bytes that do not hash to the name are refused before anything becomes visible.
  std::string bad = std::string(64, 'a');
  CHECK(error_of([&] { remote->put(bad, d / "v1", v1.size()); }, &msg) == Exit::integrity);
  CHECK(msg.find((d / "v1").string()) != std::string::npos);
  CHECK(error_of([&] { remote->put(sha2, d / "v1", v1.size()); }) == Exit::integrity);
  CHECK(get_all(*remote, sha2) == v2);
  CHECK_FALSE(remote->stat(bad));
  CHECK(fx.stored() == both);

  remote->remove(sha1);
  CHECK_FALSE(remote->stat(sha1));
  CHECK(remote->list() == std::vector<std::string>{sha2});
  CHECK(fx.stored() == std::vector<std::string>{sha2});
  CHECK(error_of([&] { remote->remove(sha1); }) == Exit::ok);  // absent: not an error
  CHECK(fx.leftovers() == 0);
}

TEST_CASE("remote conformance: a large object comes back intact, a corrupt one leaves nothing",
          "[remote-conformance]") {
  FOR_EACH_BACKEND(fx);
  auto remote = mvc::store::open_remote(fx.spec(fx.large_options()));
  TempDir d;
  std::string bytes = write_big_model(d / "big", 12ull << 20, true);
  std::string sha = mvc::util::sha256_hex(bytes);
  // A file changed after it was hashed (a corrupt cache object): hashed on the way out, so the
  // upload is never completed, and what it began is cleaned up on the error path.
  std::string bad = bytes;
  bad[bad.size() - 5] ^= 0x11;
  write_file(d / "bad", bad);
  std::string msg;
  CHECK(error_of([&] { remote->put(sha, d / "bad", bad.size()); }, &msg) == Exit::integrity);
  CHECK(msg.find("object " + sha + " is corrupt") != std::string::npos);
  CHECK(fx.stored().empty());
  CHECK(fx.leftovers() == 0);

  // put_reporting tells the bytes sent as they go (push's progress): growing, ending at the size.
  std::mutex m;
  std::vector<std::uint64_t> reports;
  remote->put_reporting(sha, d / "big/weights.safetensors", bytes.size(), [&](std::uint64_t so_far) {
    std::lock_guard<std::mutex> l(m);
    reports.push_back(so_far);
  });
  std::sort(reports.begin(), reports.end());  // parts may complete in any order
  CHECK(reports.size() > 1);
  CHECK(reports.front() > 0);
  CHECK(reports.back() == bytes.size());
  CHECK(remote->stat(sha) == bytes.size());
  CHECK(mvc::util::sha256_hex(get_all(*remote, sha)) == sha);
  CHECK(fx.stored() == std::vector<std::string>{sha});
  CHECK(fx.leftovers() == 0);
}

TEST_CASE("remote conformance: transient faults are retried, lasting ones fail and clean up",
          "[remote-conformance][faults]") {
  FOR_EACH_BACKEND(fx);
  FaultProxy* proxy = fx.proxy();
  if (!proxy) return;  // no network between mvc and this backend: nothing to fault
  auto remote = mvc::store::open_remote(fx.spec(fx.large_options()));
  TempDir d;
  std::string v1 = fixture_weights("mlp_v1");
  write_file(d / "v1", v1);
  std::string sha1 = mvc::util::sha256_hex(v1);
  auto count = [&](const std::string& method) {
    int n = 0;
    for (auto& l : proxy->seen()) n += l.rfind(method + " ", 0) == 0;
    return n;
  };

  proxy->add({"", "PUT", 2, FaultProxy::Action::http500, {}, 0});
  remote->put(sha1, d / "v1", v1.size());
  CHECK(count("PUT") == 3);
  proxy->add({"", "GET", 2, FaultProxy::Action::drop, {}, 0});
  CHECK(get_all(*remote, sha1) == v1);
  CHECK(count("GET") == 3);

  // A lasting failure: every part of a multipart upload answered 500. After the retries the
  // push fails naming the remote and the key, and the upload it began is aborted.
  std::string big = write_big_model(d / "big", 12ull << 20, true);
  std::string big_sha = mvc::util::sha256_hex(big);
  proxy->add({"partNumber=", "PUT", -1, FaultProxy::Action::http500, {}, 0});
  std::string msg;
  CHECK(error_of([&] { remote->put(big_sha, d / "big/weights.safetensors", big.size()); }, &msg) == Exit::failure);
  CHECK(msg.find("remote origin (" + fx.url() + ")") != std::string::npos);
  CHECK(msg.find("HTTP 500 InternalError") != std::string::npos);
  bool aborted = false;
  for (auto& l : proxy->seen()) aborted |= l.rfind("DELETE ", 0) == 0 && l.find("?uploadId=") != std::string::npos;
  CHECK(aborted);
  CHECK(fx.leftovers() == 0);
  CHECK(fx.stored() == std::vector<std::string>{sha1});
}

TEST_CASE("remote conformance: clone A pushes, clone B pulls byte-identical weights", "[remote-conformance][cli]") {
  FOR_EACH_BACKEND(fx);
  Setup s(fx);
  RunResult r = run_mvc({"push", "--all-commits"}, s.a.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("pushed 2 objects") != std::string::npos);
  CHECK(r.out.find("to " + s.described()) != std::string::npos);
  std::vector<std::string> both{s.sha1, s.sha2};
  std::sort(both.begin(), both.end());
  CHECK(fx.stored() == both);
  r = run_mvc({"push"}, s.a.root);
  CHECK(r.out.find("pushed 0 objects (0 B sent") != std::string::npos);
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
  r = run_mvc({"fsck", "--remote", "origin"}, b);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("2 remote objects checked, 0 corrupt; 0 missing") != std::string::npos);
}

TEST_CASE("remote conformance: a corrupted remote object never enters the cache: exit 4 naming it",
          "[remote-conformance][cli][integrity]") {
  FOR_EACH_BACKEND(fx);
  Setup s(fx);
  REQUIRE(run_mvc({"push"}, s.a.root).exit_code == 0);
  std::string bytes = fixture_weights("mlp_v2");
  bytes[bytes.size() / 2] ^= 0x20;
  fx.overwrite(s.sha2, bytes);
  fs::path b = s.clone("b");
  RunResult r = run_mvc({"pull"}, b);
  CHECK(r.exit_code == 4);
  CHECK(r.err.find("object " + s.sha2 + " from remote " + s.described() + " is corrupt") != std::string::npos);
  CHECK_FALSE(fs::exists(object_path(b, s.sha2)));
  CHECK_FALSE(fs::exists(b / "models/clf/weights.safetensors"));
  std::error_code ec;
  CHECK(fs::is_empty(cache_dir(b) / "tmp", ec));
  // checkout (fetching from the default remote) refuses the same way.
  r = run_mvc({"checkout", "--no-load"}, b);
  CHECK(r.exit_code == 4);
  CHECK_FALSE(fs::exists(b / "models/clf/weights.safetensors"));
  r = run_mvc({"fsck", "--remote", "origin"}, b);
  CHECK(r.exit_code == 4);
  CHECK(r.out.find("corrupt: object " + s.sha2 + " on remote " + s.described()) != std::string::npos);
}

TEST_CASE("remote conformance: a corrupt cache object is never pushed, an object on no remote is exit 5",
          "[remote-conformance][cli][integrity]") {
  FOR_EACH_BACKEND(fx);
  Setup s(fx);
  fs::path obj = object_path(s.a.root, s.sha2);
  fs::permissions(obj, fs::perms::owner_write, fs::perm_options::add);
  std::string bytes = read_file(obj);
  bytes[7] ^= 0x02;
  write_file(obj, bytes);
  RunResult r = run_mvc({"push"}, s.a.root);
  CHECK(r.exit_code == 4);
  CHECK(r.err.find("object " + s.sha2 + " is corrupt") != std::string::npos);
  CHECK(fx.stored().empty());
  CHECK(fx.leftovers() == 0);

  fs::path b = s.clone("b");
  r = run_mvc({"pull"}, b);
  CHECK(r.exit_code == 5);
  CHECK(r.err.find("is not on remote origin") != std::string::npos);
  r = run_mvc({"checkout", "--no-load"}, b);
  CHECK(r.exit_code == 5);
  CHECK(r.err.find("is neither in the cache nor on remote origin") != std::string::npos);
}

TEST_CASE(
    "remote conformance: a push killed mid-upload shows nothing, the next push reclaims what it left and completes",
    "[remote-conformance][cli][interrupt]") {
  FOR_EACH_BACKEND(fx);
  Setup s(fx, fx.large_toml());
  write_big_model(s.a / "models/big", fx.interrupt_size(), false);
  RunResult r = run_mvc({"commit", "models/big", "-m", "big"}, s.a.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  std::string big_sha = pointer_sha(s.a / "models/big/weights.safetensors.mvc");

  fx.hold_uploads();
  pid_t pid = spawn_mvc({"push", "--all-commits", "-j", "1"}, s.a.root, s.a.tmp.path() / "push.log");
  bool killed = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!killed && std::chrono::steady_clock::now() < deadline) {
    if (fx.uploading(big_sha)) {
      ::kill(pid, SIGKILL);
      killed = true;
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
  int status = wait_pid(pid);
  INFO(read_file(s.a.tmp.path() / "push.log"));
  REQUIRE(killed);
  CHECK(status == 128 + SIGKILL);
  std::vector<std::string> stored = fx.stored();
  CHECK(std::find(stored.begin(), stored.end(), big_sha) == stored.end());  // never visible half-written
  CHECK(fx.leftovers() == 1);  // the killed upload's temp file / multipart upload

  fx.release_and_age();
  r = run_mvc({"push", "--all-commits", "-j", "1"}, s.a.root);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(fx.leftovers() == 0);
  stored = fx.stored();
  CHECK(std::find(stored.begin(), stored.end(), big_sha) != stored.end());

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

TEST_CASE("remote conformance: concurrent writers and readers", "[remote-conformance][cli][concurrency]") {
  FOR_EACH_BACKEND(fx);
  Setup s(fx);
  // B has a third version of its own; A and B push at once (both send v1 and v2).
  fs::path b = s.clone("b");
  write_weights_variant("mlp_v2", b / "models/clf/weights.safetensors", 3);
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v3"}, b).exit_code == 0);
  std::string sha3 = pointer_sha(b / "models/clf/weights.safetensors.mvc");
  for (auto& sha : {s.sha1, s.sha2}) {
    fs::create_directories(object_path(b, sha).parent_path());
    fs::copy_file(object_path(s.a.root, sha), object_path(b, sha));
  }
  std::vector<std::string> all{s.sha1, s.sha2, sha3};
  std::sort(all.begin(), all.end());
  auto remote = mvc::store::open_remote(fx.spec());
  for (int round = 0; round < 3; ++round) {
    for (auto& sha : remote->list()) remote->remove(sha);
    REQUIRE(fx.stored().empty());
    pid_t p1 = spawn_mvc({"push", "--all-commits", "-j", "2"}, s.a.root, s.a.tmp.path() / "push-a.log");
    pid_t p2 = spawn_mvc({"push", "--all-commits", "-j", "2"}, b, s.a.tmp.path() / "push-b.log");
    int e1 = wait_pid(p1), e2 = wait_pid(p2);
    INFO(read_file(s.a.tmp.path() / "push-a.log") << read_file(s.a.tmp.path() / "push-b.log"));
    CHECK(e1 == 0);
    CHECK(e2 == 0);
    CHECK(fx.stored() == all);
    CHECK(fx.leftovers() == 0);
    RunResult f = run_mvc({"fsck", "--remote", "origin"}, b);
    INFO(f.out << f.err);
    CHECK(f.exit_code == 0);
  }
  // Two pulls into one shared cache at once.
  fs::path shared_cache = s.a.tmp.path() / "shared-cache";
  fs::path c = s.clone("c"), e = s.clone("e");
  for (auto& dir : {c, e})
    write_file(
        dir / ".mvc/config.local.toml",
        (fs::exists(dir / ".mvc/config.local.toml") ? read_file(dir / ".mvc/config.local.toml") : std::string()) +
            "[cache]\ndir = \"" + shared_cache.string() + "\"\n");
  for (int round = 0; round < 3; ++round) {
    fs::remove_all(shared_cache);
    fs::remove(c / "models/clf/weights.safetensors");
    fs::remove(e / "models/clf/weights.safetensors");
    pid_t p1 = spawn_mvc({"pull", "-j", "2"}, c, s.a.tmp.path() / "pull-c.log");
    pid_t p2 = spawn_mvc({"pull", "-j", "2"}, e, s.a.tmp.path() / "pull-e.log");
    int e1 = wait_pid(p1), e2 = wait_pid(p2);
    INFO(read_file(s.a.tmp.path() / "pull-c.log") << read_file(s.a.tmp.path() / "pull-e.log"));
    CHECK(e1 == 0);
    CHECK(e2 == 0);
    CHECK(read_file(c / "models/clf/weights.safetensors") == fixture_weights("mlp_v2"));
    CHECK(read_file(e / "models/clf/weights.safetensors") == fixture_weights("mlp_v2"));
    CHECK(mvc::util::sha256_file(shared_cache / "objects/sha256" / s.sha2.substr(0, 2) / s.sha2.substr(2)) == s.sha2);
  }
}

TEST_CASE(
    "remote conformance: tensor objects: a second version sends only its changed tensors, manifests last, and "
    "a clone fetches only what it lacks",
    "[remote-conformance][cli][tensor_objects]") {
  FOR_EACH_BACKEND(fx);
  Repo a;
  RunResult r = run_mvc({"remote", "add", "origin", fx.url(), "--default"}, a.root);
  REQUIRE(r.exit_code == 0);
  fx.configure(a.root, "origin");
  a.put_model("deep_v1", "models/deep");
  REQUIRE(run_mvc({"commit", "models/deep", "-m", "v1", "--tag", "v1"}, a.root).exit_code == 0);
  r = run_mvc({"push"}, a.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("pushed 1 object (4.0 MiB sent, 0 B already on the remote)") != std::string::npos);
  CHECK(fx.stored().size() == 9);  // the header and eight tensors; the manifest is not an object
  fs::copy_file(fixture_dir() / "deep_v2/weights.safetensors", a / "models/deep/weights.safetensors",
                fs::copy_options::overwrite_existing);
  REQUIRE(run_mvc({"commit", "models/deep", "-m", "v2", "--tag", "v2"}, a.root).exit_code == 0);
  r = run_mvc({"push"}, a.root);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("pushed 1 object (1.0 MiB sent, 3.0 MiB already on the remote)") != std::string::npos);
  CHECK(fx.stored().size() == 11);
  CHECK(fx.leftovers() == 0);

  fs::path b = a.tmp.path() / "b";
  git_clone(a.root, b);
  fx.configure(b, "origin");
  r = run_mvc({"pull"}, b);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("fetched 1 object (4.0 MiB received, 0 B already in the cache)") != std::string::npos);
  CHECK(read_file(b / "models/deep/weights.safetensors") == fixture_weights("deep_v2"));
  r = run_mvc({"fetch", "v1"}, b);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("fetched 1 object (1.0 MiB received, 3.0 MiB already in the cache)") != std::string::npos);
  r = run_mvc({"checkout", "--no-load", "v1", "--", "models/deep"}, b);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(b / "models/deep/weights.safetensors") == fixture_weights("deep_v1"));
}
