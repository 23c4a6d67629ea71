// --json on the commands that print information (show, status, remote list, fsck, gc), parsed
// and checked against the repository's real state; mvc show --dot parsed by Graphviz.

#include "cli/remote_support.h"
#include "util/sha256.h"

namespace mvc::test {

namespace {

using nlohmann::json;

json parse_ok(const RunResult& r) {
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  return json::parse(r.out);
}

/// models/clf committed twice (mlp_v1 tagged v1 with metrics, then mlp_v2).
struct TwoVersions : Repo {
  std::string sha1, sha2;
  TwoVersions() {
    put_model("mlp_v1");
    write_file(root / "models/clf/metrics.toml", "accuracy = 0.75\n[eval]\nloss = 0.5\n");
    REQUIRE(run_mvc({"commit", "models/clf", "-m", "v1", "--tag", "v1"}, root).exit_code == 0);
    sha1 = pointer_sha(root / "models/clf/weights.safetensors.mvc");
    put_model("mlp_v2");
    REQUIRE(run_mvc({"commit", "models/clf", "-m", "v2"}, root).exit_code == 0);
    sha2 = pointer_sha(root / "models/clf/weights.safetensors.mvc");
  }
};

}  // namespace

TEST_CASE("show --json: the layer table, hparams, metrics and pointer as values", "[cli][json][show]") {
  TwoVersions repo;
  json j = parse_ok(run_mvc({"show", "v1:models/clf", "--json"}, repo.root));
  CHECK(j["path"] == "models/clf");
  CHECK(j["revision"] == "v1");
  CHECK(j["commit"] == git({"rev-parse", "v1^{commit}"}, repo.root).out.substr(0, 40));
  auto& a = j["architecture"];
  CHECK(a["dtype"] == "float32");
  CHECK(a["inputs"] == json::array({{{"name", "x"}, {"shape", {"batch", 10}}, {"dtype", "float32"}}}));
  REQUIRE(a["layers"].size() == 3);
  CHECK(a["layers"][0] ==
        json({{"name", "linear1"}, {"type", "Linear"}, {"output_shape", "[batch, 20]"}, {"parameters", 220}}));
  CHECK(a["layers"][1]["type"] == "ReLU");
  CHECK(a["layers"][1]["parameters"] == 0);
  CHECK(a["layers"][2]["output_shape"] == "[batch, 1]");
  CHECK(a["parameters"] == 241);
  CHECK(j["hparams"]["input_size"] == 10);
  CHECK(j["hparams"]["optimizer"]["lr"] == 0.05);
  CHECK(j["metrics"] == json({{"accuracy", 0.75}, {"eval", {{"loss", 0.5}}}}));
  CHECK(j["weights"]["sha256"] == repo.sha1);
  CHECK(j["weights"]["parameters"] == 241);
  CHECK(j["weights"]["tensors"] == 4);
  CHECK(j["weights"]["kind"] == "safetensors");
  CHECK(j["weights"]["in_cache"] == true);
  CHECK(j["weights"]["size"] == fs::file_size(object_path(repo.root, repo.sha1)));

  // The work tree: no revision, no commit; an absent metrics.toml is {}.
  fs::remove(repo / "models/clf/metrics.toml");
  j = parse_ok(run_mvc({"show", "models/clf", "--json"}, repo.root));
  CHECK(j["revision"].is_null());
  CHECK(j["commit"].is_null());
  CHECK(j["metrics"] == json::object());
  CHECK(j["weights"]["sha256"] == repo.sha2);
  // python3 -m json.tool reads it too.
  RunResult py =
      run({"python3", "-c", "import json,sys; d=json.load(sys.stdin); print(d['architecture']['parameters'])"},
          repo.root, {}, run_mvc({"show", "models/clf", "--json"}, repo.root).out);
  CHECK(py.out == "241\n");
}

TEST_CASE("show --json of an invalid hparams.toml is exit 7 naming it, and nothing on stdout",
          "[cli][json][show][bad_input]") {
  TwoVersions repo;
  write_file(repo / "models/clf/metrics.toml", "accuracy = = 1\n");
  RunResult r = run_mvc({"show", "models/clf", "--json"}, repo.root);
  CHECK(r.exit_code == 7);
  CHECK(r.out.empty());
  CHECK(r.err.find("metrics.toml") != std::string::npos);
  r = run_mvc({"show", "models/clf", "--json", "--dot"}, repo.root);
  CHECK(r.exit_code == 2);
}

TEST_CASE("status --json: clean and modified models", "[cli][json][status]") {
  TwoVersions repo;
  json j = parse_ok(run_mvc({"status", "--json"}, repo.root));
  REQUIRE(j["models"].size() == 1);
  CHECK(j["models"][0]["path"] == "models/clf");
  CHECK(j["models"][0]["clean"] == true);
  CHECK(j["models"][0]["changes"] == json::array());
  CHECK(j["models"][0]["weights"]["sha256"] == repo.sha2);
  write_file(repo / "models/clf/metrics.toml", "accuracy = 0.8\n");
  j = parse_ok(run_mvc({"status", "--json"}, repo.root));
  CHECK(j["models"][0]["clean"] == false);
  CHECK(j["models"][0]["changes"] == json::array({"metrics.toml modified"}));
}

TEST_CASE("remote list --json: names, URLs, backends, the default, listed options", "[cli][json][remote]") {
  Repo repo;
  CHECK(parse_ok(run_mvc({"remote", "list", "--json"}, repo.root)) == json({{"remotes", json::array()}}));
  REQUIRE(run_mvc({"remote", "add", "backup", (repo.tmp / "store").string()}, repo.root).exit_code == 0);
  REQUIRE(run_mvc({"remote", "add", "cloud", "s3://bucket/models", "--default"}, repo.root).exit_code == 0);
  std::string cfg = read_file(repo / ".mvc/config.toml");
  auto at = cfg.find("url = \"s3://bucket/models\"");
  REQUIRE(at != std::string::npos);
  cfg.insert(cfg.find('\n', at) + 1, "endpoint_url = \"http://127.0.0.1:9\"\nregion = \"eu-west-1\"\n");
  write_file(repo / ".mvc/config.toml", cfg);
  json j = parse_ok(run_mvc({"remote", "list", "--json"}, repo.root));
  REQUIRE(j["remotes"].size() == 2);
  CHECK(j["remotes"][0] == json({{"name", "backup"},
                                 {"url", (repo.tmp / "store").string()},
                                 {"backend", "folder"},
                                 {"default", false},
                                 {"options", json::object()}}));
  CHECK(j["remotes"][1]["name"] == "cloud");
  CHECK(j["remotes"][1]["backend"] == "s3");
  CHECK(j["remotes"][1]["default"] == true);
  // The keys `remote list` shows; region has no list label.
  CHECK(j["remotes"][1]["options"] == json({{"endpoint_url", "http://127.0.0.1:9"}}));
}

TEST_CASE("gc --dry-run --json lists what would go, and deletes nothing", "[cli][json][gc]") {
  TwoVersions repo;
  // An object nothing references: a variant committed, then dropped with its reflog.
  write_weights_variant("mlp_v1", repo / "models/clf/weights.safetensors", 3);
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "dropped"}, repo.root).exit_code == 0);
  std::string dropped = pointer_sha(repo / "models/clf/weights.safetensors.mvc");
  git({"reset", "-q", "--hard", "HEAD~1"}, repo.root);
  git({"reflog", "expire", "--expire=now", "--all"}, repo.root);
  json j = parse_ok(run_mvc({"gc", "--dry-run", "--grace", "0", "--json"}, repo.root));
  CHECK(j["dry_run"] == true);
  CHECK(j["deleted"] == json::array({dropped}));
  CHECK(j["bytes"] == fs::file_size(object_path(repo.root, dropped)));
  CHECK(j["referenced"] == 2);
  CHECK(j["kept"] == 2);
  CHECK(j["kept_young"] == 0);
  CHECK(j["grace_seconds"] == 0);
  CHECK(fs::exists(object_path(repo.root, dropped)));
  // Within the default grace period it is kept young.
  j = parse_ok(run_mvc({"gc", "--dry-run", "--json"}, repo.root));
  CHECK(j["deleted"] == json::array());
  CHECK(j["kept_young"] == 1);
  CHECK(j["grace_seconds"] == 3600);
  // For real.
  j = parse_ok(run_mvc({"gc", "--grace", "0", "--json"}, repo.root));
  CHECK(j["dry_run"] == false);
  CHECK(j["deleted"] == json::array({dropped}));
  CHECK_FALSE(fs::exists(object_path(repo.root, dropped)));
}

