// One compatibility rule for every format (docs/conventions.md, "Compatibility"): this mvc reads
// the files its predecessors wrote (tests/compat/v1, kept byte for byte), keeps writing the old
// version of a file that needs nothing new, and refuses a file one version ahead with exit 3
// naming the version it needs, changing nothing.
#include "cli/cli_support.h"

using namespace mvc::test;

namespace {

/// A git repository whose files are tests/compat/v1's, committed by git (not by this mvc).
struct V1Repo {
  TempDir tmp;
  fs::path root;
  V1Repo() : root(tmp.path() / "r") {
    git_init(root);
    fs::copy(source_dir() / "tests/compat/v1", root, fs::copy_options::recursive);
    git({"add", "-A"}, root);
    git({"commit", "-q", "-m", "written by mvc 0.1"}, root);
  }
  fs::path operator/(const fs::path& p) const { return root / p; }
};

void expect_too_new(const fs::path& root, const std::vector<std::string>& args, const std::string& what) {
  auto before = snapshot(root);
  RunResult r = run_mvc(args, root);
  INFO("mvc " << args[0] << ": " << r.out << r.err);
  CHECK(r.exit_code == 3);
  CHECK(r.err.find(what) != std::string::npos);
  CHECK(r.err.find("needs a newer mvc") != std::string::npos);
  CHECK(snapshot(root) == before);
}

}  // namespace

TEST_CASE("compat: a repository written by mvc 0.1 is read as it is", "[cli][compat]") {
  V1Repo repo;
  RunResult r = run_mvc({"show", "HEAD:models/clf"}, repo.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("compat-v1") != std::string::npos);
  CHECK(r.out.find("2 tensors, 8 parameters") != std::string::npos);
  // Committing the unchanged model stores the object and rewrites nothing: the pointer keeps
  // format 1, byte for byte, and no commit is made.
  std::string pointer = read_file(repo / "models/clf/weights.safetensors.mvc");
  std::string head = git({"rev-parse", "HEAD"}, repo.root).out;
  r = run_mvc({"commit", "models/clf", "-m", "again"}, repo.root);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(read_file(repo / "models/clf/weights.safetensors.mvc") == pointer);
  CHECK(git({"rev-parse", "HEAD"}, repo.root).out == head);
  CHECK(git({"status", "--porcelain"}, repo.root).out.empty());
  r = run_mvc({"status", "--json"}, repo.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  REQUIRE(j["models"].size() == 1);
  CHECK(j["models"][0]["path"] == "models/clf");
  CHECK(j["models"][0]["clean"] == true);
  // And the version restores, verified and rebuilt in LibTorch.
  fs::remove(repo / "models/clf/weights.safetensors");
  r = run_mvc({"checkout", "HEAD", "--", "models/clf"}, repo.root);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(read_file(repo / "models/clf/weights.safetensors") ==
        read_file(source_dir() / "tests/compat/v1/models/clf/weights.safetensors"));
}

TEST_CASE("compat: a file one format ahead is refused with exit 3 naming the version", "[cli][compat]") {
  V1Repo repo;
  SECTION("config.toml") {
    write_file(repo / ".mvc/config.toml", "format = 2\n");
    expect_too_new(repo.root, {"status"}, "repository format 2");
  }
  SECTION("pointer") {
    std::string p = read_file(repo / "models/clf/weights.safetensors.mvc");
    // Formats 2 (sharded weights) and 3 (optimizer state) are this mvc's; format 4 is one ahead.
    p.replace(p.find("format = 1"), 10, "format = 4");
    write_file(repo / "models/clf/weights.safetensors.mvc", p);
    const std::string what =
        "models/clf/weights.safetensors.mvc: pointer format 4 needs a newer mvc (this one reads format 3)";
    expect_too_new(repo.root, {"status"}, what);
    expect_too_new(repo.root, {"show", "models/clf"}, what);
    expect_too_new(repo.root, {"commit", "models/clf", "-m", "x"}, what);
    expect_too_new(repo.root, {"checkout"}, what);
    git({"commit", "-q", "-am", "a pointer from a newer mvc"}, repo.root);
    expect_too_new(repo.root, {"checkout", "HEAD", "--", "models/clf"}, "models/clf/weights.safetensors.mvc at ");
  }
  SECTION("arch.toml") {
    std::string a = read_file(repo / "models/clf/arch.toml");
    // mvc.arch/2 only adds vocabulary: an mvc.arch/1 file relabelled /2 means the same.
    a.replace(a.find("mvc.arch/1"), 10, "mvc.arch/2");
    write_file(repo / "models/clf/arch.toml", a);
    RunResult two = run_mvc({"show", "models/clf"}, repo.root);
    INFO(two.out << two.err);
    CHECK(two.exit_code == 0);
    CHECK(two.out.find("2 tensors, 8 parameters") != std::string::npos);
    a.replace(a.find("mvc.arch/2"), 10, "mvc.arch/3");
    write_file(repo / "models/clf/arch.toml", a);
    const std::string what = "models/clf/arch.toml:1:10: format 'mvc.arch/3'";
    expect_too_new(repo.root, {"show", "models/clf"}, what);
    expect_too_new(repo.root, {"commit", "models/clf", "-m", "x"}, what);
    // A format that is no version of the language is a model error, not "too new".
    a.replace(a.find("mvc.arch/3"), 10, "mvc.arkh/1");
    write_file(repo / "models/clf/arch.toml", a);
    RunResult r = run_mvc({"show", "models/clf"}, repo.root);
    CHECK(r.exit_code == 7);
    CHECK(r.err.find("unsupported format 'mvc.arkh/1'") != std::string::npos);
  }
  SECTION("stat cache: derived state, a newer version is ignored, never an error") {
    fs::create_directories(repo / ".mvc/state");
    write_file(repo / ".mvc/state/stat-cache", "mvc-stat-cache 2\nwhatever a newer mvc writes\n");
    RunResult r = run_mvc({"status"}, repo.root);
    INFO(r.out << r.err);
    CHECK(r.exit_code == 0);
  }
}
