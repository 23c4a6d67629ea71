// Git hooks: install/uninstall with chaining, core.hooksPath, weights following git checkout
// and merge, pre-commit refusals, pre-push blocking, and mvc commit running the repo's hooks.
#include "cli/remote_support.h"

using namespace mvc::test;

namespace {

struct HookedRepo : Repo {
  HookedRepo() {
    RunResult r = run_mvc({"install-hooks"}, root);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  }
  fs::path weights() const { return root / "models/clf/weights.safetensors"; }
};

std::string fixture_weights(const std::string& name) { return read_file(fixture_dir() / name / "weights.safetensors"); }

void make_user_hook(const fs::path& hook, const fs::path& log) {
  write_file(hook,
             "#!/bin/sh\necho \"user $(basename \"$0\") ran\" >> '" + log.string() + "'\nexit ${USER_HOOK_EXIT:-0}\n");
  fs::permissions(hook, fs::perms::owner_all);
}

}  // namespace

TEST_CASE("install-hooks installs its hooks, chains an existing one, is idempotent, uninstall restores",
          "[cli][hooks]") {
  Repo repo;
  fs::path hooks = repo / ".git/hooks";
  fs::path log = repo.tmp / "hook.log";
  make_user_hook(hooks / "pre-commit", log);
  std::string user_hook = read_file(hooks / "pre-commit");

  RunResult r = run_mvc({"install-hooks"}, repo.root);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("pre-commit: installed, chaining the existing hook") != std::string::npos);
  for (auto name :
       {"pre-commit", "pre-merge-commit", "post-commit", "post-checkout", "post-merge", "post-rewrite", "pre-push"}) {
    CHECK(read_file(hooks / name).find("installed by `mvc install-hooks`") != std::string::npos);
    CHECK((fs::status(hooks / name).permissions() & fs::perms::owner_exec) != fs::perms::none);
  }
  CHECK(read_file(hooks / "pre-commit.pre-mvc") == user_hook);
  auto before = snapshot(hooks);
  r = run_mvc({"install-hooks"}, repo.root);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("pre-commit: already installed") != std::string::npos);
  CHECK(snapshot(hooks) == before);

  // The user's hook still runs under git commit, and its failure still stops the commit.
  write_file(repo / "notes.txt", "a\n");
  git({"add", "notes.txt"}, repo.root);
  git({"commit", "-qm", "notes"}, repo.root);
  CHECK(read_file(log) == "user pre-commit.pre-mvc ran\n");
  write_file(repo / "notes.txt", "b\n");
  git({"add", "notes.txt"}, repo.root);
  RunResult fail = run({"git", "commit", "-qm", "blocked"}, repo.root, {{"USER_HOOK_EXIT", "3"}});
  CHECK(fail.exit_code != 0);
  CHECK(git({"log", "--format=%s", "-1"}, repo.root).out == "notes\n");

  r = run_mvc({"uninstall-hooks"}, repo.root);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(hooks / "pre-commit") == user_hook);
  CHECK_FALSE(fs::exists(hooks / "pre-commit.pre-mvc"));
  CHECK_FALSE(fs::exists(hooks / "post-checkout"));
  CHECK_FALSE(fs::exists(hooks / "pre-push"));
  git({"commit", "-qm", "after uninstall"}, repo.root);
  // Three runs: the commit, the refused commit (both chained by mvc's hook), then the original alone.
  CHECK(read_file(log) == "user pre-commit.pre-mvc ran\nuser pre-commit.pre-mvc ran\nuser pre-commit ran\n");
}

TEST_CASE("core.hooksPath is honoured, relative to the work tree", "[cli][hooks]") {
  Repo repo;
  git({"config", "core.hooksPath", ".githooks"}, repo.root);
  fs::create_directories(repo / "sub");
  RunResult r = run_mvc({"install-hooks"}, repo / "sub");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(fs::exists(repo / ".githooks/post-checkout"));
  CHECK_FALSE(fs::exists(repo / ".git/hooks/post-checkout"));
}

