// Bad model input: refused with exit 7, a one-line message naming the file and line/column or
// tensor, and nothing changed (no object, no pointer, no commit).
#include <algorithm>

#include "cli/cli_support.h"

using namespace mvc::test;

namespace {

struct BadCase {
  std::string name;
  std::string fixture;              // weights and files to start from
  std::string arch;                 // replacement arch.toml ("" = keep)
  std::vector<std::string> expect;  // substrings of the message
};

}  // namespace

TEST_CASE("bad model input exits 7, names the problem, changes nothing", "[cli][commit][errors]") {
  std::string good = read_file(fixture_dir() / "mlp_v1/arch.toml");
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    auto at = s.find(from);
    REQUIRE(at != std::string::npos);
    return s.replace(at, from.size(), to);
  };
  std::vector<BadCase> cases = {
      {"toml syntax", "mlp_v1", replace("name = \"relu\"", "name = \"relu"), {"models/clf/arch.toml:", ":"}},
      {"unknown layer type",
       "mlp_v1",
       replace("type = \"ReLU\"", "type = \"Relu\""),
       {"models/clf/arch.toml:", "Relu", "ReLU", "Linear"}},
      {"unknown hparams key",
       "mlp_v1",
       replace("${hparams.hidden_size}", "${hparams.hiden_size}"),
       {"models/clf/arch.toml:", "hiden_size"}},
      {"an mvc.arch/2 layer type in an mvc.arch/1 file",
       "mlp_v1",
       replace("type = \"ReLU\"", "type = \"Hardsigmoid\""),
       {"models/clf/arch.toml:", "layer type 'Hardsigmoid' needs format = \"mvc.arch/2\""}},
      {"a bad option of an mvc.arch/2 type",
       "mlp_v1",
       [&] {
         std::string s = replace("type = \"ReLU\"", "type = \"StochasticDepth\"\np = 0.1\nmode = \"col\"");
         return s.replace(s.find("mvc.arch/1"), 10, "mvc.arch/2");
       }(),
       {"models/clf/arch.toml:",
        "(StochasticDepth): option 'mode' must be one of \"batch\", \"row\", got string \"col\""}},
      {"missing tensor", "mlp_missing", "", {"models/clf/weights.safetensors", "missing tensor 'linear2.bias'"}},
      {"extra tensor", "mlp_extra", "", {"unexpected tensor 'linear3.weight'"}},
      {"wrong shape", "mlp_shape", "", {"tensor 'linear1.weight': shape [20, 11], expected [20, 10]"}},
      {"wrong dtype", "mlp_dtype", "", {"tensor 'linear2.weight': dtype float64, expected float32"}},
  };
  for (auto& c : cases) {
    SECTION(c.name) {
      Repo repo;
      repo.put_model(c.fixture);
      if (!c.arch.empty()) write_file(repo / "models/clf/arch.toml", c.arch);
      int commits = repo.commit_count();
      auto before = snapshot(repo.root);
      std::string index_before = read_file(repo.root / ".git/index");
      RunResult r = run_mvc({"commit", "models/clf", "-m", "bad", "--tag", "bad"}, repo.root);
      INFO(r.err);
      CHECK(r.exit_code == 7);
      CHECK(r.out.empty());
      CHECK(r.err.rfind("mvc: error: ", 0) == 0);
      CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
      for (auto& e : c.expect) CHECK(r.err.find(e) != std::string::npos);
      CHECK(repo.commit_count() == commits);
      CHECK(snapshot(repo.root) == before);
      CHECK(read_file(repo.root / ".git/index") == index_before);
      CHECK(git({"tag", "-l"}, repo.root).out == "");
    }
  }
}

TEST_CASE("weights files mvc cannot read are refused with exit 7", "[cli][commit][errors]") {
  Repo repo;
  repo.put_model("mlp_v1");
  fs::remove(repo / "models/clf/weights.safetensors");
  write_file(repo / "models/clf/model.pt", std::string("PK\x03\x04", 4) + std::string(60, '\0'));
  RunResult r = run_mvc({"commit", "models/clf", "-m", "pt"}, repo.root);
  CHECK(r.exit_code == 7);
  CHECK(r.err.find("models/clf/model.pt: not a valid zip archive") != std::string::npos);
  fs::remove(repo / "models/clf/model.pt");
  r = run_mvc({"commit", "models/clf", "-m", "none"}, repo.root);
  CHECK(r.exit_code == 7);
  CHECK(r.err.find("no weights file") != std::string::npos);
  write_file(repo / "models/clf/a.safetensors", "x");
  write_file(repo / "models/clf/b.safetensors", "y");
  // Several *.safetensors files are shards of one version (here invalid ones); a .pt among
  // them makes the choice ambiguous.
  r = run_mvc({"commit", "models/clf", "-m", "two"}, repo.root);
  CHECK(r.exit_code == 7);
  CHECK(r.err.find("models/clf/a.safetensors") != std::string::npos);
  write_file(repo / "models/clf/c.pt", "z");
  r = run_mvc({"commit", "models/clf", "-m", "three"}, repo.root);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("a.safetensors, b.safetensors, c.pt") != std::string::npos);
  fs::remove(repo / "models/clf/c.pt");
  r = run_mvc({"commit", "models/clf", "-m", "short", "--weights", "models/clf/a.safetensors"}, repo.root);
  CHECK(r.exit_code == 7);
  CHECK(r.err.find("models/clf/a.safetensors") != std::string::npos);
}

TEST_CASE("an existing or invalid tag is refused before anything is written", "[cli][commit][errors]") {
  Repo repo;
  repo.put_model("mlp_v1");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v1", "--tag", "v1"}, repo.root).exit_code == 0);
  repo.put_model("mlp_v2");
  int n = repo.commit_count();
  RunResult r = run_mvc({"commit", "models/clf", "-m", "v2", "--tag", "v1"}, repo.root);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("tag 'v1' already exists") != std::string::npos);
  r = run_mvc({"commit", "models/clf", "-m", "v2", "--tag", "bad..name"}, repo.root);
  CHECK(r.exit_code == 2);
  CHECK(repo.commit_count() == n);
  CHECK(run_mvc({"status"}, repo.root).out == "models/clf: weights modified\n");
}
