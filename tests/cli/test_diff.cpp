// mvc diff: two commits of a real PyTorch model, one layer retrained; the revision forms;
// architecture, hparams and metrics changes; --stat, --json, --exit-code; bad input.
#include <cmath>
#include <set>

#include "cli_support.h"
#include "weights/safetensors.h"

namespace mvc::test {

namespace {

using nlohmann::json;

void commit(const Repo& repo, const std::string& msg, const std::string& tag, const std::string& dir = "models/clf") {
  RunResult r = run_mvc({"commit", dir, "-m", msg, "--tag", tag}, repo.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
}

json diff_json(const Repo& repo, std::vector<std::string> args) {
  args.insert(args.begin(), {"diff", "--json"});
  RunResult r = run_mvc(args, repo.root);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return json::parse(r.out);
}

std::set<std::string> changed_tensors(const json& model) {
  std::set<std::string> out;
  for (auto& t : model["weights"]["tensors"])
    if (t["change"] != "unchanged") out.insert(t["name"].get<std::string>());
  return out;
}

// v1: mlp_v1 with metrics; v2: linear2 retrained by PyTorch, new metrics.
struct TwoVersions : Repo {
  json expected;
  TwoVersions() {
    put_model("mlp_v1");
    write_file(root / "models/clf/metrics.toml", "accuracy = 0.8\nloss = 0.5\n");
    commit(*this, "v1", "v1");
    expected = retrain(*this, "linear2");
    write_file(root / "models/clf/metrics.toml", "accuracy = 0.9\nloss = 0.25\n");
    commit(*this, "v2: linear2 retrained", "v2");
  }
};

}  // namespace

TEST_CASE("diff of two commits names exactly the retrained layer's tensors, with PyTorch's values", "[cli][diff]") {
  TwoVersions repo;
  REQUIRE(repo.expected.size() == 2);  // linear2.weight, linear2.bias
  json out = diff_json(repo, {"v1", "v2"});
  CHECK(out["a"] == "v1");
  CHECK(out["b"] == "v2");
  REQUIRE(out["models"].size() == 1);
  json m = out["models"][0];
  CHECK(m["path"] == "models/clf");
  CHECK(m["status"] == "modified");
  CHECK(changed_tensors(m) == std::set<std::string>{"linear2.bias", "linear2.weight"});
  CHECK(m["weights"]["compared"] == true);
  CHECK(m["weights"]["tensors"].size() == 4);
  CHECK(m["weights"]["parameters_changed"] == 21);
  CHECK(m["weights"]["parameters_total"] == 241);
  for (auto& t : m["weights"]["tensors"]) {
    std::string name = t["name"];
    INFO(name);
    if (t["change"] == "unchanged") {
      CHECK(!t.contains("relative_change"));
      continue;
    }
    CHECK(t["change"] == "changed");
    CHECK(t["relative_change"].get<double>() == Approx(repo.expected[name]["relative"].get<double>()).epsilon(1e-9));
    CHECK(t["max_abs_change"].get<double>() == Approx(repo.expected[name]["max_abs"].get<double>()).epsilon(1e-9));
    CHECK(t["fraction_changed"].get<double>() == Approx(repo.expected[name]["fraction"].get<double>()));
  }
  // metrics: old → new, absolute and relative change
  REQUIRE(m["metrics"].size() == 2);
  CHECK(m["metrics"][0]["key"] == "accuracy");
  CHECK(m["metrics"][0]["a"] == "0.8");
  CHECK(m["metrics"][0]["b"] == "0.9");
  CHECK(m["metrics"][0]["delta"].get<double>() == Approx(0.1));
  CHECK(m["metrics"][0]["relative"].get<double>() == Approx(0.125));
  CHECK(m["metrics"][1]["key"] == "loss");
  CHECK(m["metrics"][1]["relative"].get<double>() == Approx(-0.5));
  CHECK(m["hparams"].empty());
  CHECK(m["architecture"]["layers"].empty());
  CHECK(m["architecture"]["parameters"]["a"] == 241);

  // The text form says the same.
  RunResult r = run_mvc({"diff", "v1", "v2"}, repo.root);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("model models/clf\n") != std::string::npos);
  CHECK(r.out.find("  ~ linear2.weight  float32 [1, 20]  relative ") != std::string::npos);
  CHECK(r.out.find("  ~ linear2.bias  float32 [1]  relative ") != std::string::npos);
  CHECK(r.out.find("linear1") == std::string::npos);
  CHECK(r.out.find("  2 of 4 tensors changed: 21 of 241 parameters (8.71%)\n") != std::string::npos);
  CHECK(r.out.find("  ~ accuracy: 0.8 → 0.9  (+0.1, +12.50%)\n") != std::string::npos);
  CHECK(r.out.find("  ~ loss: 0.5 → 0.25  (-0.25, -50.00%)\n") != std::string::npos);

