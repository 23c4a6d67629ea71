// Progress on stderr: drawn only on a terminal (tested under a pseudo-terminal made by
// util-linux's `script`), never when stderr is a pipe or with -q; one summary line at the end.
#include <regex>

#include "cli/cli_support.h"
#include "util/progress.h"

using namespace mvc::test;

namespace {

std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

/// Runs mvc with `args` in `cwd` with its stdout and stderr on a pseudo-terminal; returns
/// what the terminal received.
RunResult run_on_tty(const std::vector<std::string>& args, const fs::path& cwd) {
  std::string cmd = quoted(mvc_binary().string());
  for (const auto& a : args) cmd += " " + quoted(a);
  return run({"script", "-qfec", cmd, "/dev/null"}, cwd, {{"COLUMNS", "200"}});
}

}  // namespace

TEST_CASE("progress: nothing on stderr when it is not a terminal", "[cli][progress]") {
  Repo repo;
  repo.put_model("mlp_v1");
  fs::path store = repo.tmp.path() / "store";
  REQUIRE(run_mvc({"remote", "add", "origin", store.string(), "--default"}, repo.root).exit_code == 0);
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"commit", "models/clf", "-m", "v1"}, {"push"}, {"fsck"}, {"gc"}, {"fetch"}}) {
    RunResult r = run_mvc(args, repo.root);
    INFO(args[0] << ": " << r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.err == "");
  }
  fs::remove(repo / "models/clf/weights.safetensors");
  RunResult r = run_mvc({"checkout", "--no-load"}, repo.root);
  CHECK(r.exit_code == 0);
  CHECK(r.err == "");
}

TEST_CASE("progress: on a terminal, bytes and percent redrawn in place, then one summary line", "[cli][progress]") {
  Repo repo;
  repo.put_model("mlp_v1");
  fs::path store = repo.tmp.path() / "store";
  REQUIRE(run_mvc({"remote", "add", "origin", store.string(), "--default"}, repo.root).exit_code == 0);
  std::uint64_t size = fs::file_size(repo / "models/clf/weights.safetensors");
  std::string shown_size = mvc::util::human_bytes(size);

  RunResult r = run_on_tty({"commit", "models/clf", "-m", "v1"}, repo.root);
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  // The line: percent and bytes of the total; the summary: bytes, time and rate, ended by a newline.
  CHECK(std::regex_search(r.out, std::regex("\rcommit: [0-9]+% [0-9.]+ (B|KiB|MiB) of " + shown_size)));
  CHECK(std::regex_search(
      r.out, std::regex("\rcommit: [0-9.]+ (B|KiB|MiB) in [0-9.]+ s( \\([0-9.]+ (B|KiB|MiB|GiB)/s\\))? *\r\n")));
  CHECK(r.out.find("[main ") != std::string::npos);  // stdout is there too

  r = run_on_tty({"push"}, repo.root);
  INFO(r.out);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("\rpush: ") != std::string::npos);
  // Bytes of the object as they go out (Remote::put_reporting), of the total.
  CHECK(std::regex_search(r.out, std::regex("\rpush: [0-9]+% [0-9.]+ (B|KiB|MiB) of " + shown_size)));
  CHECK(r.out.find("pushed 1 object") != std::string::npos);

  r = run_on_tty({"fsck"}, repo.root);
  INFO(r.out);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("\rfsck: ") != std::string::npos);

  fs::remove(repo / "models/clf/weights.safetensors");
  r = run_on_tty({"checkout", "--no-load"}, repo.root);
  INFO(r.out);
  CHECK(r.exit_code == 0);
  CHECK(std::regex_search(r.out, std::regex("\rcheckout: [0-9]+% .*, models/clf/weights.safetensors")));
  CHECK(std::regex_search(r.out, std::regex("\rcheckout: [0-9.]+ (B|KiB|MiB) in ")));

  // -q: no progress on the terminal either (and nothing else for commit).
  repo.put_model("mlp_v2");
  r = run_on_tty({"commit", "-q", "models/clf", "-m", "v2"}, repo.root);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "");
}

TEST_CASE(
    "progress: run, verify and checkout show a phase line while LibTorch rebuilds the model, silent off a terminal",
    "[cli][progress]") {
  ExampleRepo repo;
  RunResult r = run_on_tty({"verify", "v1", "models/lstm"}, repo.root);
  INFO(r.out);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("\rverify: rebuilding models/lstm in LibTorch, loading its weights, running the example | ") !=
        std::string::npos);
  CHECK(std::regex_search(r.out, std::regex("\rverify: ([0-9.]+ (B|KiB|MiB) in|done in) [0-9.]+ s.*\r\n")));
  CHECK(r.out.find("the example reproduces") != std::string::npos);

  r = run_on_tty({"run", "v1", "models/lstm", "--input", repo.input.string(), "--output", "out.safetensors"},
                 repo.root);
  INFO(r.out);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("\rrun: rebuilding models/lstm in LibTorch, loading its weights, running it | ") !=
        std::string::npos);

  // checkout's load check: the same phase line, after the weights are restored.
  fs::remove(repo.root / "models/lstm/weights.safetensors");
  r = run_on_tty({"checkout", "v1", "--", "models/lstm"}, repo.root);
  INFO(r.out);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("\rcheckout: rebuilding models/lstm in LibTorch, loading its weights | ") != std::string::npos);

  // -q on a terminal, and stderr not a terminal: nothing of it.
  r = run_on_tty({"verify", "-q", "v1", "models/lstm"}, repo.root);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "");
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"verify", "v1", "models/lstm"},
           {"run", "v1", "models/lstm", "--input", repo.input.string(), "--output", "out2.safetensors"}}) {
    r = run_mvc(args, repo.root);
    INFO(args[0] << ": " << r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.err == "");
  }
}