TEST_CASE("weights follow git checkout of branches, and git merge", "[cli][hooks]") {
  HookedRepo repo;
  repo.put_model("mlp_v1");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v1"}, repo.root).exit_code == 0);
  git({"checkout", "-q", "-b", "exp"}, repo.root);
  repo.put_model("mlp_v2");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v2"}, repo.root).exit_code == 0);

  RunResult r = git({"checkout", "-q", "main"}, repo.root);
  CHECK(read_file(repo.weights()) == fixture_weights("mlp_v1"));
  CHECK(r.err.find("updated to sha256:") != std::string::npos);
  git({"checkout", "-q", "exp"}, repo.root);
  CHECK(read_file(repo.weights()) == fixture_weights("mlp_v2"));
  git({"checkout", "-q", "main"}, repo.root);
  git({"merge", "-q", "--ff-only", "exp"}, repo.root);
  CHECK(read_file(repo.weights()) == fixture_weights("mlp_v2"));
  CHECK(run_mvc({"status"}, repo.root).out == "models/clf: clean\n");
}

TEST_CASE("post-checkout changes nothing for file checkouts and during a rebase", "[cli][hooks]") {
  HookedRepo repo;
  repo.put_model("mlp_v1");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v1", "--tag", "v1"}, repo.root).exit_code == 0);
  repo.put_model("mlp_v2");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v2"}, repo.root).exit_code == 0);

  // A file checkout of the old pointer: the hook runs with flag 0 and leaves the weights.
  git({"checkout", "v1", "--", "models/clf/weights.safetensors.mvc"}, repo.root);
  CHECK(read_file(repo.weights()) == fixture_weights("mlp_v2"));
  git({"checkout", "HEAD", "--", "models/clf/weights.safetensors.mvc"}, repo.root);

  // A rebase that stops on a conflict: git checks out commits while rebase-merge exists.
  write_file(repo / "notes.txt", "base\n");
  git({"add", "notes.txt"}, repo.root);
  git({"commit", "-qm", "notes"}, repo.root);
  git({"checkout", "-q", "-b", "side", "v1"}, repo.root);
  CHECK(read_file(repo.weights()) == fixture_weights("mlp_v1"));  // a branch checkout: updated
  write_file(repo / "notes.txt", "side\n");
  git({"add", "notes.txt"}, repo.root);
  git({"commit", "-qm", "side notes"}, repo.root);
  RunResult rb = git({"rebase", "main"}, repo.root, false);
  REQUIRE(rb.exit_code != 0);  // stopped on the notes.txt conflict, HEAD detached at main's tip
  CHECK(fs::exists(repo / ".git/rebase-merge"));
  CHECK(read_file(repo.weights()) == fixture_weights("mlp_v1"));  // not touched mid-rebase
  git({"rebase", "--abort"}, repo.root);
}

TEST_CASE("pre-commit refuses a staged pointer whose weights changed afterwards", "[cli][hooks]") {
  HookedRepo repo;
  repo.put_model("mlp_v1");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v1"}, repo.root).exit_code == 0);
  repo.put_model("mlp_v2");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v2"}, repo.root).exit_code == 0);
  // Stage v1's pointer by hand, then let the weights differ from it.
  git({"checkout", "HEAD~1", "--", "models/clf/weights.safetensors.mvc"}, repo.root);
  RunResult r = git({"commit", "-m", "stale"}, repo.root, false);
  CHECK(r.exit_code != 0);
  CHECK(
      r.err.find("models/clf/weights.safetensors changed after its pointer was staged; run 'mvc commit models/clf'") !=
      std::string::npos);
  CHECK(git({"log", "--format=%s", "-1"}, repo.root).out == "v2\n");
  // --no-verify bypasses it, as git's own hooks are bypassed.
  CHECK(git({"commit", "-q", "--no-verify", "-m", "forced"}, repo.root).exit_code == 0);
}

