// mvc alias set/list/rm/log: aliases committed in .mvc/aliases.toml, resolved wherever a
// revision is (checkout, show, verify, log), their history, precedence and every refusal.
#include "cli/cli_support.h"
#include "cli/remote_support.h"
#include "mvc/repository.h"

using namespace mvc::test;

namespace {

/// models/clf: v1 (mlp_v1, tag clf-v1) and v2 (mlp_v2) committed; their commit ids.
struct Aliased : Repo {
  std::string v1, v2;
  Aliased() {
    put_model("mlp_v1");
    REQUIRE(run_mvc({"commit", "models/clf", "-m", "v1", "--tag", "clf-v1"}, root).exit_code == 0);
    v1 = rev("HEAD");
    put_model("mlp_v2");
    REQUIRE(run_mvc({"commit", "models/clf", "-m", "v2"}, root).exit_code == 0);
    v2 = rev("HEAD");
  }
  std::string rev(const std::string& r) const {
    std::string out = git({"rev-parse", r}, root).out;
    return out.substr(0, out.size() - 1);
  }
  /// `mvc alias set NAME REV -- models/clf`, required to succeed.
  RunResult set(const std::string& name, const std::string& r, const std::string& dir = "models/clf") const {
    RunResult res = run_mvc({"alias", "set", name, r, "--", dir}, root);
    INFO(res.out << res.err);
    REQUIRE(res.exit_code == 0);
    return res;
  }
  /// The author date of `commit` as mvc prints it.
  std::string date(const std::string& commit) const {
    std::string out = git({"log", "-1", "--format=%ad", "--date=format:%Y-%m-%d %H:%M:%S %z", commit}, root).out;
    return out.substr(0, out.size() - 1);
  }
};

std::string s7(const std::string& id) { return id.substr(0, 7); }

}  // namespace

