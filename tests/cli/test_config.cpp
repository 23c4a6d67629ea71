// mvc config get/set/unset/list, and remote add/remove, edit .mvc/config.toml and
// config.local.toml as text: the user's comments, order and formatting survive byte for byte.
#include "cli/cli_support.h"

using namespace mvc::test;

namespace {

const std::string kHeader = "# mvc repository configuration (committed; credentials go in config.local.toml)\n";

/// Runs mvc and requires success.
RunResult ok(const Repo& repo, const std::vector<std::string>& args) {
  RunResult r = run_mvc(args, repo.root);
  INFO("mvc " << args[0] << (args.size() > 1 ? " " + args[1] : "") << ": " << r.err);
  REQUIRE(r.exit_code == 0);
  return r;
}

}  // namespace

TEST_CASE("config set/get/unset/list edit the text in place and keep comments", "[cli][config]") {
  Repo repo;
  fs::path cfg = repo / ".mvc/config.toml", local = repo / ".mvc/config.local.toml";
  write_file(cfg, kHeader +
                      "format = 1\n"
                      "\n"
                      "# Remotes: ask #ml-infra before changing them\n"
                      "[remote.origin]\n"
                      "url   =   \"/srv/models\"   # the team NAS\n");
  RunResult r = ok(repo, {"config", "set", "core.remote", "origin"});
  CHECK(r.out == "Set core.remote in .mvc/config.toml; .mvc/config.toml staged\n");
  CHECK(r.err.empty());
  CHECK(git({"diff", "--cached", "--name-only"}, repo.root).out.find(".mvc/config.toml\n") != std::string::npos);
  ok(repo, {"config", "set", "remote.origin.url", "/srv/v2"});
  ok(repo, {"remote", "add", "backup", "s3://bucket/x"});
  ok(repo, {"config", "set", "remote.backup.region", "eu-west-1"});
  ok(repo, {"config", "set", "remote.backup.part_size", "5242880"});
  ok(repo, {"config", "set", "--local", "remote.backup.secret_access_key", "SECRET"});
  std::string want = kHeader +
                     "format = 1\n"
                     "\n"
                     "# Remotes: ask #ml-infra before changing them\n"
                     "[remote.origin]\n"
                     "url   =   \"/srv/v2\"   # the team NAS\n"
                     "\n"
                     "[remote.backup]\n"
                     "url = \"s3://bucket/x\"\n"
                     "region = \"eu-west-1\"\n"
                     "part_size = 5242880\n"
                     "\n"
                     "[core]\n"
                     "remote = \"origin\"\n";
  CHECK(read_file(cfg) == want);
  CHECK(git({"show", ":.mvc/config.toml"}, repo.root).out == want);
  CHECK(read_file(local) ==
        "# mvc local configuration (never committed: credentials go here)\n"
        "\n"
        "[remote.backup]\n"
        "secret_access_key = \"SECRET\"\n");

  CHECK(ok(repo, {"config", "get", "core.remote"}).out == "origin\n");
  CHECK(ok(repo, {"config", "get", "remote.backup.part_size"}).out == "5242880\n");
  CHECK(ok(repo, {"config", "get", "remote.backup.secret_access_key"}).out == "SECRET\n");
  CHECK(ok(repo, {"config", "list"}).out ==
        "format=1\nremote.origin.url=/srv/v2\nremote.backup.url=s3://bucket/x\nremote.backup.region=eu-west-1\n"
        "remote.backup.part_size=5242880\ncore.remote=origin\nremote.backup.secret_access_key=********\n");
  CHECK(ok(repo, {"config", "list", "--shared", "-v"}).out.find("core.remote=origin\t(config.toml)\n") !=
        std::string::npos);
  auto j = nlohmann::json::parse(ok(repo, {"config", "list", "--local", "--json"}).out);
  CHECK(
      j ==
      nlohmann::json::parse(
          R"({"keys": [{"key": "remote.backup.secret_access_key", "value": "********", "file": "config.local.toml"}]})"));
  // A key config.local.toml overrides: list shows the local value.
  ok(repo, {"config", "set", "--local", "remote.backup.region", "us-east-2"});
  CHECK(ok(repo, {"config", "get", "remote.backup.region"}).out == "us-east-2\n");
  CHECK(ok(repo, {"config", "get", "--shared", "remote.backup.region"}).out == "eu-west-1\n");

  // Unset: the line goes, the rest stays.
  ok(repo, {"config", "unset", "remote.backup.part_size"});
  std::string after_unset = want;
  after_unset.erase(after_unset.find("part_size = 5242880\n"), 20);
  CHECK(read_file(cfg) == after_unset);
  // remote remove: the remote's table from both files, the default with it; comments stay.
  ok(repo, {"remote", "remove", "backup"});
  CHECK(read_file(cfg) == kHeader +
                              "format = 1\n"
                              "\n"
                              "# Remotes: ask #ml-infra before changing them\n"
                              "[remote.origin]\n"
                              "url   =   \"/srv/v2\"   # the team NAS\n"
                              "\n"
                              "[core]\n"
                              "remote = \"origin\"\n");
  CHECK(read_file(local) == "# mvc local configuration (never committed: credentials go here)\n");
  ok(repo, {"remote", "remove", "origin"});
  CHECK(read_file(cfg) == kHeader + "format = 1\n");
  CHECK_FALSE(fs::exists(repo / ".mvc/config.toml.lock"));
  CHECK_FALSE(fs::exists(repo / ".mvc/config.local.toml.lock"));
}

