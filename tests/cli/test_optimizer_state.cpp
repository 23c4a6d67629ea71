// Optimizer state stored with a version (docs/repository-format.md, "Optimizer state"):
// optimizer.safetensors in the cache, named by the pointer's [optimizer] table (format 3), and
// optimizer.toml in git. commit, status, checkout, gc, fsck and push/fetch handle the state file
// as they handle weights; a version without it keeps its format 1 pointer byte for byte.
#include <toml++/toml.h>

#include "cli/remote_support.h"
#include "core/pointer.h"
#include "mvc/error.h"
#include "util/sha256.h"
#include "weights/safetensors.h"

using namespace mvc::test;

namespace {

const char* kGroups =
    "format = 1\nclass = \"torch.optim.adam.Adam\"\nparams = [\n  { name = \"linear1.weight\", shape = [20, 10] "
    "},\n]\n\n"
    "[[param_groups]]\nlr = 0.01\nbetas = [0.9, 0.999]\nparams = [0]\n";

/// An optimizer state's tensors file for the mlp fixture (state.0.exp_avg [20, 10], state.0.step),
/// its values depending on `k`.
void write_state(const fs::path& path, float k) {
  std::vector<float> avg(200, k), step(1, k);
  std::string a(reinterpret_cast<const char*>(avg.data()), avg.size() * 4);
  std::string s(reinterpret_cast<const char*>(step.data()), 4);
  std::vector<mvc::weights::TensorBytes> t;
  t.push_back({"state.0.exp_avg", mvc::weights::DType::F32, {20, 10}, a});
  t.push_back({"state.0.step", mvc::weights::DType::F32, {}, s});
  mvc::weights::write_safetensors(path, std::move(t));
}

void put_state(const Repo& repo, float k) {
  write_state(repo / "models/clf/optimizer.safetensors", k);
  write_file(repo / "models/clf/optimizer.toml", kGroups);
}

RunResult mvc_ok(const std::vector<std::string>& args, const fs::path& cwd) {
  RunResult r = run_mvc(args, cwd);
  INFO(args[0] << ": " << r.out << r.err);
  REQUIRE(r.exit_code == 0);
  return r;
}

toml::table pointer_at(const Repo& repo, const std::string& rev) {
  return toml::parse(git({"show", rev + ":models/clf/weights.safetensors.mvc"}, repo.root).out);
}

std::string status_of(const Repo& repo) { return mvc_ok({"status"}, repo.root).out; }

}  // namespace

