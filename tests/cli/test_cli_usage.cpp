// The command line as a user meets it: usage lines name mvc, `mvc help [COMMAND]`, and a
// mistyped command is named with the nearest one (exit 2, docs/conventions.md).
#include "cli/cli_support.h"
#include "util/text.h"

using namespace mvc::test;

TEST_CASE("usage names mvc, and mvc help COMMAND is mvc COMMAND --help", "[cli][usage]") {
  TempDir d;
  RunResult r = run_mvc({"--help"}, d.path());
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("Usage: mvc [OPTIONS] SUBCOMMAND") != std::string::npos);
  RunResult help = run_mvc({"help"}, d.path());
  CHECK(help.exit_code == 0);
  CHECK(help.out == r.out);
  RunResult c = run_mvc({"commit", "--help"}, d.path());
  CHECK(c.exit_code == 0);
  CHECK(c.out.find("Usage: mvc commit [OPTIONS]") != std::string::npos);
  RunResult hh = run_mvc({"help", "help"}, d.path());
  CHECK(hh.exit_code == 0);
  CHECK(hh.out == r.out);
  RunResult hc = run_mvc({"help", "commit"}, d.path());
  CHECK(hc.exit_code == 0);
  CHECK(hc.out == c.out);
}

TEST_CASE("a mistyped command is named, with the nearest command when one is close", "[cli][usage]") {
  TempDir d;
  RunResult r = run_mvc({"comit", "-m", "x"}, d.path());
  CHECK(r.exit_code == 2);
  CHECK(r.err == "mvc: error: 'comit' is not an mvc command; did you mean 'commit'? (see mvc help)\n");
  r = run_mvc({"chekcout"}, d.path());
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("did you mean 'checkout'?") != std::string::npos);
  r = run_mvc({"frobnicate"}, d.path());
  CHECK(r.exit_code == 2);
  CHECK(r.err == "mvc: error: 'frobnicate' is not an mvc command (see mvc help)\n");
  r = run_mvc({"help", "comit"}, d.path());
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("did you mean 'commit'?") != std::string::npos);
}

TEST_CASE("edit distance and the nearest candidate", "[util][text]") {
  using mvc::util::closest;
  using mvc::util::edit_distance;
  CHECK(edit_distance("", "") == 0);
  CHECK(edit_distance("abc", "") == 3);
  CHECK(edit_distance("kitten", "sitting") == 3);
  CHECK(edit_distance("chekcout", "checkout") == 1);  // a transposition is one edit
  CHECK(edit_distance("urll", "url") == 1);
  std::vector<std::string> cmds{"commit", "checkout", "status", "show"};
  CHECK(closest("comit", cmds) == "commit");
  CHECK(closest("stats", cmds) == "status");
  CHECK(closest("sho", cmds) == "show");
  CHECK(closest("xyz", cmds).empty());
  CHECK(closest("anything", {}).empty());
}

TEST_CASE("log of a path that is no model directory, now or in history, exits 2", "[cli][usage][log]") {
  Repo repo;
  repo.put_model("mlp_v1");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v1"}, repo.root).exit_code == 0);
  RunResult r = run_mvc({"log", "models/nope"}, repo.root);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "mvc: error: models/nope: not a model directory (no arch.toml, and none in the history of HEAD)\n");
  r = run_mvc({"log", "--json", "models/nope"}, repo.root);
  CHECK(r.exit_code == 2);
  // A model that existed once is listed with its versions, even after it is deleted.
  git({"rm", "-q", "-r", "models/clf"}, repo.root);
  git({"commit", "-q", "-m", "drop clf"}, repo.root);
  r = run_mvc({"log", "models/clf"}, repo.root);
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("models/clf  (2 versions)") != std::string::npos);
}
