// mvc commit under concurrency and failure (issue 11): concurrent commits are serialised by
// git's index lock and lose nothing; a commit that fails changes no pointer, .gitignore, index
// or ref; .gitignore lines name weights files with glob characters exactly.
#include <unistd.h>

#include <thread>

#include "cli/cli_support.h"

using namespace mvc::test;

namespace {

/// Everything a failed commit must leave as it was: the work tree's bytes (the cache and the
/// local state under .mvc/ aside: an object stored before the failure is harmless), the index's
/// entries, `git status --porcelain` and every ref.
struct RepoState {
  std::map<std::string, std::string> files;
  std::string index, status, head, refs;
  explicit RepoState(const Repo& repo) {
    for (auto& [rel, bytes] : snapshot(repo.root))
      if (rel.rfind(".mvc/", 0) != 0 || rel == ".mvc/config.toml" || rel == ".mvc/.gitignore") files[rel] = bytes;
    // The index's entries, not its bytes: git status itself may rewrite the file to refresh
    // the stat data it caches (racily clean entries), which changes nothing staged.
    index = git({"ls-files", "--stage"}, repo.root).out;
    status = git({"status", "--porcelain", "--untracked-files=all"}, repo.root).out;
    head = git({"rev-parse", "HEAD"}, repo.root).out;
    refs = git({"for-each-ref", "--format=%(refname) %(objectname)"}, repo.root).out;
  }
};

void require_unchanged(const RepoState& before, const Repo& repo) {
  RepoState after(repo);
  CHECK(after.files == before.files);
  CHECK(after.index == before.index);
  CHECK(after.status == before.status);
  CHECK(after.head == before.head);
  CHECK(after.refs == before.refs);
}

/// A repository with models/clf at mlp_v1 committed and mlp_v2's files in the work tree: the
/// commit that fails would rewrite the pointer.
struct ChangedRepo : Repo {
  ChangedRepo() {
    put_model("mlp_v1");
    RunResult r = run_mvc({"commit", "models/clf", "-m", "v1"}, root);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    put_model("mlp_v2");
  }
};

std::string sha256_of(const fs::path& file) {
  RunResult r = run({"sha256sum", file.string()});
  REQUIRE(r.exit_code == 0);
  return r.out.substr(0, 64);
}

void make_hook(const fs::path& hook, const std::string& body) {
  write_file(hook, "#!/bin/sh\n" + body);
  fs::permissions(hook, fs::perms::owner_all);
}

}  // namespace

