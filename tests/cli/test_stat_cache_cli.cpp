// The stat cache through the real binary: commit records the weights' hash in
// .mvc/state/stat-cache (git-ignored), status trusts it only while the stat data is unchanged.
#include <fcntl.h>
#include <sys/stat.h>

#include <chrono>
#include <thread>

#include "cli/cli_support.h"

using namespace mvc::test;
using nlohmann::json;

namespace {

std::string status_changes(const fs::path& root) {
  RunResult r = run_mvc({"status", "--json"}, root);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return json::parse(r.out)["models"][0]["changes"].dump();
}

}  // namespace

TEST_CASE("commit records the weights in the stat cache, a same-size change with the same mtime is still seen",
          "[cli][stat_cache]") {
  Repo repo;
  repo.put_model("mlp_v1");
  fs::path w = repo / "models/clf/weights.safetensors";
  std::this_thread::sleep_for(std::chrono::milliseconds(30));  // leave the tick the file was written in
  RunResult r = run_mvc({"commit", "models/clf", "-m", "v1"}, repo.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  std::string sha = pointer_sha(repo / "models/clf/weights.safetensors.mvc");

  fs::path cache = repo / ".mvc/state/stat-cache";
  REQUIRE(fs::exists(cache));
  std::string text = read_file(cache);
  CHECK(text.rfind("mvc-stat-cache 1\n", 0) == 0);
  CHECK(text.find(sha) != std::string::npos);
  CHECK(text.find(" models/clf/weights.safetensors\n") != std::string::npos);
  // Local state: ignored by git, never committed.
  CHECK(git({"check-ignore", "-q", ".mvc/state/stat-cache"}, repo.root, false).exit_code == 0);
  CHECK(git({"status", "--porcelain"}, repo.root).out.find("state") == std::string::npos);

  CHECK(status_changes(repo.root) == "[]");
  RunResult again = run_mvc({"commit", "models/clf", "-m", "no-op"}, repo.root);
  CHECK(again.exit_code == 0);
  CHECK(again.out.find("nothing to commit") != std::string::npos);

  // Flip the last data byte: same size; then put the mtime back exactly as it was.
  struct stat before {};
  REQUIRE(::lstat(w.c_str(), &before) == 0);
  std::string bytes = read_file(w);
  bytes.back() = static_cast<char>(bytes.back() ^ 0x5a);
  write_file(w, bytes);
  struct timespec ts[2] = {before.st_atim, before.st_mtim};
  REQUIRE(::utimensat(AT_FDCWD, w.c_str(), ts, 0) == 0);
  struct stat after {};
  REQUIRE(::lstat(w.c_str(), &after) == 0);
  REQUIRE(after.st_size == before.st_size);
  REQUIRE(after.st_mtim.tv_sec == before.st_mtim.tv_sec);
  REQUIRE(after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);

  CHECK(status_changes(repo.root) == R"(["weights modified"])");
  RunResult v2 = run_mvc({"commit", "models/clf", "-m", "v2"}, repo.root);
  INFO(v2.out << v2.err);
  REQUIRE(v2.exit_code == 0);
  std::string sha2 = pointer_sha(repo / "models/clf/weights.safetensors.mvc");
  CHECK(sha2 != sha);
  CHECK(sha2 == run({"sha256sum", w.string()}).out.substr(0, 64));
  CHECK(status_changes(repo.root) == "[]");
}

TEST_CASE("a corrupt stat cache is ignored and rewritten", "[cli][stat_cache]") {
  Repo repo;
  repo.put_model("mlp_v1");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v1"}, repo.root).exit_code == 0);
  std::string sha = pointer_sha(repo / "models/clf/weights.safetensors.mvc");
  fs::create_directories(repo / ".mvc/state");
  write_file(repo / ".mvc/state/stat-cache",
             "mvc-stat-cache 1\n" + std::string(64, 'f') + " 1 2 3 4 5 6 models/clf/weights.safetensors\ngarbage\n");
  CHECK(status_changes(repo.root) == "[]");
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  CHECK(status_changes(repo.root) == "[]");
  CHECK(read_file(repo / ".mvc/state/stat-cache").find(sha) != std::string::npos);
}
