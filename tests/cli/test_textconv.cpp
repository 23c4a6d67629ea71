// The textconv driver of pointer files (issue 15 item 3): git diff / git log -p / git show print
// a pointer as its summary and one line per tensor, so git's line diff names the tensors that
// changed.
#include <regex>
#include <sstream>

#include "cli/remote_support.h"
#include "util/sha256.h"

using namespace mvc::test;

namespace {

const std::string kPointer = "models/clf/weights.safetensors.mvc";

}  // namespace

TEST_CASE("git log -p shows the summary and exactly the tensor lines that changed", "[cli][textconv]") {
  Repo repo;
  REQUIRE(run_mvc({"install-hooks"}, repo.root).exit_code == 0);
  repo.put_model("mlp_v1");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v1"}, repo.root).exit_code == 0);
  const std::string sha1 = pointer_sha(repo / kPointer);
  // One float of linear2.weight (the last tensor of the data buffer) changes.
  write_weights_variant("mlp_v1", repo / "models/clf/weights.safetensors", 4);
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v2"}, repo.root).exit_code == 0);
  const std::string sha2 = pointer_sha(repo / kPointer);

  RunResult log = git({"log", "-p", "-1", "--format=", "--", kPointer}, repo.root);
  INFO(log.out);
  CHECK(log.out.find("-sha256: " + sha1 + "\n+sha256: " + sha2 + "\n") != std::string::npos);
  std::regex changed("([-+])tensor (\\S+) \\S+ \\[[0-9, ]*\\] sha256:[0-9a-f]{12}");
  std::vector<std::string> lines;
  std::istringstream in(log.out);
  for (std::string line; std::getline(in, line);)
    if (std::smatch m; std::regex_match(line, m, changed)) lines.push_back(m[1].str() + m[2].str());
  CHECK(lines == std::vector<std::string>{"-linear2.weight", "+linear2.weight"});
  // The other tensors are context: unchanged lines.
  CHECK(log.out.find("\n tensor linear1.weight F32 [20, 10] sha256:") != std::string::npos);
  CHECK(log.out.find("\n tensor linear1.bias F32 [20] sha256:") != std::string::npos);

  // git show of the commit shows the same lines; of the pointer blob (with --textconv, as git
  // wants for a blob) the same text as mvc textconv itself; digests of the real bytes.
  RunResult commit = git({"show", "--format=", "HEAD"}, repo.root);
  CHECK(commit.out.find("\n+tensor linear2.weight F32 [1, 20] sha256:") != std::string::npos);
  RunResult show = git({"show", "--textconv", "HEAD:" + kPointer}, repo.root);
  RunResult tc = run_mvc({"textconv", kPointer}, repo.root);
  REQUIRE(tc.exit_code == 0);
  CHECK(show.out == tc.out);
  CHECK(tc.out.find("path: weights.safetensors\nsize: ") != std::string::npos);
  CHECK(tc.out.find("parameters: 241\n") != std::string::npos);
  const std::string data = read_file(repo / "models/clf/weights.safetensors");
  const std::string bias2 = mvc::util::sha256_hex(std::string_view(data).substr(data.size() - 4 * 21, 4));
  CHECK(tc.out.find("tensor linear2.bias F32 [1] sha256:" + bias2.substr(0, 12) + "\n") != std::string::npos);

  // Without the object in the cache: the summary and a line saying why there are no tensors.
  fs::path obj = object_path(repo.root, sha2);
  fs::permissions(obj, fs::perms::owner_write, fs::perm_options::add);
  fs::remove(obj);
  tc = run_mvc({"textconv", kPointer}, repo.root);
  CHECK(tc.exit_code == 0);
  CHECK(tc.out.find("(object not in the cache: no tensor lines; 'mvc fetch' brings it)\n") != std::string::npos);
  CHECK(tc.out.find("tensor linear") == std::string::npos);
}

TEST_CASE("mvc textconv: a missing file is exit 2, a file that is no pointer is printed as it is", "[cli][textconv]") {
  Repo repo;
  RunResult r = run_mvc({"textconv", "nothing.mvc"}, repo.root);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "mvc: error: nothing.mvc: no such file (mvc textconv prints a pointer file)\n");
  write_file(repo / "odd.mvc", "<<<<<<< ours\nnot a pointer\n");
  r = run_mvc({"textconv", "odd.mvc"}, repo.root);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "<<<<<<< ours\nnot a pointer\n");
}