TEST_CASE("fsck --json: clean, then a corrupt and a missing object, with fsck's exit codes", "[cli][json][fsck]") {
  TwoVersions repo;
  json j = parse_ok(run_mvc({"fsck", "--json"}, repo.root));
  CHECK(j == json({{"checked", 2},
                   {"manifests_checked", 0},
                   {"corrupt", json::array()},
                   {"remote", nullptr},
                   {"missing", json::array()},
                   {"wrong_size", json::array()}}));

  fs::path obj = object_path(repo.root, repo.sha1);
  fs::permissions(obj, fs::perms::owner_write, fs::perm_options::add);
  std::string bytes = read_file(obj);
  bytes[10] ^= 1;
  write_file(obj, bytes);
  RunResult r = run_mvc({"fsck", "--json"}, repo.root);
  CHECK(r.exit_code == 4);
  CHECK(r.err.find("mvc: error: fsck: 1 corrupt object(s)") != std::string::npos);
  j = json::parse(r.out);
  REQUIRE(j["corrupt"].size() == 1);
  CHECK(j["corrupt"][0]["sha256"] == repo.sha1);
  CHECK(j["corrupt"][0]["got"] == util::sha256_hex(bytes));
  CHECK(fs::exists(j["corrupt"][0]["moved_to"].get<std::string>()));
  REQUIRE(j["missing"].size() == 1);
  CHECK(j["missing"][0]["sha256"] == repo.sha1);
  CHECK(j["missing"][0]["where"].get<std::string>().rfind("models/clf/weights.safetensors.mvc", 0) == 0);

  // With a remote that holds v2's object only.
  REQUIRE(run_mvc({"remote", "add", "backup", (repo.tmp / "store").string()}, repo.root).exit_code == 0);
  REQUIRE(run_mvc({"push", "backup"}, repo.root).exit_code == 0);
  r = run_mvc({"fsck", "--json", "--remote", "backup"}, repo.root);
  CHECK(r.exit_code == 5);
  j = json::parse(r.out);
  CHECK(j["checked"] == 1);
  CHECK(j["remote"] == json({{"name", "backup"},
                             {"checked", 1},
                             {"corrupt", json::array()},
                             {"manifests_checked", 0},
                             {"missing_segments", json::array()}}));
  CHECK(j["missing"].size() == 1);
}

TEST_CASE("show --dot: Graphviz reads it, one node per layer, edges from the graph", "[cli][show][dot]") {
  TwoVersions repo;
  RunResult r = run_mvc({"show", "v1:models/clf", "--dot"}, repo.root);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("\"linear1\" [label=\"linear1\\nLinear\\n[batch, 20]\\n220 parameters\"]") != std::string::npos);
  CHECK(r.out.find("\"input x\" -> \"linear1\";") != std::string::npos);
  CHECK(r.out.find("\"linear1\" -> \"relu\";") != std::string::npos);
  CHECK(r.out.find("\"linear2\" -> \"output linear2\";") != std::string::npos);
  RunResult svg = run({"dot", "-Tsvg"}, repo.root, {}, r.out);
  INFO(svg.err);
  REQUIRE(svg.exit_code == 0);
  auto count = [&](const std::string& what) {
    std::size_t n = 0;
    for (std::size_t p = 0; (p = svg.out.find(what, p)) != std::string::npos; ++p) ++n;
    return n;
  };
  CHECK(count("class=\"node\"") == 3 + 2);  // layers, the input, the output
  CHECK(count("class=\"edge\"") == 4);
  CHECK(count("<title>linear1</title>") == 1);
}

}  // namespace mvc::test
