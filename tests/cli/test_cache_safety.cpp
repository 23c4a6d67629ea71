// The object cache and temp files under failure and in git's less common set-ups (issue 11,
// items 4-6): temps a killed writer left are ignored by git and reclaimed; the cache lives in
// git's common directory (shared by linked worktrees, outliving `git worktree remove`), an
// existing .mvc/cache is moved there once, a newer cache layout is refused; shallow clones
// list what they have and gc refuses to guess at what they do not.
#include <signal.h>
#include <unistd.h>

#include "cli/remote_support.h"

using namespace mvc::test;

namespace {

std::string this_host() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

/// The pid of a process that has exited (a shell that printed its pid).
std::string dead_pid() {
  RunResult r = run({"sh", "-c", "echo $$"});
  REQUIRE(r.exit_code == 0);
  std::string pid = r.out.substr(0, r.out.find('\n'));
  REQUIRE(::kill(std::stoi(pid), 0) != 0);
  return pid;
}

/// A temp file named as mvc names them ("<stem>.mvc-tmp.<12 hex>.<pid>@<host>"), `n` bytes.
fs::path put_temp(const fs::path& dir, const std::string& stem, const std::string& owner, std::size_t n = 4096) {
  fs::create_directories(dir);
  fs::path p = dir / (stem + ".mvc-tmp.0123456789ab." + owner);
  write_file(p, std::string(n, 'x'));
  return p;
}

void commit(const fs::path& root, const std::string& msg) {
  RunResult r = run_mvc({"commit", "models/clf", "-m", msg}, root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
}

}  // namespace

TEST_CASE("temps a killed writer left are ignored by git and reclaimed by the next command", "[cli][cache]") {
  Repo repo;
  repo.put_model("mlp_v1");
  commit(repo.root, "v1");
  const std::string dead = dead_pid() + "@" + this_host();
  const std::string live = std::to_string(::getpid()) + "@" + this_host();
  fs::path model = repo / "models/clf";
  fs::path cache_tmp = cache_dir(repo.root) / "tmp";
  fs::path dead_wt = put_temp(model, "weights.safetensors", dead, 1 << 20);
  fs::path live_wt = put_temp(model, "weights.safetensors", live);
  fs::path other_host = put_temp(model, "weights.safetensors", "4242@another-host");  // young: kept
  fs::path dead_obj = put_temp(cache_tmp, "object", dead);
  fs::path live_obj = put_temp(cache_tmp, "object", live);

  // git does not see them (the pattern is in .git/info/exclude, shared by all worktrees).
  CHECK(git({"status", "--porcelain", "--untracked-files=all"}, repo.root).out == "");
  CHECK(read_file(repo / ".git/info/exclude").find("\n*.mvc-tmp.*\n") != std::string::npos);
  RunResult st = run_mvc({"status"}, repo.root);
  CHECK(st.exit_code == 0);
  CHECK(st.out.find("mvc-tmp") == std::string::npos);

  // The next command that writes reclaims the dead writer's temps, never a live one's.
  write_weights_variant("mlp_v1", model / "weights.safetensors", 1);
  commit(repo.root, "v2");
  CHECK_FALSE(fs::exists(dead_wt));
  CHECK_FALSE(fs::exists(dead_obj));
  CHECK(fs::exists(live_wt));
  CHECK(fs::exists(live_obj));
  CHECK(fs::exists(other_host));

  // gc reclaims too: a dead writer's at once, another host's only past the grace period.
  fs::path dead_obj2 = put_temp(cache_tmp, "object", dead);
  fs::path dead_wt2 = put_temp(model, "weights.safetensors", dead);
  RunResult r = run_mvc({"gc"}, repo.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("2 stale temp files removed") != std::string::npos);
  CHECK_FALSE(fs::exists(dead_obj2));
  CHECK_FALSE(fs::exists(dead_wt2));
  CHECK(fs::exists(other_host));
  r = run_mvc({"gc", "--grace", "0"}, repo.root);
  REQUIRE(r.exit_code == 0);
  CHECK_FALSE(fs::exists(other_host));
  CHECK(fs::exists(live_wt));  // a live writer's temp is never stale, whatever its age
  fs::remove(live_wt);
  fs::remove(live_obj);
  CHECK(git({"status", "--porcelain", "--untracked-files=all", "--ignored"}, repo.root).out.find("mvc-tmp") ==
        std::string::npos);
}

TEST_CASE("a clone gets the temp pattern in info/exclude from its first mvc command that writes", "[cli][cache]") {
  Repo repo;
  repo.put_model("mlp_v1");
  commit(repo.root, "v1");
  TempDir tmp;
  fs::path clone = tmp.path() / "clone";
  git({"clone", "-q", repo.root.string(), clone.string()}, tmp.path());
  CHECK(read_file(clone / ".git/info/exclude").find("mvc-tmp") == std::string::npos);
  // Weights come from the first repository's cache through a folder remote.
  REQUIRE(run_mvc({"remote", "add", "origin", (tmp.path() / "remote").string(), "--default"}, repo.root).exit_code ==
          0);
  REQUIRE(run_mvc({"push"}, repo.root).exit_code == 0);
  REQUIRE(run_mvc({"remote", "add", "origin", (tmp.path() / "remote").string(), "--default"}, clone).exit_code == 0);
  RunResult r = run_mvc({"checkout", "--no-load"}, clone);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(clone / ".git/info/exclude").find("\n*.mvc-tmp.*\n") != std::string::npos);
  put_temp(clone / "models/clf", "weights.safetensors", "1@elsewhere");
  CHECK(git({"status", "--porcelain", "--untracked-files=all", "--", "models"}, clone).out == "");
}

