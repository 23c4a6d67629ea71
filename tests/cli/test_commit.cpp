// mvc init / commit / log / status / show through the real binary, checked with the git CLI.
#include <regex>

#include "cli/cli_support.h"

using namespace mvc::test;
using nlohmann::json;

TEST_CASE("init creates .mvc, stages it, is idempotent and works from a subdirectory", "[cli][init]") {
  TempDir tmp;
  fs::path root = tmp.path() / "r";
  git_init(root);
  fs::create_directories(root / "a/b");
  RunResult r = run_mvc({"init"}, root / "a/b");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(root / ".mvc/config.toml").find("format = 1") != std::string::npos);
  CHECK(read_file(root / ".mvc/.gitignore").find("/cache/") != std::string::npos);
  RunResult st = git({"status", "--porcelain"}, root);
  CHECK(st.out.find("A  .mvc/.gitignore") != std::string::npos);
  CHECK(st.out.find("A  .mvc/config.toml") != std::string::npos);
  auto before = snapshot(root);
  RunResult again = run_mvc({"init"}, root);
  CHECK(again.exit_code == 0);
  CHECK(again.out.find("already initialized") != std::string::npos);
  CHECK(snapshot(root) == before);
}

TEST_CASE("commands outside a git repository or an mvc repository exit 3", "[cli][errors]") {
  TempDir tmp;
  RunResult r = run_mvc({"status"}, tmp.path());
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("not a git repository") != std::string::npos);
  git_init(tmp.path() / "g");
  r = run_mvc({"status"}, tmp.path() / "g");
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("mvc init") != std::string::npos);
}

TEST_CASE("a repository format newer than this mvc is refused with exit 3", "[cli][errors]") {
  Repo repo;
  write_file(repo / ".mvc/config.toml", "format = 2\n");
  RunResult r = run_mvc({"status"}, repo.root);
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("format 2") != std::string::npos);
  CHECK(r.err.find("newer mvc") != std::string::npos);
}

TEST_CASE("commit stores the weights once, writes the pointer and commits through libgit2", "[cli][commit]") {
  Repo repo;
  repo.put_model("mlp_v1");
  RunResult r = run_mvc({"commit", "models/clf", "-m", "baseline", "--tag", "clf-v1"}, repo.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("[main ") != std::string::npos);
  CHECK(r.out.find("4 tensors, 241 parameters") != std::string::npos);

  // The pointer names the weights' SHA-256, as sha256sum computes it.
  std::string sha = pointer_sha(repo / "models/clf/weights.safetensors.mvc");
  RunResult sum = run({"sha256sum", (repo / "models/clf/weights.safetensors").string()});
  CHECK(sum.out.substr(0, 64) == sha);
  std::string ptr = read_file(repo / "models/clf/weights.safetensors.mvc");
  CHECK(ptr.rfind("format = 1\npath = \"weights.safetensors\"\nsha256 = \"" + sha + "\"\nsize = ", 0) == 0);
  CHECK(ptr.find("kind = \"safetensors\"\ntensors = 4\nparameters = 241\n") != std::string::npos);

  // The object is the file's bytes, read-only.
  fs::path obj = object_path(repo.root, sha);
  REQUIRE(fs::exists(obj));
  CHECK(read_file(obj) == read_file(repo / "models/clf/weights.safetensors"));
  CHECK((fs::status(obj).permissions() & fs::perms::owner_write) == fs::perms::none);
  CHECK(fs::is_empty(cache_dir(repo.root) / "tmp"));

  // git agrees: one commit with the model files, a real annotated tag, a clean fsck.
  CHECK(git({"log", "--format=%s|%an|%ae"}, repo.root).out == "baseline|Test User|test@example.com\n");
  RunResult files = git({"show", "--name-only", "--format=", "HEAD"}, repo.root);
  CHECK(files.out ==
        ".mvc/.gitignore\n.mvc/config.toml\nmodels/clf/.gitignore\nmodels/clf/arch.toml\n"
        "models/clf/hparams.toml\nmodels/clf/weights.safetensors.mvc\n");
  CHECK(git({"cat-file", "-t", "clf-v1"}, repo.root).out == "tag\n");
  CHECK(git({"rev-parse", "clf-v1^{commit}"}, repo.root).out == git({"rev-parse", "HEAD"}, repo.root).out);
  CHECK(git({"fsck", "--strict"}, repo.root).exit_code == 0);
  CHECK(git({"status", "--porcelain"}, repo.root).out == "");

  // The weights never enter git's object database.
  std::string blob = git({"hash-object", "models/clf/weights.safetensors"}, repo.root).out;
  blob.pop_back();
  CHECK(git({"cat-file", "-e", blob}, repo.root, false).exit_code != 0);
  RunResult all = git({"rev-list", "--objects", "--all"}, repo.root);
  CHECK(all.out.find(blob) == std::string::npos);
  CHECK(all.out.find("models/clf/weights.safetensors\n") == std::string::npos);
}