TEST_CASE("alias set, list, rm and log: exact output, one git commit of .mvc/aliases.toml each", "[cli][alias]") {
  Aliased repo;
  RunResult r = repo.set("prod", "clf-v1");
  std::string c1 = repo.rev("HEAD");
  CHECK(r.out == "alias prod: (none) -> " + s7(repo.v1) + " (models/clf); committed " + s7(c1) + "\n");
  // The version is the commit that made it, whatever commit REV names (HEAD is now the alias commit).
  r = repo.set("staging", "HEAD");
  std::string c2 = repo.rev("HEAD");
  CHECK(r.out == "alias staging: (none) -> " + s7(repo.v2) + " (models/clf); committed " + s7(c2) + "\n");
  CHECK(read_file(repo / ".mvc/aliases.toml") ==
        "# mvc aliases (docs/repository-format.md, \"Aliases\"): one table per model directory,\n"
        "# alias = the commit of the version it names. Changed by 'mvc alias set' and 'mvc alias rm'.\n"
        "format = 1\n\n[\"models/clf\"]\nprod = \"" +
            repo.v1 + "\"\nstaging = \"" + repo.v2 + "\"\n");

  // git sees one commit per move, of the alias file alone, and nothing left to commit.
  CHECK(git({"log", "--format=%s", "-2"}, repo.root).out ==
        "alias staging -> " + s7(repo.v2) + " (models/clf)\nalias prod -> " + s7(repo.v1) + " (models/clf)\n");
  CHECK(git({"show", "--name-only", "--format=", "HEAD"}, repo.root).out == ".mvc/aliases.toml\n");
  CHECK(git({"status", "--porcelain"}, repo.root).out == "");

  r = run_mvc({"alias", "list"}, repo.root);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "models/clf\n  prod     " + s7(repo.v1) + "\n  staging  " + s7(repo.v2) + "\n");
  r = run_mvc({"alias", "list", "--json"}, repo.root);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["models"][0]["path"] == "models/clf");
  CHECK(j["models"][0]["aliases"]["prod"] == repo.v1);
  CHECK(j["models"][0]["aliases"]["staging"] == repo.v2);
  CHECK(run_mvc({"alias", "list", "--", "models/other"}, repo.root).out == "models/other: no aliases\n");

  // Setting it where it already is commits nothing.
  int commits = repo.commit_count();
  r = run_mvc({"alias", "set", "prod", "clf-v1", "--", "models/clf"}, repo.root);
  CHECK(r.out == "alias prod already names " + s7(repo.v1) + " (models/clf); nothing to commit\n");
  CHECK(repo.commit_count() == commits);

  // A move, then the log of every move: newest first, who, when, from which version to which.
  r = repo.set("prod", "staging");  // an alias is a revision for alias set too
  std::string c3 = repo.rev("HEAD");
  CHECK(r.out == "alias prod: " + s7(repo.v1) + " -> " + s7(repo.v2) + " (models/clf); committed " + s7(c3) + "\n");
  r = run_mvc({"alias", "log", "prod", "--", "models/clf"}, repo.root);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "alias prod of models/clf  (2 moves)\n  " + s7(c3) + "  " + repo.date(c3) + "  Test User  " +
                     s7(repo.v1) + " -> " + s7(repo.v2) + "\n      alias prod -> " + s7(repo.v2) + " (models/clf)\n  " +
                     s7(c1) + "  " + repo.date(c1) + "  Test User  (none) -> " + s7(repo.v1) +
                     "\n      alias prod -> " + s7(repo.v1) + " (models/clf)\n");

  r = run_mvc({"alias", "rm", "staging", "--", "models/clf"}, repo.root);
  std::string c4 = repo.rev("HEAD");
  CHECK(r.exit_code == 0);
  CHECK(r.out == "alias staging removed (models/clf, was " + s7(repo.v2) + "); committed " + s7(c4) + "\n");
  CHECK(git({"log", "--format=%s", "-1"}, repo.root).out ==
        "alias staging removed (models/clf, was " + s7(repo.v2) + ")\n");
  CHECK(run_mvc({"alias", "list"}, repo.root).out == "models/clf\n  prod  " + s7(repo.v2) + "\n");
  r = run_mvc({"alias", "log", "--json", "staging", "--", "models/clf"}, repo.root);
  j = nlohmann::json::parse(r.out);
  REQUIRE(j["moves"].size() == 2);
  CHECK(j["moves"][0]["commit"] == c4);
  CHECK(j["moves"][0]["from"] == repo.v2);
  CHECK(j["moves"][0]["to"] == nullptr);
  CHECK(j["moves"][1]["from"] == nullptr);
  CHECK(j["moves"][1]["to"] == repo.v2);
  CHECK(j["moves"][1]["author"] == "Test User");
}

