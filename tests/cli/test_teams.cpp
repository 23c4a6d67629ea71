// A model directory merged as a unit (issue 17 item 2): the merge driver of pointer files leaves
// a model both sides retrained unmerged without conflict markers; a merge that pairs one side's
// weights with the other side's arch.toml is a conflict of the whole model (status, refusals,
// pre-merge-commit), and `mvc checkout --ours|--theirs` resolves both. Real git, two clones of a
// bare origin with a shared folder remote.
#include <regex>

#include "cli/remote_support.h"

using namespace mvc::test;

namespace {

const std::string kPointer = "models/clf/weights.safetensors.mvc";

void mvc_ok(const std::vector<std::string>& args, const fs::path& root) {
  RunResult r = run_mvc(args, root);
  INFO("mvc " << args.front() << ": " << r.out << r.err);
  REQUIRE(r.exit_code == 0);
}

std::string replace(std::string text, const std::string& from, const std::string& to) {
  auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

std::string short_id(const fs::path& repo, const std::string& rev) {
  return git({"rev-parse", "--short=7", rev}, repo).out.substr(0, 7);
}

/// A bare origin, a folder remote, clones `a` and `b` with mvc's hooks; models/clf (mlp_v1)
/// committed by a and pulled by b.
struct Team {
  TempDir tmp;
  fs::path origin = tmp / "origin.git", shared = tmp / "shared", a = tmp / "a", b = tmp / "b";
  Team() {
    git({"init", "-q", "--bare", "-b", "main", origin.string()}, tmp.path());
    git_clone(origin, a);
    mvc_ok({"init"}, a);
    mvc_ok({"remote", "add", "team", shared.string(), "--default"}, a);
    mvc_ok({"install-hooks"}, a);
    copy_fixture_model("mlp_v1", a / "models/clf");
    mvc_ok({"commit", "models/clf", "-m", "v1"}, a);
    git({"push", "-q", "origin", "main"}, a);
    git_clone(origin, b);
    mvc_ok({"install-hooks"}, b);
    mvc_ok({"pull"}, b);
  }
  std::string pointer(const fs::path& repo) const { return read_file(repo / kPointer); }
  /// New weights in `repo` (mlp_v1 with byte `k` from the end changed), committed.
  void retrain(const fs::path& repo, int k, const std::string& msg) const {
    write_weights_variant("mlp_v1", repo / "models/clf/weights.safetensors", k);
    mvc_ok({"commit", "models/clf", "-m", msg}, repo);
  }
  /// Another architecture name in `repo`'s arch.toml (the same shapes), committed.
  void rename_arch(const fs::path& repo, const std::string& name) const {
    write_file(repo / "models/clf/arch.toml",
               replace(read_file(repo / "models/clf/arch.toml"), "name = \"mlp\"", "name = \"" + name + "\""));
    mvc_ok({"commit", "models/clf", "-m", "arch " + name}, repo);
  }
};

}  // namespace

TEST_CASE("merge driver: weights changed on both sides leave the model unmerged, no markers in the pointer",
          "[cli][teams]") {
  Team t;
  t.retrain(t.a, 4, "a retrains");
  git({"push", "-q", "origin", "main"}, t.a);
  t.retrain(t.b, 8, "b retrains");
  const std::string ours = t.pointer(t.b);
  RunResult pull = git({"pull", "--no-rebase", "--no-edit", "origin", "main"}, t.b, false);
  INFO(pull.out << pull.err);
  REQUIRE(pull.exit_code != 0);
  CHECK(pull.err.find("mvc merge-driver: " + kPointer + ": both sides changed the weights (ours sha256:") !=
        std::string::npos);
  CHECK(git({"status", "--porcelain"}, t.b).out == "UU " + kPointer + "\n");
  CHECK(t.pointer(t.b) == ours);  // no conflict markers: ours, as it was
  CHECK(t.pointer(t.b).find("<<<<<<<") == std::string::npos);

  RunResult st = run_mvc({"status"}, t.b);
  INFO(st.out << st.err);
  REQUIRE(st.exit_code == 0);
  CHECK(st.out.find("models/clf: unmerged (conflict in weights.safetensors.mvc)\n  ours:   " + short_id(t.b, "HEAD") +
                    " weights.safetensors sha256:" + pointer_sha(t.b / kPointer).substr(0, 8) +
                    " 1.2 KiB, 241 parameters") == 0);
  CHECK(st.out.find("  theirs: " + short_id(t.b, "MERGE_HEAD") + " weights.safetensors sha256:" +
                    pointer_sha(t.a / kPointer).substr(0, 8) + " 1.2 KiB, 241 parameters\n") != std::string::npos);
  RunResult show = run_mvc({"show", "models/clf"}, t.b);
  CHECK(show.exit_code == 7);

  RunResult r = run_mvc({"checkout", "--theirs", "models/clf", "--no-load"}, t.b);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(t.pointer(t.b) == t.pointer(t.a));
  CHECK(read_file(t.b / "models/clf/weights.safetensors") == read_file(t.a / "models/clf/weights.safetensors"));
  git({"commit", "-q", "--no-edit"}, t.b);
  CHECK(run_mvc({"status"}, t.b).out == "models/clf: clean\n");
}

TEST_CASE("merge-driver run by hand: a one-line usage error, exit 2, nothing written", "[cli][teams]") {
  Repo repo;
  RunResult r = run_mvc({"merge-driver"}, repo.root);
  CHECK(r.exit_code == 2);
  CHECK(r.err ==
        "mvc: error: merge-driver: takes 4 arguments, got 0; git runs it during a merge as 'mvc merge-driver %O %A "
        "%B %P' (merge.mvc.driver, set by mvc install-hooks)\n");
  r = run_mvc({"merge-driver", "base", "ours", "theirs", kPointer}, repo.root);
  CHECK(r.exit_code == 2);
  CHECK(r.err ==
        "mvc: error: merge-driver: base: no such file; git runs 'mvc merge-driver %O %A %B %P' during a merge, with "
        "the files of both sides\n");
  // Files that are not pointers: an invalid pointer (exit 7), the files untouched.
  write_file(repo / "o", "");
  write_file(repo / "a", "not a pointer\n");
  write_file(repo / "b", "not a pointer either\n");
  r = run_mvc({"merge-driver", "o", "a", "b", kPointer}, repo.root);
  CHECK(r.exit_code == 7);
  CHECK(r.err.rfind("mvc: error: " + kPointer + " (ours):1:", 0) == 0);
  CHECK(read_file(repo / "a") == "not a pointer\n");
}

TEST_CASE("one side's weights and the other side's arch.toml: conflicted as a whole, refused, resolved",
          "[cli][teams]") {
  Team t;
  t.rename_arch(t.a, "mlp-a");  // a changes the architecture (same shapes)
  git({"push", "-q", "origin", "main"}, t.a);
  t.retrain(t.b, 4, "b retrains");  // b retrains the old one
  const std::string b_pointer = t.pointer(t.b);
  // git merges the files cleanly; pre-merge-commit refuses the pair, the merge stays open.
  RunResult pull = git({"pull", "--no-rebase", "--no-edit", "origin", "main"}, t.b, false);
  INFO(pull.out << pull.err);
  REQUIRE(pull.exit_code != 0);
  CHECK(pull.err.find("mvc pre-merge-commit: models/clf: unmerged (conflicted as a whole: weights from ours, "
                      "arch.toml from theirs, never trained together); resolve with 'mvc checkout --ours|--theirs "
                      "models/clf'") != std::string::npos);
  CHECK(fs::exists(t.b / ".git/MERGE_HEAD"));
  CHECK(git({"diff", "--name-only", "--diff-filter=U"}, t.b).out == "");

  RunResult st = run_mvc({"status"}, t.b);
  INFO(st.out);
  CHECK(st.out.find("models/clf: unmerged (conflicted as a whole: weights from ours, arch.toml from theirs)\n"
                    "  ours:   " +
                    short_id(t.b, "HEAD") + " weights.safetensors sha256:" + pointer_sha(t.b / kPointer).substr(0, 8) +
                    " 1.2 KiB, 241 parameters\n  theirs: " + short_id(t.b, "MERGE_HEAD") +
                    " weights.safetensors sha256:" + pointer_sha(t.a / kPointer).substr(0, 8) +
                    " 1.2 KiB, 241 parameters\n  resolve with 'mvc checkout --ours|--theirs models/clf'\n") == 0);
  RunResult j = run_mvc({"status", "--json"}, t.b);
  auto m = nlohmann::json::parse(j.out)["models"][0];
  CHECK(m["changes"] == nlohmann::json::array({"unmerged"}));
  CHECK(m["conflict"]["mixed"] == "weights from ours, arch.toml from theirs");
  CHECK(m["conflict"]["files"] == nlohmann::json::array());
  CHECK(m["conflict"]["theirs"]["parameters"] == 241);
  CHECK(m["conflict"]["ours"]["commit"] == git({"rev-parse", "HEAD"}, t.b).out.substr(0, 40));

  // git commit (pre-commit) and mvc's readers refuse it too.
  RunResult commit = git({"commit", "--no-edit"}, t.b, false);
  CHECK(commit.exit_code != 0);
  CHECK(commit.err.find("mvc pre-commit: models/clf: unmerged (conflicted as a whole") != std::string::npos);
  RunResult show = run_mvc({"show", "models/clf"}, t.b);
  CHECK(show.exit_code == 7);
  CHECK(show.err.find("models/clf: unmerged (conflicted as a whole") != std::string::npos);

  // Ours, whole: our arch.toml back under our weights.
  RunResult r = run_mvc({"checkout", "--ours", "models/clf", "--no-load"}, t.b);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("models/clf: resolved with ours (models/clf/arch.toml)") != std::string::npos);
  CHECK(read_file(t.b / "models/clf/arch.toml").find("name = \"mlp\"") != std::string::npos);
  CHECK(t.pointer(t.b) == b_pointer);
  CHECK(run_mvc({"status"}, t.b).out == "models/clf: clean\n");
  git({"commit", "-q", "--no-edit"}, t.b);
  CHECK(git({"rev-list", "--count", "--merges", "HEAD"}, t.b).out == "1\n");
}