TEST_CASE("concurrent commits of two models are serialised: 30 rounds, no lost change, messages match",
          "[cli][commit][concurrency]") {
  Repo repo;
  git({"commit", "-q", "-m", "mvc init"}, repo.root);  // the first model commits are then not root commits
  const std::string fixtures[2] = {"mlp_v1", "mlp_v2"};
  const std::string sha[2] = {sha256_of(fixture_dir() / "mlp_v1/weights.safetensors"),
                              sha256_of(fixture_dir() / "mlp_v2/weights.safetensors")};
  constexpr int kRounds = 30;
  for (int round = 0; round < kRounds; ++round) {
    // Each round changes both models: a takes v1, v2, v1, ...; b the other one.
    int va = round % 2, vb = 1 - round % 2;
    repo.put_model(fixtures[va], "models/a");
    repo.put_model(fixtures[vb], "models/b");
    RunResult ra, rb;
    std::thread ta([&] { ra = run_mvc({"commit", "models/a", "-m", "a " + std::to_string(round)}, repo.root); });
    std::thread tb([&] { rb = run_mvc({"commit", "models/b", "-m", "b " + std::to_string(round)}, repo.root); });
    ta.join();
    tb.join();
    INFO("round " << round << "\na: " << ra.err << "\nb: " << rb.err);
    REQUIRE(ra.exit_code == 0);
    REQUIRE(rb.exit_code == 0);
    // Both changes are in HEAD's tree.
    CHECK(pointer_sha(repo / "models/a/weights.safetensors.mvc") == sha[va]);
    CHECK(pointer_sha(repo / "models/b/weights.safetensors.mvc") == sha[vb]);
    CHECK(git({"show", "HEAD:models/a/weights.safetensors.mvc"}, repo.root).out ==
          read_file(repo / "models/a/weights.safetensors.mvc"));
    CHECK(git({"show", "HEAD:models/b/weights.safetensors.mvc"}, repo.root).out ==
          read_file(repo / "models/b/weights.safetensors.mvc"));
    CHECK(git({"status", "--porcelain"}, repo.root).out.empty());
  }
  // Every commit's message names the one model its tree change touches: two per round, each
  // on top of the other (a linear history), none carrying the other's message.
  std::string log = git({"log", "--format=%H %s", "-" + std::to_string(2 * kRounds)}, repo.root).out;
  std::istringstream in(log);
  std::string id, model, round;
  std::map<std::string, int> per_round;
  int commits = 0;
  while (in >> id >> model >> round) {
    ++commits;
    std::string files = git({"diff-tree", "--no-commit-id", "--name-only", "-r", id}, repo.root).out;
    INFO(id << " " << model << " " << round << ": " << files);
    bool first_round = round == "0";
    // Round 0 also adds arch.toml, hparams.toml and .gitignore; later rounds change the pointer only.
    std::string pointer = "models/" + model + "/weights.safetensors.mvc\n";
    if (first_round)
      CHECK(files.find(pointer) != std::string::npos);
    else
      CHECK(files == pointer);
    CHECK(files.find(model == "a" ? "models/b/" : "models/a/") == std::string::npos);
    CHECK(git({"rev-list", "--count", id + "^@"}, repo.root).out ==
          std::to_string(repo.commit_count() - commits) + "\n");
    ++per_round[model + round];
  }
  CHECK(commits == 2 * kRounds);
  CHECK(per_round.size() == 2 * kRounds);
  CHECK(repo.commit_count() == 2 * kRounds + 1);  // + mvc init's
}

TEST_CASE("a stale .git/index.lock: exit 6 naming it after the wait, nothing changed", "[cli][commit][failure]") {
  ChangedRepo repo;
  write_file(repo / ".git/index.lock", "");  // as a crashed git leaves it
  RepoState before(repo);
  RunResult r = run_mvc({"commit", "models/clf", "-m", "v2"}, repo.root, {{"MVC_LOCK_TIMEOUT", "0.3"}});
  CHECK(r.exit_code == 6);
  CHECK(r.err.find("mvc: error: " + (repo / ".git/index.lock").string() + ": held by another process") !=
        std::string::npos);
  CHECK(r.err.find("remove the file if that process is gone") != std::string::npos);
  require_unchanged(before, repo);
  CHECK(read_file(repo / ".git/index.lock").empty());  // never broken: git's own lock
  // Once the lock is gone, the same commit goes through.
  fs::remove(repo / ".git/index.lock");
  r = run_mvc({"commit", "models/clf", "-m", "v2"}, repo.root);
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(git({"log", "--format=%s", "-1"}, repo.root).out == "v2\n");
}

TEST_CASE("another mvc commit holding the lock: exit 6 naming it and its holder, nothing changed",
          "[cli][commit][failure]") {
  ChangedRepo repo;
  std::string host = run({"hostname"}).out;
  host.erase(host.find_last_not_of('\n') + 1);
  // mvc's lock beside git's, as a live mvc commit (this test process) holds it.
  write_file(repo / ".git/index.mvc.lock", std::to_string(::getpid()) + " " + host + "\n");
  RepoState before(repo);
  RunResult r = run_mvc({"commit", "models/clf", "-m", "v2"}, repo.root, {{"MVC_LOCK_TIMEOUT", "0.3"}});
  CHECK(r.exit_code == 6);
  CHECK(r.err.find("mvc: error: " + (repo / ".git/index.mvc.lock").string() + ": held by pid " +
                   std::to_string(::getpid()) + " on host " + host) != std::string::npos);
  require_unchanged(before, repo);
  CHECK_FALSE(fs::exists(repo / ".git/index.lock"));
  fs::remove(repo / ".git/index.mvc.lock");
}