TEST_CASE("an alias works where a revision does: checkout, show, verify, log", "[cli][alias]") {
  Aliased repo;
  repo.set("prod", "clf-v1");
  RunResult r = run_mvc({"checkout", "--no-load", "prod", "--", "models/clf"}, repo.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.rfind("Restored from prod (" + s7(repo.v1) + ")\n", 0) == 0);
  CHECK(read_file(repo / "models/clf/weights.safetensors") == read_file(fixture_dir() / "mlp_v1/weights.safetensors"));
  CHECK(git({"diff", "--cached", "--name-only"}, repo.root).out == "models/clf/weights.safetensors.mvc\n");
  git({"checkout", "HEAD", "--", "models/clf"}, repo.root);
  REQUIRE(run_mvc({"checkout", "--no-load"}, repo.root).exit_code == 0);

  r = run_mvc({"show", "prod:models/clf"}, repo.root);
  CHECK(r.exit_code == 0);
  CHECK(r.out.rfind("models/clf @ " + s7(repo.v1) + " (prod)\n", 0) == 0);
  // verify resolves it too (this model has no recorded example: the error names the alias).
  r = run_mvc({"verify", "prod", "models/clf"}, repo.root);
  CHECK(r.exit_code == 7);
  CHECK(r.err.rfind("mvc: error: models/clf at prod: no example recorded", 0) == 0);

  // The C++ API: the alias's version, its weights verified from the cache.
  mvc::ModelSource src = mvc::Repository::open(repo.root).source("prod", "models/clf");
  CHECK(read_file(src.weights) == read_file(fixture_dir() / "mlp_v1/weights.safetensors"));
  CHECK(src.arch_toml == git({"show", repo.v1 + ":models/clf/arch.toml"}, repo.root).out);

  r = run_mvc({"log", "models/clf"}, repo.root);
  CHECK(r.out.find("  " + s7(repo.v1) + "  " + repo.date(repo.v1) + "  Test User  (tag: clf-v1)  (alias: prod)\n") !=
        std::string::npos);
  auto j = nlohmann::json::parse(run_mvc({"log", "models/clf", "--json"}, repo.root).out);
  auto& versions = j["models"][0]["versions"];
  REQUIRE(versions.size() == 2);
  CHECK(versions[0]["aliases"] == nlohmann::json::array());
  CHECK(versions[1]["aliases"] == nlohmann::json::array({"prod"}));

  // An alias belongs to its model: another directory does not have it.
  repo.put_model("mlp_v1", "models/aux");
  REQUIRE(run_mvc({"commit", "models/aux", "-m", "aux"}, repo.root).exit_code == 0);
  r = run_mvc({"show", "prod:models/aux"}, repo.root);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "mvc: error: unknown revision 'prod' (an alias of models/clf, not of models/aux)\n");
}

TEST_CASE("branch, tag and commit names win over an alias of the same name", "[cli][alias]") {
  Aliased repo;
  repo.set("prod", "clf-v1");
  git({"tag", "prod", repo.v2}, repo.root);  // made with git, which knows nothing of aliases
  RunResult r = run_mvc({"show", "prod:models/clf"}, repo.root);
  CHECK(r.exit_code == 0);
  CHECK(r.out.rfind("models/clf @ " + s7(repo.v2) + " (prod)\n", 0) == 0);
  r = run_mvc({"checkout", "--no-load", "prod", "--", "models/clf"}, repo.root);
  CHECK(r.exit_code == 0);
  CHECK(read_file(repo / "models/clf/weights.safetensors") == read_file(fixture_dir() / "mlp_v2/weights.safetensors"));
}

TEST_CASE("checkout ALIAS without a path: exit 2 naming the models that have it", "[cli][alias]") {
  Aliased repo;
  repo.put_model("mlp_v1", "models/aux");
  REQUIRE(run_mvc({"commit", "models/aux", "-m", "aux"}, repo.root).exit_code == 0);
  repo.set("prod", "clf-v1");
  repo.set("prod", "HEAD", "models/aux");
  auto before = snapshot(repo.root);
  std::string head = repo.rev("HEAD");
  RunResult r = run_mvc({"checkout", "prod"}, repo.root);
  CHECK(r.exit_code == 2);
  CHECK(r.err ==
        "mvc: error: 'prod' is an alias of models/aux, models/clf, not a commit: name the model (mvc checkout prod "
        "-- models/aux)\n");
  CHECK(snapshot(repo.root) == before);
  CHECK(repo.rev("HEAD") == head);
}