  // The same versions the other way round: the same tensors.
  CHECK(changed_tensors(diff_json(repo, {"v2", "v1"})["models"][0]) ==
        std::set<std::string>{"linear2.bias", "linear2.weight"});
  // Retraining the other layer names the other layer's tensors only.
  json e2 = retrain(repo, "linear1");
  CHECK(e2.size() == 2);
  commit(repo, "v3: linear1 retrained", "v3");
  CHECK(changed_tensors(diff_json(repo, {"v2", "v3"})["models"][0]) ==
        std::set<std::string>{"linear1.bias", "linear1.weight"});
}

TEST_CASE("diff reports an added layer, a changed option and hparams changes from the parsed architecture",
          "[cli][diff]") {
  Repo repo;
  repo.put_model("mlp_v1");
  commit(repo, "v1", "v1");
  // v2: a Dropout layer between relu and linear2; nested hparams.
  std::string arch = read_file(repo / "models/clf/arch.toml");
  auto pos = arch.find("[[layers]]\nname = \"linear2\"");
  REQUIRE(pos != std::string::npos);
  std::string arch2 = arch;
  arch2.insert(pos, "[[layers]]\nname = \"drop\"\ntype = \"Dropout\"\np = 0.1\n\n");
  write_file(repo / "models/clf/arch.toml", arch2);
  write_file(repo / "models/clf/hparams.toml",
             read_file(repo / "models/clf/hparams.toml") + "\n[scheduler]\nname = \"cosine\"\nwarmup = 100\n");
  commit(repo, "v2: dropout", "v2");
  // v3: p changed, lr changed.
  std::string arch3 = arch2;
  arch3.replace(arch3.find("p = 0.1"), 7, "p = 0.3");
  write_file(repo / "models/clf/arch.toml", arch3);
  std::string hp = read_file(repo / "models/clf/hparams.toml");
  hp.replace(hp.find("lr = 0.05"), 9, "lr = 0.01");
  write_file(repo / "models/clf/hparams.toml", hp);
  commit(repo, "v3: more dropout", "v3");

  json m = diff_json(repo, {"v1", "v2"})["models"][0];
  auto layers = m["architecture"]["layers"];
  REQUIRE(layers.size() == 2);
  CHECK(layers[0]["name"] == "drop");
  CHECK(layers[0]["change"] == "added");
  CHECK(layers[0]["type"]["b"] == "Dropout");
  CHECK(layers[0]["output_shape"]["b"] == "[batch, 20]");
  CHECK(layers[0]["type"]["a"] == nullptr);
  CHECK(layers[1]["name"] == "linear2");  // its input is now drop
  CHECK(layers[1]["change"] == "changed");
  REQUIRE(layers[1]["options"].size() == 1);
  CHECK(layers[1]["options"][0] == json({{"key", "inputs"}, {"change", "changed"}, {"a", "[relu]"}, {"b", "[drop]"}}));
  CHECK(m["architecture"]["parameters"] == json({{"a", 241}, {"b", 241}}));
  REQUIRE(m["hparams"].size() == 2);
  CHECK(m["hparams"][0] == json({{"key", "scheduler.name"}, {"change", "added"}, {"a", nullptr}, {"b", "\"cosine\""}}));
  CHECK(m["hparams"][1] == json({{"key", "scheduler.warmup"}, {"change", "added"}, {"a", nullptr}, {"b", "100"}}));
  CHECK(m["weights"]["compared"] == false);  // the same weights object: not read
  CHECK(m["weights"]["a"] == m["weights"]["b"]);

  m = diff_json(repo, {"v2", "v3"})["models"][0];
  layers = m["architecture"]["layers"];
  REQUIRE(layers.size() == 1);
  CHECK(layers[0]["name"] == "drop");
  CHECK(layers[0]["options"][0] == json({{"key", "p"}, {"change", "changed"}, {"a", "0.1"}, {"b", "0.3"}}));
  REQUIRE(m["hparams"].size() == 1);
  CHECK(m["hparams"][0] == json({{"key", "optimizer.lr"}, {"change", "changed"}, {"a", "0.05"}, {"b", "0.01"}}));

  RunResult r = run_mvc({"diff", "v1", "v3"}, repo.root);
  INFO(r.out << r.err);
  CHECK(r.out.find("  + drop  Dropout  [batch, 20]  0 parameters\n") != std::string::npos);
  CHECK(r.out.find("  ~ linear2  Linear, inputs [relu] → [drop]\n") != std::string::npos);
  CHECK(r.out.find("  parameters: 241 → 241\n") != std::string::npos);
  CHECK(r.out.find("  ~ optimizer.lr: 0.05 → 0.01\n") != std::string::npos);
  CHECK(r.out.find("  + scheduler.warmup = 100\n") != std::string::npos);

  // A changed width: output shape and parameter count, old → new.
  write_file(repo / "models/clf/hparams.toml", "input_size = 12\nhidden_size = 20\noutput_size = 1\n");
  m = diff_json(repo, {"v1", "--no-weights", "--", "models/clf"})["models"][0];
  REQUIRE(!m["architecture"]["layers"].empty());
  CHECK(m["architecture"]["layers"][0]["name"] == "linear1");
  CHECK(m["architecture"]["layers"][0]["options"][0] ==
        json({{"key", "in_features"}, {"change", "changed"}, {"a", "10"}, {"b", "12"}}));
  CHECK(m["architecture"]["layers"][0]["parameters"] == json({{"a", 220}, {"b", 260}}));
  CHECK(m["architecture"]["changes"][0] ==
        json({{"key", "input x"}, {"change", "changed"}, {"a", "[batch, 10] float32"}, {"b", "[batch, 12] float32"}}));
  CHECK(m["architecture"]["parameters"] == json({{"a", 241}, {"b", 281}}));
}

TEST_CASE("diff follows git diff's revision forms: work tree, index, one revision, two", "[cli][diff]") {
  TwoVersions repo;
  auto models_of = [&](std::vector<std::string> args) { return diff_json(repo, std::move(args))["models"]; };
  // Clean: nothing differs between work tree, index and HEAD.
  CHECK(models_of({}).empty());
  CHECK(models_of({"--cached"}).empty());
  CHECK(models_of({"v2"}).empty());
  RunResult clean = run_mvc({"diff", "--exit-code"}, repo.root);
  CHECK(clean.exit_code == 0);
  CHECK(clean.out.empty());

  // Work tree: metrics edited and linear1 retrained, nothing staged.
  write_file(repo / "models/clf/metrics.toml", "accuracy = 0.95\nloss = 0.25\n");
  json e = retrain(repo, "linear1");
  json wt = models_of({});
  REQUIRE(wt.size() == 1);
  CHECK(wt[0]["metrics"].size() == 1);
  CHECK(wt[0]["metrics"][0]["b"] == "0.95");
  CHECK(changed_tensors(wt[0]) == std::set<std::string>{"linear1.bias", "linear1.weight"});
  CHECK(wt[0]["weights"]["tensors"][0]["relative_change"].get<double>() ==
        Approx(e["linear1.bias"]["relative"].get<double>()).epsilon(1e-9));
  CHECK(models_of({"--cached"}).empty());  // nothing staged
  // One revision: v1 against the work tree: both layers differ.
  CHECK(changed_tensors(models_of({"v1"})[0]) ==
        std::set<std::string>{"linear1.bias", "linear1.weight", "linear2.bias", "linear2.weight"});

  // Staged metrics: the index now has them, the work tree's weights still differ.
  git({"add", "models/clf/metrics.toml"}, repo.root);
  wt = models_of({});
  REQUIRE(wt.size() == 1);
  CHECK(wt[0]["metrics"].empty());
  CHECK(changed_tensors(wt[0]) == std::set<std::string>{"linear1.bias", "linear1.weight"});
  json cached = models_of({"--cached"});
  REQUIRE(cached.size() == 1);
  CHECK(cached[0]["metrics"][0]["a"] == "0.9");
  CHECK(cached[0]["metrics"][0]["b"] == "0.95");
  CHECK(cached[0]["weights"]["compared"] == false);
  CHECK(models_of({"--cached", "v1"})[0]["metrics"][0]["a"] == "0.8");
  // Two revisions ignore the work tree and the index.
  CHECK(changed_tensors(models_of({"v1", "v2"})[0]) == std::set<std::string>{"linear2.bias", "linear2.weight"});
  CHECK(models_of({"v2", "HEAD"}).empty());
}

TEST_CASE("diff --stat prints one line per model, --exit-code exits 8 on differences", "[cli][diff]") {
  TwoVersions repo;
  repo.put_model("mlp_v1", "models/other");
  commit(repo, "other", "v3", "models/other");
  RunResult r = run_mvc({"diff", "--stat", "v1", "v3"}, repo.root);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out ==
        "models/clf | metrics 2, weights 2/4 tensors, 21/241 parameters\n"
        "models/other | added\n");
  r = run_mvc({"diff", "--stat", "v3", "v1"}, repo.root);
  CHECK(r.out ==
        "models/clf | metrics 2, weights 2/4 tensors, 21/241 parameters\n"
        "models/other | removed\n");
  r = run_mvc({"diff", "--exit-code", "--stat", "v1", "v2"}, repo.root);
  CHECK(r.exit_code == 8);
  CHECK(r.out == "models/clf | metrics 2, weights 2/4 tensors, 21/241 parameters\n");
  r = run_mvc({"diff", "--exit-code", "v2", "v2"}, repo.root);
  CHECK(r.exit_code == 0);
  CHECK(r.out.empty());
  // Paths limit the models.
  r = run_mvc({"diff", "--stat", "v1", "v3", "--", "models/other"}, repo.root);
  CHECK(r.exit_code == 2);  // models/other is not a model directory at v1
  r = run_mvc({"diff", "--stat", "v2", "v3", "--", "models/clf"}, repo.root);
  CHECK(r.exit_code == 0);
  CHECK(r.out.empty());
}