TEST_CASE("a split index is refused before anything changes, unsplit, the commit works", "[cli][commit][failure]") {
  ChangedRepo repo;
  git({"config", "core.splitIndex", "true"}, repo.root);
  git({"update-index", "--split-index"}, repo.root);
  RepoState before(repo);
  RunResult r = run_mvc({"commit", "models/clf", "-m", "v2"}, repo.root);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("mvc: error: " + (repo / ".git/index").string() + ": a split index") != std::string::npos);
  CHECK(r.err.find("git update-index --no-split-index") != std::string::npos);
  require_unchanged(before, repo);
  CHECK_FALSE(fs::exists(repo / ".git/index.lock"));

  git({"config", "core.splitIndex", "false"}, repo.root);
  git({"update-index", "--no-split-index"}, repo.root);
  r = run_mvc({"commit", "models/clf", "-m", "v2"}, repo.root);
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(git({"status", "--porcelain"}, repo.root).out.empty());
}

TEST_CASE("a failing pre-commit or commit-msg hook changes nothing", "[cli][commit][failure]") {
  ChangedRepo repo;
  std::string hook = GENERATE(std::string("pre-commit"), std::string("commit-msg"));
  make_hook(repo / ".git/hooks" / hook, "exit 3\n");
  SECTION("the pointer is rewritten") {}
  SECTION("the model switches weights files: the old pointer is removed, a .gitignore line added") {
    fs::rename(repo / "models/clf/weights.safetensors", repo / "models/clf/best.safetensors");
  }
  RepoState before(repo);
  RunResult r = run_mvc({"commit", "models/clf", "-m", "v2"}, repo.root);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find(hook + " hook failed (exit 3); nothing committed, nothing changed") != std::string::npos);
  require_unchanged(before, repo);
  CHECK_FALSE(fs::exists(repo / ".git/index.lock"));
}

TEST_CASE("a commit that fails for want of an identity changes nothing", "[cli][commit][failure]") {
  ChangedRepo repo;
  git({"config", "--unset", "user.name"}, repo.root);
  git({"config", "--unset", "user.email"}, repo.root);
  RepoState before(repo);
  fs::path home = repo.tmp / "home";  // no ~/.gitconfig there
  fs::create_directories(home);
  RunResult r = run_mvc({"commit", "models/clf", "-m", "v2"}, repo.root,
                        {{"HOME", home.string()}, {"XDG_CONFIG_HOME", home.string()}});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("author identity unknown") != std::string::npos);
  require_unchanged(before, repo);
  CHECK_FALSE(fs::exists(repo / ".git/index.lock"));
}

TEST_CASE("the pre-commit hook sees the index being committed and may stage more, as with git commit",
          "[cli][commit][hooks]") {
  ChangedRepo repo;
  fs::path seen = repo.tmp / "staged.txt";
  make_hook(repo / ".git/hooks/pre-commit",
            "git diff --cached --name-only > '" + seen.string() + "'\necho notes > notes.txt\ngit add notes.txt\n");
  RunResult r = run_mvc({"commit", "models/clf", "-m", "v2"}, repo.root);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(seen) == "models/clf/weights.safetensors.mvc\n");
  CHECK(git({"show", "--name-only", "--format=", "HEAD"}, repo.root).out ==
        "models/clf/weights.safetensors.mvc\nnotes.txt\n");
  CHECK(git({"status", "--porcelain"}, repo.root).out.empty());
  CHECK_FALSE(fs::exists(repo / ".git/index.lock"));
}

