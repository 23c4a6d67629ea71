// Merge conflicts in a model directory (issue 11 item 12; docs/repository-format.md, "Merge
// conflicts"): real conflicts made with the git CLI. status shows both sides, the commands that
// would read or overwrite the directory refuse and change nothing, checkout --ours/--theirs
// resolve the directory as a unit (files, index, verified weights), and a pointer committed with
// its conflict markers is an invalid pointer naming them.
#include <regex>

#include "cli/cli_support.h"
#include "util/sha256.h"

using namespace mvc::test;

namespace {

std::string sha_in(const std::string& pointer_text) {
  std::smatch m;
  REQUIRE(std::regex_search(pointer_text, m, std::regex("sha256 = \"([0-9a-f]{64})\"")));
  return m[1];
}

std::string replace(std::string text, const std::string& from, const std::string& to) {
  auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

void mvc_ok(const std::vector<std::string>& args, const fs::path& root) {
  RunResult r = run_mvc(args, root);
  INFO("mvc " << args.front() << ": " << r.out << r.err);
  REQUIRE(r.exit_code == 0);
}

const std::string kPointer = "models/clf/weights.safetensors.mvc";
const std::string kRefusal =
    "mvc: error: models/clf: unmerged (conflict in hparams.toml, weights.safetensors.mvc); resolve with 'mvc "
    "checkout --ours|--theirs models/clf' or edit and 'git add'\n";

/// models/clf (and a second model, models/aux) committed on main and tagged base; branch
/// feature ("theirs") commits other weights (mlp_v2) and lr = 0.1, main ("ours") other weights
/// (mlp_v1 with one mantissa bit changed) and lr = 0.01, each with a recorded example; `git merge
/// feature` then stops on a conflict in hparams.toml and the pointer. Every version's objects are
/// pushed to the default folder remote.
struct WeightsConflict : Repo {
  fs::path input = fixture_dir() / "mlp_v1.io/input.safetensors";
  std::string ours_sha, theirs_sha;
  std::string ours_pointer, theirs_pointer, ours_hparams, theirs_hparams;
  WeightsConflict() {
    mvc_ok({"remote", "add", "origin", (tmp / "remote").string(), "--default"}, root);
    put_model("mlp_v1");
    put_model("mlp_v1", "models/aux");
    mvc_ok({"commit", "models/clf", "models/aux", "-m", "base", "--tag", "base"}, root);
    const std::string hparams = read_file(root / "models/clf/hparams.toml");

    git({"checkout", "-q", "-b", "feature"}, root);
    put_model("mlp_v2");
    write_file(root / "models/clf/hparams.toml", replace(hparams, "lr = 0.05", "lr = 0.1"));
    mvc_ok({"commit", "models/clf", "-m", "theirs", "--example", input.string()}, root);
    theirs_pointer = read_file(root / kPointer);
    theirs_hparams = read_file(root / "models/clf/hparams.toml");
    theirs_sha = sha_in(theirs_pointer);

    git({"checkout", "-q", "main"}, root);
    put_model("mlp_v1");
    std::string w = read_file(root / "models/clf/weights.safetensors");
    w[w.size() - 4] ^= 0x01;  // the lowest mantissa bit of the last float32: still valid weights
    write_file(root / "models/clf/weights.safetensors", w);
    write_file(root / "models/clf/hparams.toml", replace(hparams, "lr = 0.05", "lr = 0.01"));
    mvc_ok({"commit", "models/clf", "-m", "ours", "--example", input.string()}, root);
    ours_pointer = read_file(root / kPointer);
    ours_hparams = read_file(root / "models/clf/hparams.toml");
    ours_sha = sha_in(ours_pointer);
    REQUIRE(ours_sha != theirs_sha);
    mvc_ok({"push", "origin", "main", "feature"}, root);

    RunResult m = git({"merge", "--no-edit", "feature"}, root, false);
    INFO(m.out << m.err);
    REQUIRE(m.exit_code != 0);
    REQUIRE(git({"status", "--porcelain"}, root).out ==
            "UU models/clf/hparams.toml\nUU models/clf/weights.safetensors.mvc\n");
  }
  std::string weights_sha() const { return mvc::util::sha256_file(root / "models/clf/weights.safetensors"); }
  std::string unmerged() const { return git({"diff", "--name-only", "--diff-filter=U"}, root).out; }
};

/// The resolution of WeightsConflict with `side` ("ours" or "theirs") and its checks.
void check_resolved(WeightsConflict& repo, const std::string& side) {
  const bool theirs = side == "theirs";
  const std::string& sha = theirs ? repo.theirs_sha : repo.ours_sha;
  RunResult r = run_mvc({"checkout", "--" + side, "models/clf"}, repo.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("models/clf: resolved with " + side + " (models/clf/hparams.toml, " + kPointer + ")\n") !=
        std::string::npos);
  CHECK(r.out.find("weights.safetensors sha256:" + sha.substr(0, 8)) != std::string::npos);
  CHECK(r.out.find("hash verified, rebuilt and loaded strictly (241 parameters), example reproduced") !=
        std::string::npos);
  // The side's version, whole: weights (by hash), pointer and hparams, in the work tree and the index.
  CHECK(repo.weights_sha() == sha);
  CHECK(read_file(repo / kPointer) == (theirs ? repo.theirs_pointer : repo.ours_pointer));
  CHECK(read_file(repo / "models/clf/hparams.toml") == (theirs ? repo.theirs_hparams : repo.ours_hparams));
  CHECK(git({"show", ":" + kPointer}, repo.root).out == (theirs ? repo.theirs_pointer : repo.ours_pointer));
  CHECK(r.out.find("staged: conclude the merge with 'git commit'\n") != std::string::npos);
  CHECK(repo.unmerged() == "");
  CHECK(git({"status", "--porcelain"}, repo.root).out ==
        (theirs ? "M  models/clf/hparams.toml\nM  " + kPointer + "\n" : ""));
  // git concludes the merge; the merged version reproduces its example.
  git({"commit", "--no-edit"}, repo.root);
  CHECK(git({"rev-list", "--count", "--merges", "HEAD"}, repo.root).out == "1\n");
  r = run_mvc({"verify", "models/clf"}, repo.root);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("models/clf: the example reproduces") != std::string::npos);
  r = run_mvc({"status"}, repo.root);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "models/aux: clean\nmodels/clf: clean\n");
}

}  // namespace