TEST_CASE("the cache is in git's common dir: linked worktrees share it and it outlives them", "[cli][cache]") {
  Repo repo;
  repo.put_model("mlp_v1");
  commit(repo.root, "v1");
  std::string v1 = pointer_sha(repo / "models/clf/weights.safetensors.mvc");
  CHECK(fs::exists(repo / ".git/mvc/cache/objects/sha256" / v1.substr(0, 2) / v1.substr(2)));
  CHECK(read_file(repo / ".git/mvc/cache/layout") == "mvc-cache-layout 1\n");
  CHECK_FALSE(fs::exists(repo / ".mvc/cache"));

  // A linked worktree sees the main one's objects: its weights come from the shared cache
  // (there is no remote).
  TempDir tmp;
  fs::path wt = tmp.path() / "wt";
  git({"worktree", "add", "-q", "-b", "feature", wt.string()}, repo.root);
  RunResult r = run_mvc({"checkout", "--no-load"}, wt);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(wt / "models/clf/weights.safetensors") == read_file(repo / "models/clf/weights.safetensors"));

  // gc in the main worktree keeps what only the linked one references: here its index.
  write_weights_variant("mlp_v1", wt / "models/clf/weights.safetensors", 5);
  commit(wt, "to unstage");
  std::string staged = pointer_sha(wt / "models/clf/weights.safetensors.mvc");
  git({"reset", "-q", "--soft", "HEAD~1"}, wt);
  git({"reflog", "expire", "--expire=now", "--all"}, wt);
  r = run_mvc({"gc", "--grace", "0"}, repo.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(fs::exists(object_path(repo.root, staged)));

  // A version committed there survives `git worktree remove`.
  write_weights_variant("mlp_v1", wt / "models/clf/weights.safetensors", 3);
  commit(wt, "in the worktree");
  std::string v2 = pointer_sha(wt / "models/clf/weights.safetensors.mvc");
  CHECK(fs::exists(object_path(repo.root, v2)));
  git({"worktree", "remove", "--force", wt.string()}, repo.root);
  r = run_mvc({"checkout", "--no-load", "feature"}, repo.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(pointer_sha(repo / "models/clf/weights.safetensors.mvc") == v2);
  CHECK(run({"sha256sum", (repo / "models/clf/weights.safetensors").string()}).out.substr(0, 64) == v2);
}

TEST_CASE("an existing .mvc/cache is moved into git's common dir once, by the next command", "[cli][cache][compat]") {
  Repo repo;
  repo.put_model("mlp_v1");
  commit(repo.root, "v1");
  std::string v1 = pointer_sha(repo / "models/clf/weights.safetensors.mvc");
  // The layout of mvc 0.1: the cache in the work tree's .mvc/cache, no layout file.
  fs::rename(repo / ".git/mvc/cache", repo / ".mvc/cache");
  fs::remove(repo / ".mvc/cache/layout");
  auto before = snapshot(repo / ".mvc/cache/objects");

  RunResult r = run_mvc({"status"}, repo.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.find("moved the object cache from .mvc/cache to .git/mvc/cache (1 object; cache layout 1)") !=
        std::string::npos);
  CHECK_FALSE(fs::exists(repo / ".mvc/cache"));
  CHECK(snapshot(repo / ".git/mvc/cache/objects") == before);
  CHECK(read_file(repo / ".git/mvc/cache/layout") == "mvc-cache-layout 1\n");
  r = run_mvc({"fsck"}, repo.root);  // re-hashes every object of the moved cache
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("moved") == std::string::npos);  // once

  // A second worktree-era cache is merged into the existing one, object by object.
  fs::create_directories(repo / ".mvc/cache/objects/sha256/00");
  std::string stray(64, '0');
  write_file(repo / ".mvc/cache/objects/sha256/00" / stray.substr(2), "not hashed here: moved as it is");
  fs::create_directories(repo / ".mvc/cache/objects/sha256" / v1.substr(0, 2));
  fs::copy_file(object_path(repo.root, v1), repo / ".mvc/cache/objects/sha256" / v1.substr(0, 2) / v1.substr(2));
  r = run_mvc({"status"}, repo.root);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.find("(2 objects; cache layout 1)") != std::string::npos);
  CHECK_FALSE(fs::exists(repo / ".mvc/cache"));
  CHECK(fs::exists(object_path(repo.root, stray)));
}