TEST_CASE("config: bad input is refused naming the key, and changes nothing", "[cli][config][bad-input]") {
  Repo repo;
  ok(repo, {"remote", "add", "origin", "/srv/models", "--default"});
  ok(repo, {"remote", "add", "s3", "s3://bucket/p"});
  fs::path cfg = repo / ".mvc/config.toml";
  auto before = snapshot(repo / ".mvc");
  struct Case {
    std::vector<std::string> args;
    int code;
    std::string msg;
  } cases[] = {
      {{"set", "remote.origin.urll", "/x"},
       2,
       "unknown key 'remote.origin.urll' for this folder remote (valid keys: url); did you mean remote.origin.url?"},
      {{"set", "core.remot", "origin"}, 2, "unknown key 'core.remot'; did you mean core.remote?"},
      {{"get", "remote.s3.regoin"}, 2, "for this s3 remote (valid keys: url, endpoint_url, region"},
      {{"set", "remote.s3.regoin", "x"}, 2, "did you mean remote.s3.region?"},
      {{"set", "remote.origin.region", "x"}, 2, "unknown key 'remote.origin.region' for this folder remote"},
      {{"set", "remote.s3.part_size", "big"},
       2,
       "config: remote.s3.part_size: must be a positive integer (bytes), not 'big'"},
      {{"set", "remote.s3.part_size", "0"}, 2, "remote.s3.part_size: must be a positive integer"},
      {{"set", "remote.s3.addressing", "diagonal"},
       2,
       "remote.s3.addressing: must be \"path\" or \"virtual\", not \"diagonal\""},
      {{"set", "remote.s3.secret_access_key", "x"},
       2,
       "remote.s3.secret_access_key is a credential: it belongs in .mvc/config.local.toml"},
      {{"set", "core.remote", "nope"}, 2, "config: core.remote: no remote named 'nope'"},
      {{"set", "remote.origin.url", "ftp://x"}, 2, "remote.origin.url: unsupported URL 'ftp://x'"},
      {{"set", "remote.bad name.url", "/x"}, 2, "invalid remote name 'bad name'"},
      {{"set", "remote.neu.region", "x"}, 2, "would make the configuration invalid"},
      {{"set", "format", "2"}, 2, "'format' is the repository's format"},
      {{"unset", "cache.dir"}, 2, "config: cache.dir is not set in config.toml"},
      {{"unset", "--local", "core.remote"},
       2,
       "config: core.remote is not set in config.local.toml (it is set in config.toml)"},
      {{"unset", "remote.origin.url"},
       2,
       "remote.origin.url: a remote is its url; remove the remote with 'mvc remote remove origin'"},
      {{"get", "cache.dir"}, 1, "mvc: cache.dir is not set"},
      {{"list", "--local", "--shared"}, 2, "--local and --shared exclude each other"},
  };
  for (auto& c : cases) {
    std::vector<std::string> args{"config"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    RunResult r = run_mvc(args, repo.root);
    INFO(c.args[0] << " " << c.args[1] << ": " << r.err);
    CHECK(r.exit_code == c.code);
    CHECK(r.out.empty());
    CHECK(r.err.find(c.msg) != std::string::npos);
    CHECK(snapshot(repo / ".mvc") == before);
  }
  // The reader refuses an unknown key of [core] too (the same table), with the nearest.
  std::string good = read_file(cfg);
  write_file(cfg, good + "\n[cache]\ndri = \"/x\"\n");
  RunResult r = run_mvc({"status"}, repo.root);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("config.toml: [cache]: unknown key 'dri' (did you mean dir?) (valid keys: dir)") !=
        std::string::npos);
  // A file the editor cannot change safely: refused naming the line; the reader is fine with it.
  write_file(cfg, good + "\n[notes]\ntext = \"\"\"\nmulti-line\n\"\"\"\n");
  before = snapshot(repo / ".mvc");
  CHECK(run_mvc({"status"}, repo.root).exit_code == 0);
  r = run_mvc({"config", "set", "core.remote", "s3"}, repo.root);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("config.toml:" + std::to_string(std::count(good.begin(), good.end(), '\n') + 3) +
                   ": cannot edit this file safely (a value that does not end on its line); edit it by hand") !=
        std::string::npos);
  r = run_mvc({"remote", "add", "other", "/srv/o"}, repo.root);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("cannot edit this file safely") != std::string::npos);
  CHECK(snapshot(repo / ".mvc") == before);
}