TEST_CASE("optimizer state: commit stores it, git keeps optimizer.toml and a format 3 pointer", "[cli][optimizer]") {
  Repo repo;
  repo.put_model("mlp_v1");
  mvc_ok({"commit", "models/clf", "-m", "no state", "--tag", "v0"}, repo.root);
  const std::string v0 = read_file(repo / "models/clf/weights.safetensors.mvc");
  CHECK(v0.rfind("format = 1\npath = \"weights.safetensors\"\n", 0) == 0);  // unchanged without state

  put_state(repo, 1.0f);
  RunResult r = mvc_ok({"commit", "models/clf", "-m", "with state", "--tag", "v1"}, repo.root);
  const std::string sha = mvc::util::sha256_file(repo / "models/clf/optimizer.safetensors");
  toml::table p = pointer_at(repo, "v1");
  CHECK(p["format"].value<int64_t>() == 3);
  CHECK(p["files"][0]["path"].value<std::string>() == "weights.safetensors");
  CHECK(p["files"][0]["sha256"].value<std::string>() == pointer_sha(repo / "models/clf/weights.safetensors.mvc"));
  CHECK(p["optimizer"]["path"].value<std::string>() == "optimizer.safetensors");
  CHECK(p["optimizer"]["sha256"].value<std::string>() == sha);
  CHECK(p["optimizer"]["size"].value<int64_t>() ==
        static_cast<int64_t>(fs::file_size(repo / "models/clf/optimizer.safetensors")));
  CHECK(p["optimizer"]["tensors"].value<int64_t>() == 2);
  CHECK(fs::exists(object_path(repo.root, sha)));
  CHECK(git({"ls-files", "models/clf"}, repo.root).out ==
        "models/clf/.gitignore\nmodels/clf/arch.toml\nmodels/clf/hparams.toml\nmodels/clf/optimizer.toml\nmodels/clf/"
        "weights.safetensors.mvc\n");
  CHECK(git({"show", "v1:models/clf/.gitignore"}, repo.root).out.find("\n/optimizer.safetensors\n") !=
        std::string::npos);
  CHECK(git({"show", "v1:models/clf/optimizer.toml"}, repo.root).out == kGroups);
  CHECK(git({"status", "--porcelain"}, repo.root).out == "");
  CHECK(status_of(repo).find("modified") == std::string::npos);
  // The weights' digest (log, diff) is the weights file's, whatever the pointer's format.
  CHECK(mvc_ok({"log", "models/clf"}, repo.root)
            .out.find(pointer_sha(repo / "models/clf/weights.safetensors.mvc").substr(0, 8)) != std::string::npos);

  SECTION("a pointer of format 3 is refused by an mvc that reads format 2") {
    const std::string text = read_file(repo / "models/clf/weights.safetensors.mvc");
    try {
      mvc::core::parse_pointer(text, "models/clf/weights.safetensors.mvc", 2);
      FAIL("format 3 was read as format 2");
    } catch (const mvc::Error& e) {
      CHECK(e.exit_code() == 3);
      CHECK(std::string(e.what()) ==
            "models/clf/weights.safetensors.mvc: pointer format 3 needs a newer mvc (this one reads format 2)");
    }
    mvc::core::Pointer back = mvc::core::parse_pointer(text, "p");
    REQUIRE(back.optimizer);
    CHECK(back.optimizer->sha256 == sha);
    CHECK(back.files().size() == 1);
    CHECK(back.to_toml() == text);  // round trip, byte for byte
  }
  SECTION("status reports the state file and optimizer.toml") {
    put_state(repo, 2.0f);
    CHECK(status_of(repo).find("optimizer state modified") != std::string::npos);
    fs::remove(repo / "models/clf/optimizer.safetensors");
    CHECK(status_of(repo).find("optimizer state missing") != std::string::npos);
    write_file(repo / "models/clf/optimizer.toml", std::string(kGroups) + "# edited\n");
    CHECK(status_of(repo).find("optimizer.toml modified") != std::string::npos);
  }
  SECTION("checkout restores it, and removes it for a version without one") {
    fs::remove(repo / "models/clf/optimizer.safetensors");
    mvc_ok({"checkout", "v1", "--", "models/clf"}, repo.root);
    CHECK(mvc::util::sha256_file(repo / "models/clf/optimizer.safetensors") == sha);
    mvc_ok({"checkout", "v0"}, repo.root);
    CHECK_FALSE(fs::exists(repo / "models/clf/optimizer.safetensors"));
    CHECK_FALSE(fs::exists(repo / "models/clf/optimizer.toml"));
    CHECK(read_file(repo / "models/clf/weights.safetensors.mvc") == v0);
    mvc_ok({"checkout", "v1"}, repo.root);
    CHECK(mvc::util::sha256_file(repo / "models/clf/optimizer.safetensors") == sha);
    CHECK(read_file(repo / "models/clf/optimizer.toml") == kGroups);
    CHECK(status_of(repo).find("modified") == std::string::npos);
  }
  SECTION("checkout refuses to overwrite a state file that is in no object") {
    mvc_ok({"checkout", "v0"}, repo.root);
    mvc_ok({"checkout", "v1"}, repo.root);
    write_state(repo / "models/clf/optimizer.safetensors", 9.0f);  // not committed
    r = run_mvc({"checkout", "v0"}, repo.root);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("models/clf/optimizer.safetensors: local weights are not committed") != std::string::npos);
  }
  SECTION("gc keeps the state of every version; fsck checks it") {
    put_state(repo, 3.0f);
    mvc_ok({"commit", "models/clf", "-m", "v2"}, repo.root);
    const std::string sha2 = mvc::util::sha256_file(repo / "models/clf/optimizer.safetensors");
    // A state committed and then dropped from history goes; v1's stays.
    put_state(repo, 4.0f);
    mvc_ok({"commit", "models/clf", "-m", "dropped"}, repo.root);
    const std::string dropped = mvc::util::sha256_file(repo / "models/clf/optimizer.safetensors");
    git({"reset", "-q", "--hard", "HEAD~1"}, repo.root);
    git({"reflog", "expire", "--expire=now", "--all"}, repo.root);
    mvc_ok({"checkout", "--force"}, repo.root);
    mvc_ok({"gc", "--grace", "0"}, repo.root);
    CHECK(fs::exists(object_path(repo.root, sha)));
    CHECK(fs::exists(object_path(repo.root, sha2)));
    CHECK_FALSE(fs::exists(object_path(repo.root, dropped)));
    r = mvc_ok({"fsck"}, repo.root);
    CHECK(r.out.find(", 0 corrupt; 0 missing") != std::string::npos);
  }
  SECTION("push and fetch move the state's object") {
    TempDir remote;
    mvc_ok({"remote", "add", "origin", (remote.path() / "store").string(), "--default"}, repo.root);
    mvc_ok({"push"}, repo.root);
    fs::permissions(object_path(repo.root, sha), fs::perms::owner_write, fs::perm_options::add);
    fs::remove(object_path(repo.root, sha));
    fs::remove(repo / "models/clf/optimizer.safetensors");
    mvc_ok({"checkout", "v1", "--", "models/clf"}, repo.root);  // fetched from the default remote
    CHECK(mvc::util::sha256_file(repo / "models/clf/optimizer.safetensors") == sha);
    fs::permissions(object_path(repo.root, sha), fs::perms::owner_write, fs::perm_options::add);
    fs::remove(object_path(repo.root, sha));
    mvc_ok({"fetch"}, repo.root);
    CHECK(fs::exists(object_path(repo.root, sha)));
  }
  SECTION("a commit without the state removes optimizer.toml and writes format 1 again") {
    fs::remove(repo / "models/clf/optimizer.safetensors");
    fs::remove(repo / "models/clf/optimizer.toml");
    mvc_ok({"commit", "models/clf", "-m", "dropped the state"}, repo.root);
    CHECK(read_file(repo / "models/clf/weights.safetensors.mvc") == v0);
    CHECK(git({"ls-files", "models/clf/optimizer.toml"}, repo.root).out == "");
  }
}