TEST_CASE("pre-merge-commit refuses a merge whose weights do not fit arch.toml", "[cli][teams]") {
  Team t;
  // a commits an hparams change that the weights do not fit (past its own hooks).
  std::string hp = read_file(t.a / "models/clf/hparams.toml");
  write_file(t.a / "models/clf/hparams.toml", replace(hp, "hidden_size = 20", "hidden_size = 32"));
  git({"commit", "-q", "--no-verify", "-am", "bigger"}, t.a);
  git({"push", "-q", "--no-verify", "origin", "main"}, t.a);
  write_file(t.b / "notes.txt", "b\n");
  git({"add", "notes.txt"}, t.b);
  git({"commit", "-qm", "notes"}, t.b);
  const std::string head = git({"rev-parse", "HEAD"}, t.b).out;
  RunResult pull = git({"pull", "--no-rebase", "--no-edit", "origin", "main"}, t.b, false);
  INFO(pull.err);
  CHECK(pull.exit_code != 0);
  CHECK(pull.err.find("mvc pre-merge-commit: models/clf/weights.safetensors does not fit models/clf/arch.toml") !=
        std::string::npos);
  CHECK(pull.err.find("'git merge --no-verify' bypasses this check") != std::string::npos);
  CHECK(git({"rev-parse", "HEAD"}, t.b).out == head);  // no merge commit
}