TEST_CASE("status shows a conflicted model as unmerged with both sides' weights", "[cli][conflicts]") {
  WeightsConflict repo;
  RunResult r = run_mvc({"status"}, repo.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out ==
        "models/aux: clean\n"
        "models/clf: unmerged (conflict in hparams.toml, weights.safetensors.mvc)\n"
        "  ours:   " +
            git({"rev-parse", "--short=7", "HEAD"}, repo.root).out.substr(0, 7) +
            " weights.safetensors sha256:" + repo.ours_sha.substr(0, 8) +
            " 1.2 KiB, 241 parameters\n"
            "  theirs: " +
            git({"rev-parse", "--short=7", "MERGE_HEAD"}, repo.root).out.substr(0, 7) +
            " weights.safetensors sha256:" + repo.theirs_sha.substr(0, 8) +
            " 1.2 KiB, 241 parameters\n"
            "  resolve with 'mvc checkout --ours|--theirs models/clf', or edit the files and 'git add' them\n");
  r = run_mvc({"status", "--json"}, repo.root);
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  REQUIRE(j["models"].size() == 2);
  auto& m = j["models"][1];
  CHECK(m["path"] == "models/clf");
  CHECK(m["clean"] == false);
  CHECK(m["changes"] == nlohmann::json::array({"unmerged"}));
  CHECK(m["conflict"]["files"] == nlohmann::json::array({"models/clf/hparams.toml", kPointer}));
  CHECK(m["conflict"]["ours"]["sha256"] == repo.ours_sha);
  CHECK(m["conflict"]["theirs"]["sha256"] == repo.theirs_sha);
  CHECK(m["conflict"]["theirs"]["path"] == "models/clf/weights.safetensors");
  CHECK(m["conflict"]["ours"]["size"] == fs::file_size(fixture_dir() / "mlp_v1/weights.safetensors"));
  CHECK(j["models"][0]["clean"] == true);
}