TEST_CASE("a cache layout newer than this mvc is refused with exit 3, naming the layout", "[cli][cache][compat]") {
  Repo repo;
  repo.put_model("mlp_v1");
  commit(repo.root, "v1");
  write_file(repo / ".git/mvc/cache/layout", "mvc-cache-layout 3\n");
  auto snap = snapshot(repo.root);
  for (auto args : std::vector<std::vector<std::string>>{{"status"}, {"checkout", "--no-load"}, {"gc"}}) {
    RunResult r = run_mvc(args, repo.root);
    INFO(args[0] << ": " << r.err);
    CHECK(r.exit_code == 3);
    CHECK(r.err.find(".git/mvc/cache/layout: cache layout 3 is newer than this mvc reads (2)") != std::string::npos);
  }
  CHECK(snapshot(repo.root) == snap);
  write_file(repo / ".git/mvc/cache/layout", "something else\n");
  RunResult r = run_mvc({"status"}, repo.root);
  CHECK(r.exit_code == 3);
  CHECK(r.err.find(".git/mvc/cache/layout: not an mvc cache layout") != std::string::npos);
}

TEST_CASE("a shallow clone lists the versions it has, gc refuses without --force", "[cli][cache][gc]") {
  Repo repo;
  repo.put_model("mlp_v1");
  commit(repo.root, "v1");
  for (int k = 1; k <= 2; ++k) {
    write_weights_variant("mlp_v1", repo / "models/clf/weights.safetensors", k);
    commit(repo.root, "v" + std::to_string(k + 1));
  }
  TempDir tmp;
  fs::path clone = tmp.path() / "clone";
  git({"clone", "-q", "--depth", "2", "file://" + repo.root.string(), clone.string()}, tmp.path());
  REQUIRE(git({"rev-parse", "--is-shallow-repository"}, clone).out == "true\n");

  RunResult r = run_mvc({"log", "models/clf"}, clone);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("(2 versions; shallow clone: older history is not here)") != std::string::npos);
  CHECK(r.out.find("v3") != std::string::npos);
  CHECK(r.out.find("v2") != std::string::npos);
  r = run_mvc({"log", "--json"}, clone);
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["models"][0]["versions"].size() == 2);
  CHECK(j["shallow"] == true);

  // gc cannot see what history beyond the boundary references: it refuses, changing nothing.
  write_weights_variant("mlp_v1", clone / "models/clf/weights.safetensors", 7);
  commit(clone, "v4");
  auto snap = snapshot(cache_dir(clone));
  r = run_mvc({"gc", "--grace", "0"}, clone);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("gc: this is a shallow clone") != std::string::npos);
  CHECK(r.err.find("--force") != std::string::npos);
  CHECK(snapshot(cache_dir(clone)) == snap);
  r = run_mvc({"gc", "--grace", "0", "--force"}, clone);
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(fs::exists(object_path(clone, pointer_sha(clone / "models/clf/weights.safetensors.mvc"))));

  // A full history is walked as before.
  r = run_mvc({"log", "models/clf"}, repo.root);
  CHECK(r.out.find("(3 versions)") != std::string::npos);
}