TEST_CASE("optimizer state: bad input is refused and changes nothing", "[cli][optimizer]") {
  Repo repo;
  repo.put_model("mlp_v1");
  const int commits = repo.commit_count();
  auto refused = [&](std::vector<std::string> args, int code, const std::string& msg) {
    auto before = snapshot(repo.root / "models");
    RunResult r = run_mvc(args, repo.root);
    INFO(r.out << r.err);
    CHECK(r.exit_code == code);
    CHECK(r.err.find(msg) != std::string::npos);
    CHECK(repo.commit_count() == commits);
    CHECK(snapshot(repo.root / "models") == before);
  };
  SECTION("the state's tensors without optimizer.toml") {
    write_state(repo / "models/clf/optimizer.safetensors", 1.0f);
    refused({"commit", "models/clf", "-m", "x"}, 7,
            "models/clf/optimizer.safetensors: optimizer state without its models/clf/optimizer.toml");
  }
  SECTION("optimizer.toml without the state's tensors") {
    write_file(repo / "models/clf/optimizer.toml", kGroups);
    refused({"commit", "models/clf", "-m", "x"}, 7,
            "models/clf/optimizer.toml: param groups without the optimizer state's tensors");
  }
  SECTION("a state file that is not safetensors") {
    write_file(repo / "models/clf/optimizer.safetensors", "not a safetensors file");
    write_file(repo / "models/clf/optimizer.toml", kGroups);
    refused({"commit", "models/clf", "-m", "x"}, 7, "models/clf/optimizer.safetensors");
  }
  SECTION("the state file named as the weights") {
    put_state(repo, 1.0f);
    refused({"commit", "models/clf", "-m", "x", "--weights", (repo / "models/clf/optimizer.safetensors").string()}, 2,
            "models/clf/optimizer.safetensors: optimizer state, not weights");
  }
  SECTION("an [optimizer] table in a format 1 pointer") {
    mvc_ok({"commit", "models/clf", "-m", "v0"}, repo.root);
    std::string p = read_file(repo / "models/clf/weights.safetensors.mvc");
    p += "\n[optimizer]\npath = \"optimizer.safetensors\"\nsha256 = \"" + std::string(64, 'a') +
         "\"\nsize = 1\nkind = \"safetensors\"\n";
    write_file(repo / "models/clf/weights.safetensors.mvc", p);
    RunResult r = run_mvc({"status"}, repo.root);
    CHECK(r.exit_code == 7);
    CHECK(r.err.find("weights.safetensors.mvc: [optimizer] needs pointer format 3") != std::string::npos);
  }
}