TEST_CASE("alias set and rm refuse bad input with its exit code and change nothing", "[cli][alias][bad-input]") {
  Aliased repo;
  repo.set("prod", "clf-v1");
  git({"branch", "feature"}, repo.root);
  repo.put_model("mlp_v1", "models/aux");  // added after clf-v1
  REQUIRE(run_mvc({"commit", "models/aux", "-m", "aux"}, repo.root).exit_code == 0);
  // v3: committed, its object gone from the cache (never pushed; no default remote).
  write_weights_variant("mlp_v1", repo / "models/clf/weights.safetensors", 3);
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v3"}, repo.root).exit_code == 0);
  std::string v3 = repo.rev("HEAD");
  std::string sha3 = pointer_sha(repo / "models/clf/weights.safetensors.mvc");
  fs::remove(object_path(repo.root, sha3));
  struct Case {
    std::vector<std::string> args;
    int code;
    std::string err;
  };
  const std::vector<Case> cases = {
      {{"alias", "set", "a..b", "HEAD", "--", "models/clf"},
       2,
       "alias 'a..b': not a valid ref name (see git check-ref-format)"},
      {{"alias", "set", "-x", "HEAD", "--", "models/clf"}, 2, ""},  // CLI11 reads it as an option
      {{"alias", "set", "feature", "HEAD", "--", "models/clf"},
       2,
       "alias 'feature': already a branch (branch, tag and commit names win over aliases)"},
      {{"alias", "set", "clf-v1", "HEAD", "--", "models/clf"},
       2,
       "alias 'clf-v1': already a tag (branch, tag and commit names win over aliases)"},
      {{"alias", "set", s7(repo.v1), "HEAD", "--", "models/clf"},
       2,
       "alias '" + s7(repo.v1) + "': already names commit " + s7(repo.v1) +
           " (branch, tag and commit names win over aliases)"},
      {{"alias", "set", "x", "nope", "--", "models/clf"}, 2, "unknown revision 'nope'"},
      {{"alias", "set", "x", "clf-v1", "--", "models/aux"},
       2,
       "models/aux at clf-v1: not a model directory (no arch.toml)"},
      {{"alias", "set", "x", "HEAD", "--", "models"}, 2, "models at HEAD: not a model directory (no arch.toml)"},
      {{"alias", "set", "x", "HEAD"}, 2, "alias: name one model directory after '--' (mvc alias set NAME REV -- PATH)"},
      {{"alias", "set", "x", "HEAD", "--", "models/clf"},
       5,
       "object " + sha3 +
           " (models/clf/weights.safetensors at HEAD) is not in the cache and no default remote is "
           "configured"},
      {{"alias", "set", "x", "HEAD", "--", "format"},
       2,
       "format: a model directory named 'format' cannot have aliases (.mvc/aliases.toml keeps its format version "
       "under that key)"},
      {{"alias", "rm", "nope", "--", "models/clf"}, 2, "models/clf: no alias 'nope'"},
      {{"alias", "log", "nope", "--", "models/clf"},
       2,
       "models/clf: no alias 'nope' in the history of .mvc/aliases.toml"},
      {{"alias", "list", "--", "a", "b"}, 2, "alias list: one model directory at most after '--'"},
  };
  auto before = snapshot(repo.root);
  std::string index = read_file(repo / ".git/index");
  for (auto& c : cases) {
    RunResult r = run_mvc(c.args, repo.root);
    INFO(c.args[2] << " " << c.args[1] << ": " << r.err);
    CHECK(r.exit_code == c.code);
    if (!c.err.empty()) CHECK(r.err == "mvc: error: " + c.err + "\n");
    CHECK(snapshot(repo.root) == before);
    CHECK(repo.rev("HEAD") == v3);
    CHECK(read_file(repo / ".git/index") == index);
  }
}

TEST_CASE("mvc alias refuses to run while .mvc/aliases.toml is unmerged, naming it", "[cli][alias][conflicts]") {
  Aliased repo;
  git({"checkout", "-q", "-b", "feature"}, repo.root);
  repo.set("prod", "clf-v1");
  git({"checkout", "-q", "main"}, repo.root);
  repo.set("prod", "HEAD");
  REQUIRE(git({"merge", "--no-edit", "feature"}, repo.root, false).exit_code != 0);
  CHECK(git({"diff", "--name-only", "--diff-filter=U"}, repo.root).out == ".mvc/aliases.toml\n");
  auto before = snapshot(repo.root);
  const std::string why =
      "mvc: error: .mvc/aliases.toml: unmerged (a merge conflict); resolve it as text and 'git add "
      ".mvc/aliases.toml', then retry\n";
  for (const std::vector<std::string>& args : {std::vector<std::string>{"alias", "list"},
                                               {"alias", "set", "prod", "clf-v1", "--", "models/clf"},
                                               {"alias", "rm", "prod", "--", "models/clf"},
                                               {"alias", "log", "prod", "--", "models/clf"}}) {
    RunResult r = run_mvc(args, repo.root);
    INFO(args[1]);
    CHECK(r.exit_code == 7);
    CHECK(r.err == why);
    CHECK(snapshot(repo.root) == before);
  }
  // Resolved as text (main's side) and added: aliases work again.
  git({"checkout", "--ours", ".mvc/aliases.toml"}, repo.root);
  git({"add", ".mvc/aliases.toml"}, repo.root);
  RunResult r = run_mvc({"alias", "list"}, repo.root);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "models/clf\n  prod  " + s7(repo.v2) + "\n");
}