TEST_CASE("commands that read or overwrite a conflicted model refuse and change nothing", "[cli][conflicts]") {
  WeightsConflict repo;
  auto before = snapshot(repo.root);
  std::string index = read_file(repo.root / ".git/index");
  const std::vector<std::vector<std::string>> refused = {
      {"commit", "models/clf", "-m", "resolved?"},
      {"show", "models/clf"},
      {"verify", "models/clf"},
      {"checkout"},  // the work tree's pointers
      {"checkout", "--", "models/clf"},
      {"checkout", "base"},  // moves HEAD over the conflict
      {"checkout", "base", "--", "models/clf"},
  };
  for (const auto& args : refused) {
    RunResult r = run_mvc(args, repo.root);
    INFO("mvc " << args[0] << (args.size() > 1 ? " " + args[1] : "") << ": " << r.out << r.err);
    CHECK(r.exit_code == 7);
    CHECK(r.err == kRefusal);
    CHECK(snapshot(repo.root) == before);
    CHECK(read_file(repo.root / ".git/index") == index);
  }
  // A committed version is no conflict: show at a revision works.
  RunResult r = run_mvc({"show", "base:models/clf"}, repo.root);
  CHECK(r.exit_code == 0);
  // --ours/--theirs only resolve an unmerged model directory.
  const std::vector<std::pair<std::vector<std::string>, std::string>> usage = {
      {{"checkout", "--ours", "models/aux"},
       "mvc: error: models/aux: not unmerged; --ours resolves a model directory in a merge conflict (see mvc "
       "status)\n"},
      {{"checkout", "--ours", "--theirs", "models/clf"}, "mvc: error: checkout: --ours or --theirs, not both\n"},
      {{"checkout", "--theirs"}, "mvc: error: checkout --theirs: name the unmerged model directories to resolve\n"},
  };
  for (const auto& [args, err] : usage) {
    r = run_mvc(args, repo.root);
    INFO(args[1]);
    CHECK(r.exit_code == 2);
    CHECK(r.err == err);
    CHECK(snapshot(repo.root) == before);
    CHECK(read_file(repo.root / ".git/index") == index);
  }
}

TEST_CASE("checkout --theirs resolves the model with their files and their weights, fetched when missing",
          "[cli][conflicts]") {
  WeightsConflict repo;
  // Their object only on the remote: the resolution fetches it (verified by hash).
  fs::remove(object_path(repo.root, repo.theirs_sha));
  check_resolved(repo, "theirs");
  CHECK(fs::exists(object_path(repo.root, repo.theirs_sha)));
}

TEST_CASE("checkout --ours resolves the model with our files and our weights", "[cli][conflicts]") {
  WeightsConflict repo;
  // The work tree's weights are not what the resolution trusts: they are replaced from the cache.
  write_file(repo.root / "models/clf/weights.safetensors", "torn");
  RunResult r = run_mvc({"checkout", "--ours", "models/clf"}, repo.root);
  CHECK(r.exit_code == 1);  // "torn" is in no cache: it would be lost
  CHECK(r.err.find("models/clf/weights.safetensors: local weights are not committed and would be lost") !=
        std::string::npos);
  CHECK(repo.unmerged() == "models/clf/hparams.toml\n" + kPointer + "\n");
  fs::remove(repo.root / "models/clf/weights.safetensors");
  check_resolved(repo, "ours");
}

TEST_CASE("a conflict met by a cherry-pick is resolved the same way and the advice names the cherry-pick",
          "[cli][conflicts]") {
  WeightsConflict repo;
  git({"merge", "--abort"}, repo.root);
  RunResult pick = git({"cherry-pick", "feature"}, repo.root, false);
  REQUIRE(pick.exit_code != 0);
  REQUIRE(repo.unmerged() == "models/clf/hparams.toml\n" + kPointer + "\n");
  RunResult r = run_mvc({"checkout", "--theirs", "models/clf"}, repo.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("staged: continue the cherry-pick with 'git cherry-pick --continue'\n") != std::string::npos);
  CHECK(repo.weights_sha() == repo.theirs_sha);
  RunResult cont = git({"-c", "core.editor=true", "cherry-pick", "--continue"}, repo.root, false);
  INFO(cont.out << cont.err);
  REQUIRE(cont.exit_code == 0);
  CHECK(git({"show", "HEAD:" + kPointer}, repo.root).out == repo.theirs_pointer);
  CHECK(git({"rev-list", "--count", "--merges", "HEAD"}, repo.root).out == "0\n");
}