TEST_CASE("git pull --rebase: post-rewrite warns of weights rebased onto another arch.toml and updates them",
          "[cli][teams]") {
  Team t;
  t.rename_arch(t.a, "mlp-a");
  git({"push", "-q", "origin", "main"}, t.a);
  t.retrain(t.b, 4, "b retrains");
  const std::string old_id = short_id(t.b, "HEAD");
  const std::string weights = read_file(t.b / "models/clf/weights.safetensors");
  RunResult pull = git({"pull", "--rebase", "origin", "main"}, t.b, false);
  INFO(pull.out << pull.err);
  REQUIRE(pull.exit_code == 0);
  const std::string new_id = short_id(t.b, "HEAD");
  CHECK(pull.err.find("mvc post-rewrite (rebase) warning: models/clf at " + new_id + " (was " + old_id +
                      "): its weights were trained for the arch.toml of " + old_id +
                      ", and the arch.toml under them is another one now") != std::string::npos);
  CHECK(read_file(t.b / "models/clf/weights.safetensors") == weights);
  CHECK(read_file(t.b / "models/clf/arch.toml").find("mlp-a") != std::string::npos);
  CHECK(run_mvc({"status"}, t.b).out == "models/clf: clean\n");

  // A rebase over other weights: the work tree's weights follow the rebased pointer.
  git({"push", "-q", "origin", "main"}, t.b);
  git({"pull", "-q", "--ff-only", "origin", "main"}, t.a);
  t.retrain(t.a, 12, "a retrains");
  git({"push", "-q", "origin", "main"}, t.a);
  write_file(t.b / "notes.txt", "b\n");
  git({"add", "notes.txt"}, t.b);
  git({"commit", "-qm", "notes"}, t.b);
  pull = git({"pull", "--rebase", "origin", "main"}, t.b, false);
  INFO(pull.err);
  REQUIRE(pull.exit_code == 0);
  CHECK(pull.err.find("warning") == std::string::npos);
  CHECK(t.pointer(t.b) == t.pointer(t.a));
  CHECK(read_file(t.b / "models/clf/weights.safetensors") == read_file(t.a / "models/clf/weights.safetensors"));
  CHECK(run_mvc({"status"}, t.b).out == "models/clf: clean\n");
}