TEST_CASE("verbosity: -q and -v are taken by every command, before or after its name", "[cli][verbosity]") {
  Repo repo;
  repo.put_model("mlp_v1");
  fs::path store = repo.tmp.path() / "store";
  ok(repo, {"-q", "remote", "add", "origin", store.string(), "--default"});
  RunResult r = run_mvc({"commit", "models/clf", "-m", "v1", "-q"}, repo.root);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.empty());
  CHECK(r.err.empty());
  std::string sha = pointer_sha(repo / "models/clf/weights.safetensors.mvc");
  // Data is not silenced: status, log, config get.
  CHECK(ok(repo, {"-q", "config", "get", "core.remote"}).out == "origin\n");
  CHECK(!ok(repo, {"log", "-q"}).out.empty());
  // -v: which object went where.
  r = ok(repo, {"push", "-v"});
  CHECK(r.out.find("pushed 1 object") != std::string::npos);
  CHECK(r.out.find("  sent " + sha + " (models/clf/weights.safetensors.mvc") != std::string::npos);
  CHECK(ok(repo, {"push", "--quiet"}).out.empty());
  repo.put_model("mlp_v2");
  r = ok(repo, {"--verbose", "commit", "models/clf", "-m", "v2"});
  std::string sha2 = pointer_sha(repo / "models/clf/weights.safetensors.mvc");
  CHECK(r.out.find("    " + sha2 + ": object ") != std::string::npos);
  CHECK(r.out.find("/objects/sha256/" + sha2.substr(0, 2) + "/" + sha2.substr(2) + "\n") != std::string::npos);
  // Both: a usage error.
  r = run_mvc({"-q", "status", "-v"}, repo.root);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("-q/--quiet and -v/--verbose exclude each other") != std::string::npos);
  // Every command's help lists them.
  for (std::string cmd : {"init", "commit", "log", "status", "checkout", "push", "fetch", "pull", "gc", "fsck", "run",
                          "verify", "diff", "alias", "remote", "config"}) {
    r = run_mvc({cmd, "--help"}, repo.root);
    INFO(cmd);
    CHECK(r.out.find("-q,--quiet") != std::string::npos);
    CHECK(r.out.find("-v,--verbose") != std::string::npos);
  }
}