TEST_CASE("commit with nothing changed says so, exits 0 and makes no commit", "[cli][commit]") {
  Repo repo;
  repo.put_model("mlp_v1");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v1"}, repo.root).exit_code == 0);
  int n = repo.commit_count();
  RunResult r = run_mvc({"commit", "models/clf", "-m", "again"}, repo.root);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("nothing to commit") != std::string::npos);
  CHECK(repo.commit_count() == n);
}

TEST_CASE("commit includes what the user staged before, as git commit does", "[cli][commit]") {
  Repo repo;
  repo.put_model("mlp_v1");
  write_file(repo / "train.py", "print('hi')\n");
  git({"add", "train.py"}, repo.root);
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v1"}, repo.root).exit_code == 0);
  CHECK(git({"show", "--name-only", "--format=", "HEAD"}, repo.root).out.find("train.py\n") != std::string::npos);
}

TEST_CASE("a second version: log lists both with hashes, parameters, tags and metrics", "[cli][log]") {
  Repo repo;
  repo.put_model("mlp_v1");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "baseline", "--tag", "clf-v1"}, repo.root).exit_code == 0);
  std::string sha1 = pointer_sha(repo / "models/clf/weights.safetensors.mvc");
  repo.put_model("mlp_v2");
  write_file(repo / "models/clf/metrics.toml", "loss = 0.125\naccuracy = 0.5\n");
  RunResult c2 = run_mvc({"commit", "models/clf", "-m", "lr 3e-4"}, repo.root);
  REQUIRE(c2.exit_code == 0);
  std::string sha2 = pointer_sha(repo / "models/clf/weights.safetensors.mvc");
  REQUIRE(sha1 != sha2);

  RunResult log = run_mvc({"log", "models/clf", "--json"}, repo.root);
  INFO(log.err);
  REQUIRE(log.exit_code == 0);
  json j = json::parse(log.out);
  REQUIRE(j["models"].size() == 1);
  auto& v = j["models"][0]["versions"];
  REQUIRE(v.size() == 2);
  CHECK(v[0]["message"] == "lr 3e-4");
  CHECK(v[0]["weights"]["sha256"] == sha2);
  CHECK(v[0]["metrics"]["loss"] == 0.125);
  CHECK(v[0]["path"] == "models/clf");
  CHECK(v[0]["tags"].empty());
  CHECK(v[1]["message"] == "baseline");
  CHECK(v[1]["weights"]["sha256"] == sha1);
  CHECK(v[1]["weights"]["parameters"] == 241);
  CHECK(v[1]["tags"] == json::array({"clf-v1"}));
  CHECK(v[1]["author"] == "Test User");
  CHECK(v[0]["commit"] == repo.head().substr(0, 40));

  RunResult text = run_mvc({"log"}, repo.root);
  CHECK(text.out.find("models/clf  (2 versions)") != std::string::npos);
  CHECK(text.out.find("weights " + sha1.substr(0, 8) + "  241 params") != std::string::npos);
  CHECK(text.out.find("(tag: clf-v1)") != std::string::npos);
  CHECK(text.out.find("loss=0.125  accuracy=0.5") != std::string::npos);
}

TEST_CASE("log --json gives hparams and metrics as typed values in file order, an invalid file as null", "[cli][log]") {
  Repo repo;
  repo.put_model("mlp_v1");
  write_file(repo / "models/clf/hparams.toml",
             "input_size = 10\nhidden_size = 20\noutput_size = 1\nlr = 3e-4\nepochs = 10\nname = "
             "\"mlp\"\n[optimizer]\nbetas = [0.9, 0.999]\n");
  write_file(repo / "models/clf/metrics.toml",
             "loss = 0.125\naccuracy = 1\nconverged = true\nwhen = 2026-11-29T09:30:12Z\n[eval]\nf1 = 0.5\n");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "typed"}, repo.root).exit_code == 0);
  // An invalid metrics.toml committed with git (mvc commit does not read metrics.toml).
  write_file(repo / "models/clf/metrics.toml", "loss = = 1\n");
  git({"commit", "-q", "-am", "broken metrics"}, repo.root);

  RunResult log = run_mvc({"log", "models/clf", "--json"}, repo.root);
  INFO(log.err);
  REQUIRE(log.exit_code == 0);
  json j = json::parse(log.out);
  auto& v = j["models"][0]["versions"];
  REQUIRE(v.size() == 2);
  CHECK(v[0]["message"] == "broken metrics");
  CHECK(v[0]["metrics"].is_null());
  std::string short0 = v[0]["short"];
  CHECK(v[0]["metrics_error"].get<std::string>().rfind("models/clf/metrics.toml at " + short0 + ":1:", 0) == 0);
  CHECK(v[0]["hparams"]["lr"] == 3e-4);
  CHECK(v[1]["hparams"] ==
        json::parse(R"({"input_size": 10, "hidden_size": 20, "output_size": 1, "lr": 0.0003, "epochs": 10,
                                           "name": "mlp", "optimizer": {"betas": [0.9, 0.999]}})"));
  CHECK(v[1]["hparams"]["epochs"].is_number_integer());
  CHECK(v[1]["metrics"] == json::parse(R"({"loss": 0.125, "accuracy": 1, "converged": true,
                                           "when": "2026-11-29T09:30:12Z", "eval": {"f1": 0.5}})"));
  CHECK(v[1].find("metrics_error") == v[1].end());
  // File order, not key order.
  std::size_t lr = log.out.find("\"lr\""), epochs = log.out.find("\"epochs\"");
  CHECK(lr < epochs);

  RunResult text = run_mvc({"log", "models/clf"}, repo.root);
  CHECK(text.out.find("(invalid metrics.toml)") != std::string::npos);
  CHECK(text.out.find("loss=0.125  accuracy=1  converged=true") != std::string::npos);
}