TEST_CASE("cherry-pick of retrained weights onto another arch.toml: warned, naming the model and commits",
          "[cli][teams]") {
  Team t;
  git({"checkout", "-q", "-b", "exp"}, t.a);
  t.retrain(t.a, 4, "exp retrains");
  const std::string picked = short_id(t.a, "HEAD");
  const std::string weights = read_file(t.a / "models/clf/weights.safetensors");
  git({"checkout", "-q", "main"}, t.a);
  t.rename_arch(t.a, "mlp-main");
  RunResult cp = git({"cherry-pick", "exp"}, t.a, false);
  INFO(cp.out << cp.err);
  REQUIRE(cp.exit_code == 0);
  CHECK(cp.err.find("mvc post-commit (cherry-pick) warning: models/clf at " + short_id(t.a, "HEAD") + " (was " +
                    picked + "): its weights were trained for the arch.toml of " + picked) != std::string::npos);
  CHECK(read_file(t.a / "models/clf/weights.safetensors") == weights);  // the picked weights, restored
  CHECK(run_mvc({"status"}, t.a).out == "models/clf: clean\n");
}

TEST_CASE("pre-push refuses a commit whose weights do not fit its arch.toml, naming the commit", "[cli][teams]") {
  Team t;
  std::string hp = read_file(t.a / "models/clf/hparams.toml");
  write_file(t.a / "models/clf/hparams.toml", replace(hp, "hidden_size = 20", "hidden_size = 32"));
  git({"commit", "-q", "--no-verify", "-am", "bigger"}, t.a);
  const std::string bad = short_id(t.a, "HEAD");
  write_file(t.a / "notes.txt", "later\n");
  git({"add", "notes.txt"}, t.a);
  git({"commit", "-qm", "later"}, t.a);
  RunResult push = git({"push", "origin", "main"}, t.a, false);
  INFO(push.err);
  CHECK(push.exit_code != 0);
  CHECK(push.err.find("mvc pre-push: commit " + bad + " (bigger): models/clf/weights.safetensors at " + bad +
                      " does not fit models/clf/arch.toml at " + bad) != std::string::npos);
  CHECK(push.err.find("push blocked ('git push --no-verify' bypasses this check)") != std::string::npos);
  CHECK(git({"rev-parse", "origin/main"}, t.a).out != git({"rev-parse", "HEAD"}, t.a).out);
}

TEST_CASE("pre-push sends the --example input and output objects", "[cli][teams]") {
  Team t;
  fs::path input = fixture_dir() / "mlp_v1.io/input.safetensors";
  write_weights_variant("mlp_v1", t.a / "models/clf/weights.safetensors", 8);
  mvc_ok({"commit", "models/clf", "-m", "with example", "--example", input.string()}, t.a);
  std::smatch m;
  const std::string ptr = t.pointer(t.a);
  REQUIRE(std::regex_search(ptr, m,
                            std::regex("\\[example\\]\\ninput = \"([0-9a-f]{64})\"\\noutput = \"([0-9a-f]{64})\"")));
  RunResult push = git({"push", "origin", "main"}, t.a);
  INFO(push.err);
  for (std::string sha : {m[1].str(), m[2].str()})
    CHECK(fs::exists(t.shared / "objects/sha256" / sha.substr(0, 2) / sha.substr(2)));
}
