// The .gitattributes lines and git config keys mvc writes (core/git_setup.h): install-hooks adds
// them once, uninstall-hooks removes exactly them; install-hooks --global sets git's
// init.templateDir (never core.hooksPath) so that a later `git clone` gets mvc's hooks and its
// weights. The global config is a temporary file (GIT_CONFIG_GLOBAL), never the real one.
#include "cli/remote_support.h"

using namespace mvc::test;

namespace {

std::string config_get(const fs::path& repo, const std::string& key) {
  return run({"git", "config", "--local", "--get", key}, repo).out;
}

}  // namespace

TEST_CASE("install-hooks writes the drivers' config and .gitattributes once, uninstall removes exactly them",
          "[cli][git_setup]") {
  Repo repo;
  write_file(repo / ".gitattributes", "*.bin binary\n");
  git({"config", "diff.other.textconv", "cat"}, repo.root);
  const std::string config_before = read_file(repo / ".git/config");

  RunResult r = run_mvc({"install-hooks"}, repo.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("  .gitattributes: *.mvc merge=mvc diff=mvc: added") != std::string::npos);
  CHECK(r.out.find("  merge.mvc.driver: set\n") != std::string::npos);
  CHECK(read_file(repo / ".gitattributes") == "*.bin binary\n*.mvc merge=mvc diff=mvc\n");
  CHECK(git({"diff", "--cached", "--name-only", "--", ".gitattributes"}, repo.root).out == ".gitattributes\n");
  const std::string mvc = "'" + mvc_binary().string() + "'";
  CHECK(config_get(repo.root, "merge.mvc.driver") == mvc + " merge-driver %O %A %B %P\n");
  CHECK(config_get(repo.root, "diff.mvc.textconv") == mvc + " textconv\n");
  CHECK(config_get(repo.root, "merge.mvc.name") != "");
  // git sees the attributes.
  CHECK(git({"check-attr", "merge", "diff", "--", "models/clf/weights.safetensors.mvc"}, repo.root).out ==
        "models/clf/weights.safetensors.mvc: merge: mvc\nmodels/clf/weights.safetensors.mvc: diff: mvc\n");

  // Twice: nothing changes.
  auto before = snapshot(repo.root);
  r = run_mvc({"install-hooks"}, repo.root);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find(".gitattributes: *.mvc merge=mvc diff=mvc: already there") != std::string::npos);
  CHECK(r.out.find("merge.mvc.driver: already set") != std::string::npos);
  CHECK(r.out.find("diff.mvc.textconv: already set") != std::string::npos);
  CHECK(snapshot(repo.root) == before);

  r = run_mvc({"uninstall-hooks"}, repo.root);
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("merge.mvc.driver: removed") != std::string::npos);
  CHECK(read_file(repo / ".gitattributes") == "*.bin binary\n");
  CHECK(read_file(repo / ".git/config") == config_before);  // the user's key kept, no empty section left
  r = run_mvc({"uninstall-hooks"}, repo.root);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("merge.mvc.driver: not set") != std::string::npos);
  CHECK(r.out.find(".gitattributes: *.mvc merge=mvc diff=mvc: not there") != std::string::npos);
}

TEST_CASE("uninstall-hooks keeps a driver the user configured and removes a .gitattributes mvc alone filled",
          "[cli][git_setup]") {
  Repo repo;
  REQUIRE(run_mvc({"install-hooks"}, repo.root).exit_code == 0);
  git({"commit", "-qm", "attributes"}, repo.root);
  git({"config", "diff.mvc.textconv", "my-own-tool"}, repo.root);
  RunResult r = run_mvc({"uninstall-hooks"}, repo.root);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("diff.mvc.textconv: kept (not mvc's: my-own-tool)") != std::string::npos);
  CHECK(config_get(repo.root, "diff.mvc.textconv") == "my-own-tool\n");
  CHECK(config_get(repo.root, "merge.mvc.driver") == "");
  CHECK_FALSE(fs::exists(repo / ".gitattributes"));
  CHECK(git({"status", "--porcelain"}, repo.root).out == "D  .gitattributes\n");
}