TEST_CASE("pre-commit refuses an arch.toml that does not fit the staged weights", "[cli][hooks]") {
  HookedRepo repo;
  repo.put_model("mlp_v1");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v1"}, repo.root).exit_code == 0);
  std::string hp = read_file(repo / "models/clf/hparams.toml");
  write_file(repo / "models/clf/hparams.toml", hp.replace(hp.find("hidden_size = 20"), 16, "hidden_size = 32"));
  git({"add", "models/clf/hparams.toml"}, repo.root);
  RunResult r = git({"commit", "-m", "bigger"}, repo.root, false);
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("tensor 'linear1.weight': shape [20, 10], expected [32, 10]") != std::string::npos);
}

TEST_CASE("mvc commit runs the repository's pre-commit, commit-msg and post-commit hooks", "[cli][hooks]") {
  Repo repo;
  fs::path hooks = repo / ".git/hooks";
  fs::path log = repo.tmp / "hook.log";
  make_user_hook(hooks / "pre-commit", log);
  make_user_hook(hooks / "post-commit", log);
  write_file(hooks / "commit-msg", "#!/bin/sh\necho 'Signed-off-by: Hook' >> \"$1\"\n");
  fs::permissions(hooks / "commit-msg", fs::perms::owner_all);
  repo.put_model("mlp_v1");
  RunResult r = run_mvc({"commit", "models/clf", "-m", "v1"}, repo.root);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(log) == "user pre-commit ran\nuser post-commit ran\n");
  CHECK(git({"log", "--format=%B", "-1"}, repo.root).out == "v1\nSigned-off-by: Hook\n\n");

  repo.put_model("mlp_v2");
  int n = repo.commit_count();
  r = run_mvc({"commit", "models/clf", "-m", "v2"}, repo.root, {{"USER_HOOK_EXIT", "1"}});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("pre-commit hook failed") != std::string::npos);
  CHECK(repo.commit_count() == n);
  r = run_mvc({"commit", "models/clf", "-m", "v2", "--no-verify"}, repo.root, {{"USER_HOOK_EXIT", "1"}});
  CHECK(r.exit_code == 0);
  CHECK(repo.commit_count() == n + 1);
}

TEST_CASE("a push of commits with weights and no mvc remote is blocked, nothing is lost", "[cli][hooks]") {
  HookedRepo repo;
  fs::path origin = repo.tmp / "origin.git";
  git({"init", "-q", "--bare", origin.string()}, repo.tmp.path());
  git({"remote", "add", "origin", origin.string()}, repo.root);
  repo.put_model("mlp_v1");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v1"}, repo.root).exit_code == 0);
  RunResult r = git({"push", "origin", "main"}, repo.root, false);
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("no mvc remote") != std::string::npos);
  CHECK(r.err.find("--no-verify") != std::string::npos);
  CHECK(git({"rev-parse", "--verify", "-q", "refs/heads/main"}, origin, false).exit_code != 0);  // nothing pushed
  CHECK(read_file(repo.weights()) == fixture_weights("mlp_v1"));
  CHECK(run_mvc({"status"}, repo.root).out == "models/clf: clean\n");

  // With an mvc remote but the object gone from the cache: still blocked, nothing sent.
  REQUIRE(run_mvc({"remote", "add", "shared", (repo.tmp / "shared").string(), "--default"}, repo.root).exit_code == 0);
  git({"commit", "-qm", "remote"}, repo.root);
  std::string sha = pointer_sha(repo / "models/clf/weights.safetensors.mvc");
  fs::path obj = object_path(repo.root, sha);
  fs::permissions(obj, fs::perms::owner_write, fs::perm_options::add);
  fs::rename(obj, repo.tmp / "saved-object");
  r = git({"push", "origin", "main"}, repo.root, false);
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("in neither the cache nor") != std::string::npos);
  CHECK(git({"rev-parse", "--verify", "-q", "refs/heads/main"}, origin, false).exit_code != 0);
  // Put it back: the push goes through and carries the weights.
  fs::rename(repo.tmp / "saved-object", obj);
  r = git({"push", "origin", "main"}, repo.root, false);
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("1 object(s) sent") != std::string::npos);
  CHECK(read_file(repo.tmp / "shared/objects/sha256" / sha.substr(0, 2) / sha.substr(2)) == fixture_weights("mlp_v1"));
}

