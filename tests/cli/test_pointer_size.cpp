// A pointer whose `size` is not its object's: the object is intact, the pointer is invalid.
// Every command that checks an object against a pointer says so (exit 7, naming the pointer
// file, the recorded size and the object's real size) instead of calling the object corrupt,
// and changes nothing; a truly corrupt object is still an integrity error (exit 4).
#include <sys/stat.h>

#include "cli/cli_support.h"
#include "mvc/error.h"
#include "mvc/repository.h"

using namespace mvc::test;

namespace {

bool contains(const std::string& s, const std::string& x) { return s.find(x) != std::string::npos; }

/// mlp_v1 committed, then its pointer's size changed by `delta` and committed with git.
struct WrongSizeRepo : Repo {
  std::string sha;
  std::uint64_t size = 0;
  std::string bad_commit;  // short id
  explicit WrongSizeRepo(std::int64_t delta = 100) {
    put_model("mlp_v1");
    RunResult r = run_mvc({"commit", "models/clf", "-m", "v1"}, root);
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    sha = pointer_sha(root / "models/clf/weights.safetensors.mvc");
    size = fs::file_size(root / "models/clf/weights.safetensors");
    std::string ptr = read_file(root / "models/clf/weights.safetensors.mvc");
    std::string line = "size = " + std::to_string(size) + "\n";
    auto at = ptr.find(line);
    REQUIRE(at != std::string::npos);
    ptr.replace(at, line.size(), "size = " + std::to_string(size + delta) + "\n");
    write_file(root / "models/clf/weights.safetensors.mvc", ptr);
    git({"commit", "--no-verify", "-qam", "wrong size"}, root);
    bad_commit = git({"rev-parse", "--short=7", "HEAD"}, root).out.substr(0, 7);
  }
  std::uint64_t recorded() const { return size + 100; }
  /// The message parts every command must show.
  void check_message(const std::string& err, const std::string& pointer_name) const {
    INFO(err);
    CHECK(contains(err, "mvc: error: " + pointer_name + ": wrong size: the pointer records " +
                            std::to_string(recorded()) + " bytes, but its object " + sha + " is " +
                            std::to_string(size) + " bytes and intact"));
    CHECK(err.find('\n') == err.size() - 1);
    CHECK_FALSE(contains(err, "corrupt"));
  }
};

}  // namespace

TEST_CASE("a pointer with a wrong size: checkout says the pointer is invalid (exit 7) and changes nothing",
          "[cli][checkout][pointer-size]") {
  WrongSizeRepo repo;
  fs::remove(repo / "models/clf/weights.safetensors");
  auto before = snapshot(repo.root);
  RunResult r = run_mvc({"checkout"}, repo.root);
  CHECK(r.exit_code == 7);
  repo.check_message(r.err, "models/clf/weights.safetensors.mvc");  // the work tree's pointer
  CHECK(snapshot(repo.root) == before);                             // no weights file, no temp file
  CHECK(fs::exists(object_path(repo.root, repo.sha)));              // the object is not quarantined
  CHECK_FALSE(fs::exists(cache_dir(repo.root) / "quarantine"));

  // The same object with the right size restores: the object was fine all along.
  git({"revert", "--no-edit", "HEAD"}, repo.root);
  r = run_mvc({"checkout", "--no-load"}, repo.root);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(fs::file_size(repo / "models/clf/weights.safetensors") == repo.size);
}

TEST_CASE("a pointer with a wrong size: status, fsck and the C++ API name the pointer", "[cli][pointer-size]") {
  WrongSizeRepo repo;
  // status: the weights are the object the pointer names; its size is what is wrong.
  RunResult r = run_mvc({"status"}, repo.root);
  INFO(r.out << r.err);
  CHECK(contains(r.out, "pointer size wrong"));
  CHECK_FALSE(contains(r.out, "weights modified"));

  // fsck: the object re-hashes right and stays; the pointer is reported, exit 7.
  r = run_mvc({"fsck"}, repo.root);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 7);
  CHECK(contains(r.out, "invalid: models/clf/weights.safetensors.mvc"));
  CHECK(contains(r.out, "wrong size: the pointer records " + std::to_string(repo.recorded()) +
                            " bytes, but its object " + repo.sha + " is " + std::to_string(repo.size) +
                            " bytes and intact"));
  CHECK(contains(r.out, "0 corrupt; 0 missing; 1 pointer(s) with a wrong size"));
  CHECK(contains(r.err, "mvc: error: fsck: 1 pointer(s) record a size that is not their object's"));
  CHECK(fs::exists(object_path(repo.root, repo.sha)));

  // Repository::source, what the C++ API loads from.
  auto repository = mvc::Repository::open(repo.root);
  try {
    repository.source("HEAD", "models/clf");
    FAIL("source() accepted a pointer with a wrong size");
  } catch (const mvc::Error& e) {
    CHECK(e.code() == mvc::Exit::model);
    repo.check_message(std::string("mvc: error: ") + e.what() + "\n",
                       "models/clf/weights.safetensors.mvc at " + repo.bad_commit);
  }
  CHECK(repository.source("HEAD~1", "models/clf").weights == object_path(repo.root, repo.sha));
}

TEST_CASE("a corrupt object is still an integrity error (exit 4), whatever its pointer's size",
          "[cli][checkout][pointer-size]") {
  for (bool wrong_size : {false, true}) {
    INFO((wrong_size ? "wrong size" : "right size"));
    Repo repo;
    repo.put_model("mlp_v1");
    RunResult r = run_mvc({"commit", "models/clf", "-m", "v1"}, repo.root);
    REQUIRE(r.exit_code == 0);
    std::string sha = pointer_sha(repo / "models/clf/weights.safetensors.mvc");
    fs::path obj = object_path(repo.root, sha);
    std::string bytes = read_file(obj);
    ::chmod(obj.c_str(), 0644);
    bytes[100] ^= 1;  // same size, other bytes
    if (wrong_size) bytes.resize(bytes.size() - 8);
    write_file(obj, bytes);
    fs::remove(repo / "models/clf/weights.safetensors");
    r = run_mvc({"checkout"}, repo.root);
    INFO(r.err);
    CHECK(r.exit_code == 4);
    CHECK(contains(r.err, "object " + sha + " is corrupt"));
    CHECK_FALSE(fs::exists(repo / "models/clf/weights.safetensors"));
  }
}