TEST_CASE(
    "weights files with glob characters, '!', '#', a backslash or trailing spaces in their names are ignored exactly",
    "[cli][commit][gitignore]") {
  Repo repo;
  struct Case {
    std::string name;   ///< the weights file
    std::string decoy;  ///< a file an unescaped pattern would ignore instead ("" = none)
  };
  const std::vector<Case> cases = {{"best[1].safetensors", "best1.safetensors"},
                                   {"a*b.safetensors", "a-long-b.safetensors"},
                                   {"what?.safetensors", "whatX.safetensors"},
                                   {"back\\slash.safetensors", "backslash.safetensors"},
                                   {"!bang.safetensors", ""},
                                   {"#hash.safetensors", ""},
                                   {"trailing.safetensors  ", "trailing.safetensors"}};
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    std::string dir = "models/m" + std::to_string(i);
    repo.put_model("mlp_v1", dir);
    fs::rename(repo / dir / "weights.safetensors", repo / dir / c.name);
    if (!c.decoy.empty()) write_file(repo / dir / c.decoy, "not weights\n");
    RunResult r = run_mvc({"commit", dir, "--weights", (repo / dir / c.name).string(), "-m", c.name}, repo.root);
    INFO(c.name << ": " << r.err << "\n.gitignore:\n" << read_file(repo / dir / ".gitignore"));
    REQUIRE(r.exit_code == 0);
    std::string weights = dir + "/" + c.name;
    CHECK(run({"git", "check-ignore", "-q", weights}, repo.root).exit_code == 0);
    CHECK(run({"git", "check-ignore", "-q", weights + ".mvc"}, repo.root).exit_code == 1);
    if (!c.decoy.empty()) CHECK(run({"git", "check-ignore", "-q", dir + "/" + c.decoy}, repo.root).exit_code == 1);
    git({"add", "-A"}, repo.root);
    std::string status = git({"status", "--porcelain", "-z"}, repo.root).out;
    std::string expect = c.decoy.empty() ? "" : "A  " + dir + "/" + c.decoy + std::string(1, '\0');
    CHECK(status == expect);
    CHECK(git({"ls-files", "-z", dir}, repo.root).out.find(weights + ".mvc" + std::string(1, '\0')) !=
          std::string::npos);
    if (!c.decoy.empty()) git({"rm", "-q", "-f", dir + "/" + c.decoy}, repo.root);
  }
  // A second commit of the same file, and an equivalent line written by hand, add no line.
  std::string dir = "models/m0";
  std::string ignore = read_file(repo / dir / ".gitignore");
  CHECK(ignore.find("/best\\[1].safetensors\n") != std::string::npos);
  repo.put_model("mlp_v2", dir);
  fs::rename(repo / dir / "weights.safetensors", repo / dir / "best[1].safetensors");
  RunResult r =
      run_mvc({"commit", dir, "--weights", (repo / dir / "best[1].safetensors").string(), "-m", "v2"}, repo.root);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(repo / dir / ".gitignore") == ignore);
  write_file(repo / dir / ".gitignore", "# by hand\r\nbest\\[1\\].safetensors \r\n");
  git({"commit", "-qam", "hand-written ignore"}, repo.root);
  repo.put_model("mlp_v1", dir);
  fs::rename(repo / dir / "weights.safetensors", repo / dir / "best[1].safetensors");
  r = run_mvc({"commit", dir, "--weights", (repo / dir / "best[1].safetensors").string(), "-m", "v3"}, repo.root);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(repo / dir / ".gitignore") == "# by hand\r\nbest\\[1\\].safetensors \r\n");
  CHECK(run({"git", "check-ignore", "-q", dir + "/best[1].safetensors"}, repo.root).exit_code == 0);
  // A line that re-includes the file afterwards makes mvc append its own again.
  write_file(repo / dir / ".gitignore", "/best\\[1].safetensors\n!best\\[1].safetensors\n");
  git({"commit", "-qam", "re-include"}, repo.root);
  repo.put_model("mlp_v2", dir);
  fs::rename(repo / dir / "weights.safetensors", repo / dir / "best[1].safetensors");
  r = run_mvc({"commit", dir, "--weights", (repo / dir / "best[1].safetensors").string(), "-m", "v4"}, repo.root);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(repo / dir / ".gitignore") ==
        "/best\\[1].safetensors\n!best\\[1].safetensors\n/best\\[1].safetensors\n");
  CHECK(run({"git", "check-ignore", "-q", dir + "/best[1].safetensors"}, repo.root).exit_code == 0);
  CHECK(git({"status", "--porcelain"}, repo.root).out.empty());
}

TEST_CASE("a weights file name with a line break is refused before anything changes", "[cli][commit][gitignore]") {
  ChangedRepo repo;
  fs::rename(repo / "models/clf/weights.safetensors", repo / "models/clf/two\nlines.safetensors");
  RepoState before(repo);
  RunResult r = run_mvc({"commit", "models/clf", "-m", "v2"}, repo.root);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("a weights file name with a line break cannot be written to .gitignore") != std::string::npos);
  require_unchanged(before, repo);
}
