// A remote's configuration keys belong to its backend (store/remote_registry.h): an unknown
// key is refused naming the key and the backend's valid keys, bad values and misplaced
// credentials too, and the refusal changes nothing.
#include "cli/cli_support.h"

using namespace mvc::test;

TEST_CASE("remote keys are checked by the remote's backend", "[cli][remote][bad-input]") {
  Repo repo;
  REQUIRE(run_mvc({"remote", "add", "origin", "s3://bucket/team", "--default"}, repo.root).exit_code == 0);
  REQUIRE(run_mvc({"remote", "add", "backup", "/srv/mvc"}, repo.root).exit_code == 0);
  std::string committed = read_file(repo / ".mvc/config.toml");
  fs::path local = repo / ".mvc/config.local.toml";
  struct Case {
    std::string toml;
    std::string msg;
  } cases[] = {
      {"[remote.origin]\nregoin = \"eu-west-1\"\n",
       "config.local.toml: [remote.origin]: unknown key 'regoin' for this s3 remote (valid keys: url, endpoint_url, "
       "region, "
       "profile, addressing, access_key_id, secret_access_key, session_token, multipart_threshold, part_size)"},
      {"[remote.backup]\nregion = \"eu-west-1\"\n",
       "config.local.toml: [remote.backup]: unknown key 'region' for this folder remote (valid keys: url)"},
      {"[remote.origin]\npart_size = 0\n", "[remote.origin]: 'part_size' must be a positive integer (bytes)"},
      {"[remote.origin]\nmultipart_threshold = \"big\"\n", "'multipart_threshold' must be a positive integer (bytes)"},
      {"[remote.origin]\naddressing = \"diagonal\"\n", "addressing must be \"path\" or \"virtual\", not \"diagonal\""},
      {"[remote.origin]\nregion = 3\n", "[remote.origin]: 'region' must be a string"},
      // The url from config.toml picks the backend for keys in config.local.toml, and the other way round.
      {"[remote.neu]\npart_size = 5242880\n", "config.toml: [remote.neu] has no url"},
  };
  for (auto& c : cases) {
    write_file(local, c.toml);
    RunResult r = run_mvc({"push"}, repo.root);
    INFO(c.toml << r.err);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find(c.msg) != std::string::npos);
    CHECK(read_file(repo / ".mvc/config.toml") == committed);
  }
  // Keys for a remote whose url config.local.toml sets.
  write_file(local, "[remote.neu]\nurl = \"/srv/neu\"\nendpoint_url = \"http://127.0.0.1:1\"\n");
  RunResult r = run_mvc({"remote", "list"}, repo.root);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("unknown key 'endpoint_url' for this folder remote (valid keys: url)") != std::string::npos);
  // Valid keys: listed (the endpoint is shown by `remote list`).
  write_file(
      local,
      "[remote.origin]\nendpoint_url = \"http://127.0.0.1:9000\"\nregion = \"eu-west-1\"\npart_size = 5242880\n");
  r = run_mvc({"remote", "list"}, repo.root);
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "backup\t/srv/mvc\norigin\ts3://bucket/team\tendpoint=http://127.0.0.1:9000\t(default)\n");
}

TEST_CASE("remote add: each backend checks its URL", "[cli][remote][bad-input]") {
  Repo repo;
  std::string before = read_file(repo / ".mvc/config.toml");
  struct Case {
    std::string url, msg;
  } cases[] = {
      {"s3:///prefix", "unsupported URL 's3:///prefix' (no bucket: s3://BUCKET[/PREFIX])"},
      {"file://", "unsupported URL 'file://' (no path: file://PATH)"},
      {"ftp://host/x", "unsupported URL 'ftp://host/x' (a path, file://PATH or s3://BUCKET[/PREFIX])"},
  };
  for (auto& c : cases) {
    RunResult r = run_mvc({"remote", "add", "x", c.url}, repo.root);
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(c.msg) != std::string::npos);
    CHECK(read_file(repo / ".mvc/config.toml") == before);
  }
  // A URL written into config.toml by hand is refused when the remote is used.
  write_file(repo / ".mvc/config.toml", before + "[remote.odd]\nurl = \"ftp://host/x\"\n");
  RunResult r = run_mvc({"push", "odd"}, repo.root);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("remote odd: unsupported URL 'ftp://host/x' (a path, file://PATH or s3://BUCKET[/PREFIX])") !=
        std::string::npos);
}