TEST_CASE("gc in a linked worktree keeps what the main one and a locked, moved-away one reference",
          "[cli][cache][gc]") {
  Repo repo;
  repo.put_model("mlp_v1");
  commit(repo.root, "v1");
  TempDir tmp;
  fs::path wt = tmp.path() / "wt", away = tmp.path() / "away";
  git({"worktree", "add", "-q", "-b", "feature", wt.string()}, repo.root);
  git({"worktree", "add", "-q", "--detach", away.string(), "HEAD"}, repo.root);
  // Only the main worktree's index references this one.
  write_weights_variant("mlp_v1", repo / "models/clf/weights.safetensors", 2);
  commit(repo.root, "to unstage");
  std::string staged = pointer_sha(repo / "models/clf/weights.safetensors.mvc");
  git({"reset", "-q", "--soft", "HEAD~1"}, repo.root);
  // Only a detached HEAD in a worktree that is then locked and whose directory goes away.
  REQUIRE(run_mvc({"checkout", "--no-load"}, away).exit_code == 0);
  write_weights_variant("mlp_v1", away / "models/clf/weights.safetensors", 4);
  commit(away, "detached");
  std::string detached = pointer_sha(away / "models/clf/weights.safetensors.mvc");
  git({"worktree", "lock", "--reason", "on a usb disk", away.string()}, repo.root);
  fs::rename(away, tmp.path() / "elsewhere");
  git({"reflog", "expire", "--expire=now", "--expire-unreachable=now", "--all"}, repo.root);

  RunResult r = run_mvc({"gc", "--grace", "0"}, wt);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(fs::exists(object_path(repo.root, staged)));
  CHECK(fs::exists(object_path(repo.root, detached)));
}

TEST_CASE("checkout of a branch another worktree has is refused before anything changes", "[cli][cache][checkout]") {
  Repo repo;
  repo.put_model("mlp_v1");
  commit(repo.root, "v1");
  TempDir tmp;
  fs::path wt = tmp.path() / "wt";
  git({"worktree", "add", "-q", "-b", "feat", wt.string()}, repo.root);
  REQUIRE(run_mvc({"checkout", "--no-load"}, wt).exit_code == 0);
  write_weights_variant("mlp_v1", wt / "models/clf/weights.safetensors", 3);
  commit(wt, "feat");
  auto before = snapshot(repo.root);
  RunResult r = run_mvc({"checkout", "--no-load", "feat"}, repo.root);
  CHECK(r.exit_code == 1);
  CHECK(r.err == "mvc: error: cannot check out 'feat': it is already checked out at " + wt.string() +
                     " (git worktree list); nothing changed\n");
  CHECK(snapshot(repo.root) == before);
  CHECK(git({"status", "--porcelain"}, repo.root).out == "");
}

TEST_CASE("a .mvc/cache that is a symlink is used where it points, not moved", "[cli][cache][compat]") {
  Repo repo;
  repo.put_model("mlp_v1");
  commit(repo.root, "v1");
  std::string v1 = pointer_sha(repo / "models/clf/weights.safetensors.mvc");
  TempDir disk;
  fs::rename(cache_dir(repo.root), disk.path() / "cache");
  fs::create_directory_symlink(disk.path() / "cache", repo / ".mvc/cache");
  RunResult r = run_mvc({"status"}, repo.root);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "models/clf: clean\n");
  CHECK(r.err.find("moved") == std::string::npos);
  CHECK(fs::is_symlink(repo / ".mvc/cache"));
  fs::remove(repo / "models/clf/weights.safetensors");
  r = run_mvc({"checkout", "--no-load"}, repo.root);
  CHECK(r.exit_code == 0);
  CHECK(run({"sha256sum", (repo / "models/clf/weights.safetensors").string()}).out.substr(0, 64) == v1);
}

TEST_CASE("log and status --json stay valid JSON for names and messages that are not UTF-8", "[cli][log][status]") {
  Repo repo;
  repo.put_model("mlp_v1", "models/lat\xe9");
  RunResult r = run_mvc({"commit", "models/lat\xe9", "-m", "bad \xff\xfe bytes"}, repo.root);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  for (auto args : std::vector<std::vector<std::string>>{{"log", "--json"}, {"status", "--json"}}) {
    r = run_mvc(args, repo.root);
    INFO(args[0] << ": " << r.err);
    CHECK(r.exit_code == 0);
    CHECK_NOTHROW(nlohmann::json::parse(r.out));
  }
}