TEST_CASE("diff never loads LibTorch", "[cli][diff][torchfree]") {
  TwoVersions repo;
  RunResult r = run_mvc({"diff", "v1", "v2"}, repo.root, {{"LD_DEBUG", "libs"}});
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("libgit2") != std::string::npos);  // the probe sees libraries load at all
  CHECK(r.err.find("libtorch") == std::string::npos);
  CHECK(r.err.find("libmvc_torch") == std::string::npos);
}

TEST_CASE("diff refuses bad input with one line and its exit code, changing nothing", "[cli][diff]") {
  TwoVersions repo;
  auto before = snapshot(repo.root);
  struct Case {
    std::vector<std::string> args;
    int code;
    std::string message;
  };
  std::vector<Case> cases = {
      {{"diff", "nope"}, 2, "mvc: error: unknown revision 'nope'\n"},
      {{"diff", "v1", "nope"}, 2, "mvc: error: unknown revision 'nope'\n"},
      {{"diff", "v1", "v2", "--", "models"}, 2, "mvc: error: models at v1: not a model directory (no arch.toml)\n"},
      {{"diff", "v1", "v2", "v3"}, 2, "mvc: error: diff: two revisions at most; put paths after '--'\n"},
      {{"diff", "--cached", "v1", "v2"},
       2,
       "mvc: error: diff: --cached compares one revision (default HEAD) with the index\n"},
  };
  for (auto& c : cases) {
    RunResult r = run_mvc(c.args, repo.root);
    INFO(c.args[1]);
    CHECK(r.exit_code == c.code);
    CHECK(r.err == c.message);
    CHECK(r.out.empty());
  }
  CHECK(snapshot(repo.root) == before);

  // A model directory at one revision only, named as a path.
  fs::create_directories(repo / "models/new");
  fs::copy_file(repo / "models/clf/arch.toml", repo / "models/new/arch.toml");
  RunResult r = run_mvc({"diff", "v2", "--", "models/new"}, repo.root);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "mvc: error: models/new at v2: not a model directory (no arch.toml)\n");
  fs::remove_all(repo / "models/new");

  // A tensor of a dtype mvc cannot widen, whose bytes differ (the work tree's file is read as it
  // is): exit 7 naming the file and the tensor.
  std::string weights_before = read_file(repo / "models/clf/weights.safetensors");
  std::string z(8, '\x01');
  weights::write_safetensors(repo / "models/clf/weights.safetensors", {{"linear2.bias", weights::DType::C64, {1}, z}});
  auto before_c64 = snapshot(repo.root);
  r = run_mvc({"diff", "v2"}, repo.root);
  CHECK(r.exit_code == 7);
  CHECK(r.err ==
        "mvc: error: models/clf/weights.safetensors: tensor 'linear2.bias': dtype complex64 cannot be widened to a "
        "real number for comparison\n");
  CHECK(r.out.empty());
  CHECK(run_mvc({"diff", "v2", "--no-weights"}, repo.root).exit_code == 0);
  write_file(repo / "models/clf/weights.safetensors", weights_before);

  // An object missing from the cache, no remote: exit 5 naming it; --no-weights diffs the rest.
  std::string sha1 = run({"git", "show", "v1:models/clf/weights.safetensors.mvc"}, repo.root).out;
  sha1 = sha1.substr(sha1.find("sha256 = \"") + 10, 64);
  fs::permissions(object_path(repo.root, sha1).parent_path(), fs::perms::owner_all, fs::perm_options::add);
  fs::remove(object_path(repo.root, sha1));
  auto before_missing = snapshot(repo.root);
  r = run_mvc({"diff", "v1", "v2"}, repo.root);
  CHECK(r.exit_code == 5);
  CHECK(r.err ==
        "mvc: error: object " + sha1 +
            " (models/clf/weights.safetensors at v1) is not in the cache and no default remote is configured\n");
  CHECK(r.out.empty());
  CHECK(snapshot(repo.root) == before_missing);
  json m = diff_json(repo, {"v1", "v2", "--no-weights"})["models"][0];
  CHECK(m["metrics"].size() == 2);
  CHECK(m["weights"]["compared"] == false);
  CHECK(m["weights"]["a"] == sha1);
  CHECK(m["weights"]["b"] != sha1);
}

}  // namespace mvc::test