TEST_CASE("status reports each kind of change", "[cli][status]") {
  Repo repo;
  repo.put_model("mlp_v1");
  auto changes = [&] {
    RunResult r = run_mvc({"status", "--json"}, repo.root);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    json j = json::parse(r.out);
    REQUIRE(j["models"].size() == 1);
    CHECK(j["models"][0]["path"] == "models/clf");
    return j["models"][0]["changes"].get<std::vector<std::string>>();
  };
  CHECK(changes() == std::vector<std::string>{"not committed"});
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v1"}, repo.root).exit_code == 0);
  CHECK(changes().empty());
  CHECK(run_mvc({"status"}, repo.root).out == "models/clf: clean\n");

  fs::copy_file(fixture_dir() / "mlp_v2/weights.safetensors", repo / "models/clf/weights.safetensors",
                fs::copy_options::overwrite_existing);
  CHECK(changes() == std::vector<std::string>{"weights modified"});
  fs::remove(repo / "models/clf/weights.safetensors");
  CHECK(changes() == std::vector<std::string>{"weights missing"});
  fs::copy_file(fixture_dir() / "mlp_v1/weights.safetensors", repo / "models/clf/weights.safetensors");
  write_file(repo / "models/clf/hparams.toml", read_file(repo / "models/clf/hparams.toml") + "# note\n");
  CHECK(changes() == std::vector<std::string>{"hparams.toml modified"});
  git({"checkout", "--", "models/clf/hparams.toml"}, repo.root);
  std::string sha = pointer_sha(repo / "models/clf/weights.safetensors.mvc");
  fs::path obj = object_path(repo.root, sha);
  fs::permissions(obj, fs::perms::owner_write, fs::perm_options::add);
  fs::remove(obj);
  CHECK(changes() == std::vector<std::string>{"object not in cache"});
}

TEST_CASE("status never loads LibTorch, checkout does", "[cli][torchfree]") {
  Repo repo;
  repo.put_model("mlp_v1");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v1"}, repo.root).exit_code == 0);
  for (auto cmd : std::vector<std::vector<std::string>>{
           {"status"}, {"log"}, {"show", "models/clf"}, {"commit", "models/clf", "-m", "x"}}) {
    RunResult r = run_mvc(cmd, repo.root, {{"LD_DEBUG", "libs"}});
    INFO(cmd[0]);
    CHECK(r.exit_code == 0);
    CHECK(r.err.find("libgit2") != std::string::npos);  // the probe sees libraries load at all
    CHECK(r.err.find("libtorch") == std::string::npos);
    CHECK(r.err.find("libmvc_torch") == std::string::npos);
  }
  RunResult r = run_mvc({"checkout"}, repo.root, {{"LD_DEBUG", "libs"}});
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("libmvc_torch") != std::string::npos);
}

TEST_CASE("show prints the layer table, totals, hparams, metrics and pointer", "[cli][show]") {
  Repo repo;
  repo.put_model("mlp_v1");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v1", "--tag", "v1"}, repo.root).exit_code == 0);
  std::string sha = pointer_sha(repo / "models/clf/weights.safetensors.mvc");
  repo.put_model("mlp_v2");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v2"}, repo.root).exit_code == 0);
  RunResult r = run_mvc({"show", "v1:models/clf"}, repo.root);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("input: x [batch, 10] float32") != std::string::npos);
  CHECK(std::regex_search(r.out, std::regex("linear1 +Linear +\\[batch, 20\\] +220\n")));
  CHECK(std::regex_search(r.out, std::regex("relu +ReLU +\\[batch, 20\\] +0\n")));
  CHECK(std::regex_search(r.out, std::regex("linear2 +Linear +\\[batch, 1\\] +21\n")));
  CHECK(std::regex_search(r.out, std::regex("total +241\n")));
  CHECK(r.out.find("hidden_size = 20") != std::string::npos);
  CHECK(r.out.find("optimizer.lr = 0.05") != std::string::npos);
  CHECK(r.out.find("sha256:" + sha) != std::string::npos);
  // The workspace form shows v2's pointer.
  RunResult w = run_mvc({"show", "models/clf"}, repo / "models");
  CHECK(w.exit_code != 0);  // relative to cwd: models/models/clf does not exist
  w = run_mvc({"show", "clf"}, repo / "models");
  CHECK(w.exit_code == 0);
  CHECK(w.out.find("sha256:" + pointer_sha(repo / "models/clf/weights.safetensors.mvc")) != std::string::npos);
}