TEST_CASE("a conflict in arch.toml alone: unmerged, refused, resolved with one side's architecture",
          "[cli][conflicts]") {
  Repo repo;
  repo.put_model("mlp_v1");
  mvc_ok({"commit", "models/clf", "-m", "base"}, repo.root);
  const std::string arch = read_file(repo / "models/clf/arch.toml");
  const std::string sha = pointer_sha(repo / kPointer);
  git({"checkout", "-q", "-b", "feature"}, repo.root);
  const std::string theirs_arch = replace(arch, "name = \"mlp\"", "name = \"mlp-theirs\"");
  write_file(repo / "models/clf/arch.toml", theirs_arch);
  mvc_ok({"commit", "models/clf", "-m", "theirs"}, repo.root);
  git({"checkout", "-q", "main"}, repo.root);
  write_file(repo / "models/clf/arch.toml", replace(arch, "name = \"mlp\"", "name = \"mlp-ours\""));
  mvc_ok({"commit", "models/clf", "-m", "ours"}, repo.root);
  REQUIRE(git({"merge", "--no-edit", "feature"}, repo.root, false).exit_code != 0);
  REQUIRE(git({"status", "--porcelain"}, repo.root).out == "UU models/clf/arch.toml\n");

  RunResult r = run_mvc({"status"}, repo.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  const std::string ours_id = git({"rev-parse", "--short=7", "HEAD"}, repo.root).out.substr(0, 7);
  const std::string theirs_id = git({"rev-parse", "--short=7", "MERGE_HEAD"}, repo.root).out.substr(0, 7);
  CHECK(r.out.find("models/clf: unmerged (conflict in arch.toml)\n  ours:   " + ours_id +
                   " weights.safetensors sha256:" + sha.substr(0, 8) + " 1.2 KiB, 241 parameters\n  theirs: " +
                   theirs_id + " weights.safetensors sha256:" + sha.substr(0, 8)) == 0);
  auto before = snapshot(repo.root);
  r = run_mvc({"show", "models/clf"}, repo.root);
  CHECK(r.exit_code == 7);
  CHECK(r.err ==
        "mvc: error: models/clf: unmerged (conflict in arch.toml); resolve with 'mvc checkout "
        "--ours|--theirs models/clf' or edit and 'git add'\n");
  CHECK(snapshot(repo.root) == before);

  r = run_mvc({"checkout", "--theirs", "models/clf", "--no-load"}, repo.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("weights.safetensors sha256:" + sha.substr(0, 8) + " up to date, hash verified\n") !=
        std::string::npos);
  CHECK(read_file(repo / "models/clf/arch.toml") == theirs_arch);
  CHECK(git({"diff", "--name-only", "--diff-filter=U"}, repo.root).out == "");
  git({"commit", "--no-edit"}, repo.root);
  r = run_mvc({"show", "models/clf"}, repo.root);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("architecture: mlp-theirs") != std::string::npos);
}

TEST_CASE("a pointer committed with its conflict markers is an invalid pointer naming them", "[cli][conflicts]") {
  WeightsConflict repo;
  git({"add", "models/clf"}, repo.root);  // the conflict "resolved" with its markers
  git({"commit", "--no-edit"}, repo.root);
  const std::string why = ": holds merge conflict markers: a conflicted file was staged or committed unresolved";
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"status"}, {"show", "models/clf"}, {"commit", "models/clf", "-m", "again"}}) {
    RunResult r = run_mvc(args, repo.root);
    INFO(args[0] << ": " << r.err);
    CHECK(r.exit_code == 7);
    // status reads HEAD's pointer first ("... at abc1234"), the others the work tree's.
    CHECK(r.err.rfind("mvc: error: " + kPointer, 0) == 0);
    CHECK(r.err.find(":3:1" + why) != std::string::npos);
  }
  RunResult r = run_mvc({"show", "HEAD:models/clf"}, repo.root);
  CHECK(r.exit_code == 7);
  CHECK(r.err.find(why) != std::string::npos);
  // checkout REV -- DIR repairs the directory: its invalid pointer is overwritten, not read.
  r = run_mvc({"checkout", "--no-load", "HEAD^2", "--", "models/clf"}, repo.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(repo / kPointer) == repo.theirs_pointer);
  CHECK(repo.weights_sha() == repo.theirs_sha);
  CHECK(read_file(repo / "models/clf/hparams.toml") == repo.theirs_hparams);
}