namespace mvc::test {

namespace {

// Writes the tensors of safetensors file argv[1] into shards in directory argv[2], one shard per
// argument after that ("a,b" = tensors a and b), named model-0000K-of-0000N.safetensors.
const char* const kReshard = R"(import json, struct, sys
src, out, groups = sys.argv[1], sys.argv[2], [g.split(",") for g in sys.argv[3:]]
raw = open(src, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
for k, names in enumerate(groups, 1):
    h, chunks, off = {}, [], 0
    for name in sorted(names):
        b, e = header[name]["data_offsets"]
        data = raw[8 + n + b:8 + n + e]
        h[name] = {"dtype": header[name]["dtype"], "shape": header[name]["shape"], "data_offsets": [off, off + len(data)]}
        off += len(data)
        chunks.append(data)
    j = json.dumps(h, separators=(",", ":")).encode()
    j += b" " * (-len(j) % 8)
    with open("%s/model-%05d-of-%05d.safetensors" % (out, k, len(groups)), "wb") as f:
        f.write(struct.pack("<Q", len(j)) + j + b"".join(chunks))
)";

}  // namespace

TEST_CASE("diff compares sharded versions tensor by tensor, across shards, naming exactly the retrained tensors",
          "[cli][diff][shards]") {
  Repo repo;
  repo.put_model("mlp_shards_noindex");  // mlp_v1's tensors: linear1.weight | linear1.bias | linear2.*
  commit(repo, "v1: sharded", "v1");
  // linear1 retrained by PyTorch (on a single-file copy of mlp_v1), then sharded again with
  // linear2.bias moved from the third shard to the second.
  repo.put_model("mlp_v1", "scratch/m");
  json expected = retrain(repo, "linear1", "scratch/m");
  REQUIRE(expected.size() == 2);
  write_file(repo.tmp / "reshard.py", kReshard);
  RunResult rs =
      run({"/usr/bin/python3", (repo.tmp / "reshard.py").string(), (repo / "scratch/m/weights.safetensors").string(),
           (repo / "models/clf").string(), "linear1.weight", "linear1.bias,linear2.bias", "linear2.weight"});
  INFO(rs.err);
  REQUIRE(rs.exit_code == 0);
  fs::remove_all(repo / "scratch");

  // The work tree against v1, then the commit against v1: the same two tensors, PyTorch's values.
  for (const std::vector<std::string>& args : {std::vector<std::string>{"v1"}, std::vector<std::string>{"v1", "v2"}}) {
    if (args.size() == 2) commit(repo, "v2: linear1 retrained", "v2");
    json out = diff_json(repo, args);
    REQUIRE(out["models"].size() == 1);
    json m = out["models"][0];
    CHECK(m["weights"]["compared"] == true);
    CHECK(changed_tensors(m) == std::set<std::string>{"linear1.bias", "linear1.weight"});
    CHECK(m["weights"]["tensors"].size() == 4);
    CHECK(m["weights"]["parameters_changed"] == 220);
    CHECK(m["weights"]["parameters_total"] == 241);
    for (auto& t : m["weights"]["tensors"]) {
      std::string name = t["name"];
      INFO(name);
      if (t["change"] == "unchanged") continue;
      CHECK(t["relative_change"].get<double>() == Approx(expected[name]["relative"].get<double>()).epsilon(1e-9));
      CHECK(t["max_abs_change"].get<double>() == Approx(expected[name]["max_abs"].get<double>()).epsilon(1e-9));
      CHECK(t["fraction_changed"].get<double>() == Approx(expected[name]["fraction"].get<double>()));
    }
  }
  RunResult r = run_mvc({"diff", "--stat", "v1", "v2"}, repo.root);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "models/clf | weights 2/4 tensors, 220/241 parameters\n");
  r = run_mvc({"diff", "v2", "v1"}, repo.root);
  CHECK(r.out.find("  ~ linear1.weight  float32 [20, 10]  relative ") != std::string::npos);
  CHECK(r.out.find("linear2") == std::string::npos);  // moved to another shard, unchanged: not listed
}

}  // namespace mvc::test