TEST_CASE("an aliases file of a newer format is refused with exit 3 naming the version", "[cli][alias][compat]") {
  Aliased repo;
  repo.set("prod", "clf-v1");
  std::string text = read_file(repo / ".mvc/aliases.toml");
  text.replace(text.find("format = 1"), 10, "format = 2");
  write_file(repo / ".mvc/aliases.toml", text);
  git({"commit", "-q", "-am", "aliases from a newer mvc"}, repo.root);
  auto before = snapshot(repo.root);
  const std::string why =
      "mvc: error: .mvc/aliases.toml: aliases format 2 needs a newer mvc (this one reads format 1)\n";
  for (const std::vector<std::string>& args : {std::vector<std::string>{"alias", "list"},
                                               {"alias", "set", "staging", "HEAD", "--", "models/clf"},
                                               {"show", "prod:models/clf"}}) {
    RunResult r = run_mvc(args, repo.root);
    INFO(args[0] << " " << args[1]);
    CHECK(r.exit_code == 3);
    CHECK(r.err == why);
    CHECK(snapshot(repo.root) == before);
  }
}

TEST_CASE("an alias is committed: it works in a git clone", "[cli][alias]") {
  Aliased repo;
  fs::path store = repo.tmp.path() / "store";
  REQUIRE(run_mvc({"remote", "add", "origin", store.string(), "--default"}, repo.root).exit_code == 0);
  git({"commit", "-q", "-m", "remote"}, repo.root);
  REQUIRE(run_mvc({"push", "origin", "clf-v1", "HEAD"}, repo.root).exit_code == 0);
  repo.set("prod", "clf-v1");
  fs::path b = repo.tmp.path() / "b";
  git_clone(repo.root, b);
  RunResult r = run_mvc({"alias", "list"}, b);
  CHECK(r.out == "models/clf\n  prod  " + s7(repo.v1) + "\n");
  r = run_mvc({"checkout", "--no-load", "prod", "--", "models/clf"}, b);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(b / "models/clf/weights.safetensors") == read_file(fixture_dir() / "mlp_v1/weights.safetensors"));
}

TEST_CASE("concurrent alias moves are serialised by git's index lock: none is lost", "[cli][alias][concurrency]") {
  Aliased repo;
  std::vector<pid_t> pids;
  for (int i = 0; i < 4; ++i)
    pids.push_back(spawn_mvc({"alias", "set", "a" + std::to_string(i), i % 2 ? "clf-v1" : "HEAD", "--", "models/clf"},
                             repo.root, repo.tmp.path() / ("log" + std::to_string(i))));
  for (int i = 0; i < 4; ++i) {
    int rc = wait_pid(pids[i]);
    INFO(read_file(repo.tmp.path() / ("log" + std::to_string(i))));
    CHECK(rc == 0);
  }
  CHECK(run_mvc({"alias", "list"}, repo.root).out == "models/clf\n  a0  " + s7(repo.v2) + "\n  a1  " + s7(repo.v1) +
                                                         "\n  a2  " + s7(repo.v2) + "\n  a3  " + s7(repo.v1) + "\n");
  CHECK(git({"rev-list", "--count", repo.v2 + "..HEAD"}, repo.root).out == "4\n");
  CHECK(git({"status", "--porcelain"}, repo.root).out == "");
}
