// "A model version at REV" is resolved in one place (core/model_version.h): each condition it
// meets exits with one code and one message shape, whichever command meets it
// (docs/conventions.md, "Errors and exit codes").
#include <regex>

#include "cli/cli_support.h"

using namespace mvc::test;

namespace {

/// v1 of an LSTM (with a recorded example) tagged v1; a directory `models/new` whose arch.toml
/// is committed by git alone (no pointer); an empty directory `notes`.
struct VersionRepo : ExampleRepo {
  std::string sha;
  VersionRepo() {
    sha = pointer_sha(root / "models/lstm/weights.safetensors.mvc");
    fs::create_directories(root / "models/new");
    fs::copy_file(source_dir() / "tests/zoo/lstm/arch.toml", root / "models/new/arch.toml");
    git({"add", "models/new/arch.toml"}, root);
    git({"commit", "-q", "-m", "arch only"}, root);
    fs::create_directories(root / "notes");
  }
};

struct Case {
  std::vector<std::string> args;
  int code;
  std::string message;  ///< an ECMAScript regex the whole stderr line must match
};

void check_cases(const fs::path& root, const std::vector<Case>& cases) {
  for (const auto& c : cases) {
    std::string cmd;
    for (auto& a : c.args) cmd += a + " ";
    auto before = snapshot(root);
    RunResult r = run_mvc(c.args, root);
    INFO("mvc " << cmd << "\n" << r.out << r.err);
    CHECK(r.exit_code == c.code);
    // One line, "mvc: error: <what>: <why>", of the condition's shape.
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(std::regex_match(r.err, std::regex("mvc: error: " + c.message + "\n")));
    CHECK(snapshot(root) == before);  // nothing changed
  }
}

}  // namespace

TEST_CASE("each model-version condition has one code and one message, whatever the command",
          "[cli][model_version][errors]") {
  VersionRepo repo;
  std::string in = repo.input.string();
  std::string out = (repo.tmp.path() / "out.safetensors").string();

  SECTION("an unknown revision: exit 2") {
    const std::string m = "unknown revision 'nope'";
    check_cases(repo.root, {
                               {{"show", "nope:models/lstm"}, 2, m},
                               {{"run", "nope", "models/lstm", "--input", in, "--output", out}, 2, m},
                               {{"verify", "nope", "models/lstm"}, 2, m},
                               {{"checkout", "nope", "--", "models/lstm"}, 2, m},
                               {{"checkout", "nope"}, 2, m},
                           });
  }
  SECTION("not a model directory in the work tree: exit 2") {
    const std::string m = "notes: not a model directory \\(no arch.toml\\)";
    check_cases(repo.root, {
                               {{"commit", "notes", "-m", "x"}, 2, m},
                               {{"show", "notes"}, 2, m},
                               {{"verify", "notes"}, 2, m},
                               {{"checkout", "--", "notes"}, 2, m},
                           });
  }
  SECTION("not a model directory at a revision: exit 2") {
    const std::string m = "notes at v1: not a model directory \\(no arch.toml\\)";
    check_cases(repo.root, {
                               {{"show", "v1:notes"}, 2, m},
                               {{"run", "v1", "notes", "--input", in, "--output", out}, 2, m},
                               {{"verify", "v1", "notes"}, 2, m},
                               {{"checkout", "v1", "--", "notes"}, 2, m},
                           });
  }
  SECTION("a model directory without a weights pointer: exit 7") {
    const std::string at_head =
        "models/new at HEAD: no weights pointer \\(the weights were never committed; run mvc "
        "commit models/new\\)";
    const std::string wt =
        "models/new: no weights pointer \\(the weights were never committed; run mvc commit "
        "models/new\\)";
    check_cases(repo.root, {
                               {{"run", "HEAD", "models/new", "--input", in, "--output", out}, 7, at_head},
                               {{"verify", "HEAD", "models/new"}, 7, at_head},
                               {{"checkout", "HEAD", "--", "models/new"}, 7, at_head},
                               {{"verify", "models/new"}, 7, wt},
                               {{"checkout", "--", "models/new"}, 7, wt},
                           });
  }
  SECTION("an object in neither the cache nor the work tree: exit 5") {
    fs::remove(object_path(repo.root, repo.sha));
    fs::remove(repo / "models/lstm/weights.safetensors");
    const std::string m = "object " + repo.sha +
                          " \\(models/lstm/weights.safetensors[^)]*\\) is not in the cache and no default remote is "
                          "configured";
    check_cases(repo.root, {
                               {{"run", "v1", "models/lstm", "--input", in, "--output", out}, 5, m},
                               {{"verify", "v1", "models/lstm"}, 5, m},
                               {{"checkout", "v1", "--", "models/lstm"}, 5, m},
                               {{"checkout", "--", "models/lstm"}, 5, m},
                           });
  }
  SECTION("a corrupt cache object: exit 4 naming it") {
    fs::path obj = object_path(repo.root, repo.sha);
    fs::permissions(obj, fs::perms::owner_write, fs::perm_options::add);
    std::string bytes = read_file(obj);
    bytes[bytes.size() - 1] ^= 0x01;
    write_file(obj, bytes);
    fs::remove(repo / "models/lstm/weights.safetensors");
    // One message shape for every command (docs/conventions.md).
    const std::string m = "object " + repo.sha + " is corrupt: its " + std::to_string(bytes.size()) +
                          " bytes hash to [0-9a-f]{64} \\(.*/" + repo.sha.substr(0, 2) + "/" + repo.sha.substr(2) +
                          "\\)";
    check_cases(repo.root, {
                               {{"run", "v1", "models/lstm", "--input", in, "--output", out}, 4, m},
                               {{"verify", "v1", "models/lstm"}, 4, m},
                               {{"checkout", "v1", "--", "models/lstm"}, 4, m},
                           });
  }
}

TEST_CASE("run and verify read the work tree's copy when it is the only one", "[cli][model_version]") {
  VersionRepo repo;
  fs::remove(object_path(repo.root, repo.sha));  // committed, cache cleaned, never pushed
  RunResult r = run_mvc({"verify", "v1", "models/lstm"}, repo.root);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("models/lstm at v1: the example reproduces") != std::string::npos);
  // A work-tree file with other bytes is not taken for the version.
  std::string w = read_file(repo / "models/lstm/weights.safetensors");
  w[w.size() - 1] ^= 0x01;
  write_file(repo / "models/lstm/weights.safetensors", w);
  r = run_mvc({"verify", "v1", "models/lstm"}, repo.root);
  CHECK(r.exit_code == 5);
}