TEST_CASE("two clones with hooks and a shared folder remote: weights follow push, pull and checkout", "[cli][hooks]") {
  TempDir tmp;
  fs::path origin = tmp / "origin.git", shared = tmp / "shared", a = tmp / "a", b = tmp / "b";
  git({"init", "-q", "--bare", "-b", "main", origin.string()}, tmp.path());
  // A sets up the project: mvc, the remote, the hooks.
  git_clone(origin, a);
  REQUIRE(run_mvc({"init"}, a).exit_code == 0);
  REQUIRE(run_mvc({"remote", "add", "team", shared.string(), "--default"}, a).exit_code == 0);
  git({"commit", "-qm", "mvc"}, a);
  git({"push", "-q", "origin", "main"}, a);
  REQUIRE(run_mvc({"install-hooks"}, a).exit_code == 0);
  // B clones and installs the hooks once, as with git lfs install.
  git_clone(origin, b);
  REQUIRE(run_mvc({"install-hooks"}, b).exit_code == 0);

  copy_fixture_model("mlp_v1", a / "models/clf");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v1"}, a).exit_code == 0);
  RunResult push = git({"push", "origin", "main"}, a);
  CHECK(push.err.find("1 object(s) sent to") != std::string::npos);

  RunResult pull = git({"pull", "-q", "--ff-only", "origin", "main"}, b);
  INFO(pull.err);
  CHECK(read_file(b / "models/clf/weights.safetensors") == fixture_weights("mlp_v1"));

  git({"checkout", "-q", "-b", "exp"}, a);
  copy_fixture_model("mlp_v2", a / "models/clf");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v2"}, a).exit_code == 0);
  git({"push", "-q", "origin", "exp"}, a);

  git({"fetch", "-q", "origin"}, b);
  git({"checkout", "-q", "-b", "exp", "origin/exp"}, b);
  CHECK(read_file(b / "models/clf/weights.safetensors") == fixture_weights("mlp_v2"));
  git({"checkout", "-q", "main"}, b);
  CHECK(read_file(b / "models/clf/weights.safetensors") == fixture_weights("mlp_v1"));
  CHECK(run_mvc({"status"}, b).out == "models/clf: clean\n");
}

TEST_CASE("pre-commit refuses a staged metrics.toml that does not parse, naming it", "[cli][hooks]") {
  HookedRepo repo;
  repo.put_model("mlp_v1");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v1"}, repo.root).exit_code == 0);
  write_file(repo / "models/clf/metrics.toml", "accuracy = 0.91\nloss = \n");
  git({"add", "models/clf/metrics.toml"}, repo.root);
  RunResult r = git({"commit", "-m", "metrics"}, repo.root, false);
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("mvc pre-commit: models/clf/metrics.toml:2:") != std::string::npos);
  CHECK(git({"log", "--format=%s", "-1"}, repo.root).out == "v1\n");
  write_file(repo / "models/clf/metrics.toml", "accuracy = 0.91\n");
  git({"add", "models/clf/metrics.toml"}, repo.root);
  CHECK(git({"commit", "-qm", "metrics"}, repo.root, false).exit_code == 0);
}

TEST_CASE("install-hooks in a repository without .mvc/ leaves .gitattributes alone", "[cli][hooks]") {
  TempDir tmp;
  git_init(tmp / "plain");
  RunResult r = run_mvc({"install-hooks"}, tmp / "plain");
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find(".gitattributes: left alone (no .mvc/ here: run 'mvc init', then 'mvc install-hooks')") !=
        std::string::npos);
  CHECK_FALSE(fs::exists(tmp / "plain/.gitattributes"));
}