TEST_CASE("install-hooks --global: a later git clone gets mvc's hooks and its weights, uninstall --global undoes it",
          "[cli][git_setup]") {
  TempDir tmp;
  fs::path origin = tmp / "origin.git", shared = tmp / "shared", a = tmp / "a", c = tmp / "c";
  const std::map<std::string, std::string> env = {{"GIT_CONFIG_GLOBAL", (tmp / "gitconfig").string()},
                                                  {"XDG_DATA_HOME", (tmp / "share").string()}};
  git({"init", "-q", "--bare", "-b", "main", origin.string()}, tmp.path());
  git_clone(origin, a);
  REQUIRE(run_mvc({"init"}, a).exit_code == 0);
  REQUIRE(run_mvc({"remote", "add", "team", shared.string(), "--default"}, a).exit_code == 0);
  REQUIRE(run_mvc({"install-hooks"}, a).exit_code == 0);
  copy_fixture_model("mlp_v1", a / "models/clf");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v1"}, a).exit_code == 0);
  RunResult push = git({"push", "origin", "main"}, a);
  CHECK(push.err.find("1 object(s) sent to") != std::string::npos);

  write_file(tmp / "gitconfig", "[user]\n\tname = Someone\n");
  RunResult r = run_mvc({"install-hooks", "--global"}, tmp.path(), env);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  const fs::path tdir = tmp / "share/mvc/git-template";
  CHECK(r.out.find("hooks in " + (tdir / "hooks").string() + ":\n  pre-commit: installed\n") == 0);
  CHECK(run({"git", "config", "--global", "--get", "init.templateDir"}, tmp.path(), env).out == tdir.string() + "\n");
  CHECK(run({"git", "config", "--global", "--get", "core.hooksPath"}, tmp.path(), env).out == "");
  CHECK(run({"git", "config", "--global", "--get", "diff.mvc.textconv"}, tmp.path(), env).out != "");
  CHECK(fs::exists(tdir / "hooks/post-checkout"));
  const std::string config_installed = read_file(tmp / "gitconfig");
  r = run_mvc({"install-hooks", "--global"}, tmp.path(), env);  // twice: nothing changes
  CHECK(r.out.find("init.templateDir: already set\n") != std::string::npos);
  CHECK(read_file(tmp / "gitconfig") == config_installed);

  // A plain git clone: the hooks come from the template, post-checkout fetches the weights.
  RunResult clone = run({"git", "clone", "-q", origin.string(), c.string()}, tmp.path(), env);
  INFO(clone.err);
  REQUIRE(clone.exit_code == 0);
  CHECK(clone.err.find("models/clf/weights.safetensors updated to sha256:") != std::string::npos);
  CHECK(read_file(c / "models/clf/weights.safetensors") == read_file(a / "models/clf/weights.safetensors"));
  CHECK(read_file(c / ".git/hooks/pre-push").find("installed by `mvc install-hooks`") != std::string::npos);
  CHECK(run_mvc({"status"}, c).out == "models/clf: clean\n");

  r = run_mvc({"uninstall-hooks", "--global"}, tmp.path(), env);
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(tmp / "gitconfig") == "[user]\n\tname = Someone\n");
  CHECK_FALSE(fs::exists(tdir));
  // The clone keeps its hooks (they are its own now); a new clone gets none.
  RunResult clone2 = run({"git", "clone", "-q", origin.string(), (tmp / "d").string()}, tmp.path(), env);
  REQUIRE(clone2.exit_code == 0);
  CHECK_FALSE(fs::exists(tmp / "d/.git/hooks/post-checkout"));
  CHECK_FALSE(fs::exists(tmp / "d/models/clf/weights.safetensors"));
}
