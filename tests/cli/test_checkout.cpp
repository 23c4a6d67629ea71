// mvc checkout in its three forms; integrity, missing objects, symlinks, local changes.
#include <sys/stat.h>

#include <chrono>
#include <thread>

#include "cli/cli_support.h"
#include "util/fs.h"

using namespace mvc::test;

namespace {

/// v1 committed and tagged, v2 committed on top: the work tree holds v2.
struct TwoVersions : Repo {
  std::string sha1, sha2;
  TwoVersions() {
    put_model("mlp_v1");
    REQUIRE(run_mvc({"commit", "models/clf", "-m", "v1", "--tag", "clf-v1"}, root).exit_code == 0);
    sha1 = pointer_sha(root / "models/clf/weights.safetensors.mvc");
    put_model("mlp_v2");
    REQUIRE(run_mvc({"commit", "models/clf", "-m", "v2"}, root).exit_code == 0);
    sha2 = pointer_sha(root / "models/clf/weights.safetensors.mvc");
  }
  fs::path weights() const { return root / "models/clf/weights.safetensors"; }
};

void make_writable(const fs::path& p) { fs::permissions(p, fs::perms::owner_write, fs::perm_options::add); }

}  // namespace

TEST_CASE("checkout REV -- PATH restores files and weights byte for byte and loads the model", "[cli][checkout]") {
  TwoVersions repo;
  RunResult r = run_mvc({"checkout", "clf-v1", "--", "models/clf"}, repo.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(repo.weights()) == read_file(fixture_dir() / "mlp_v1/weights.safetensors"));
  CHECK(pointer_sha(repo / "models/clf/weights.safetensors.mvc") == repo.sha1);
  CHECK(r.out.find("rebuilt and loaded strictly (241 parameters)") != std::string::npos);
  // As `git checkout REV -- PATH`: HEAD stays, the index holds v1's pointer.
  CHECK(git({"rev-parse", "--abbrev-ref", "HEAD"}, repo.root).out == "main\n");
  CHECK(git({"diff", "--cached", "--name-only"}, repo.root).out == "models/clf/weights.safetensors.mvc\n");
  CHECK(git({"diff", "--name-only"}, repo.root).out == "");
  // Back to v2 by the pointer-less form after resetting the pointer.
  git({"checkout", "HEAD", "--", "models/clf"}, repo.root);
  r = run_mvc({"checkout", "--no-load"}, repo.root);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(repo.weights()) == read_file(fixture_dir() / "mlp_v2/weights.safetensors"));
  CHECK(r.out.find("rebuilt") == std::string::npos);
}

TEST_CASE("checkout REV moves HEAD like git checkout and restores the weights", "[cli][checkout]") {
  TwoVersions repo;
  RunResult r = run_mvc({"checkout", "clf-v1"}, repo.root);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(git({"rev-parse", "HEAD"}, repo.root).out == git({"rev-parse", "clf-v1^{commit}"}, repo.root).out);
  CHECK(read_file(repo.weights()) == read_file(fixture_dir() / "mlp_v1/weights.safetensors"));
  CHECK(git({"status", "--porcelain"}, repo.root).out == "");
  r = run_mvc({"checkout", "main", "--no-load"}, repo.root);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("Switched to branch 'main'") != std::string::npos);
  CHECK(git({"symbolic-ref", "HEAD"}, repo.root).out == "refs/heads/main\n");
  CHECK(read_file(repo.weights()) == read_file(fixture_dir() / "mlp_v2/weights.safetensors"));
}

TEST_CASE("a corrupt cache object: exit 4, named, work tree unchanged", "[cli][checkout][integrity]") {
  TwoVersions repo;
  fs::path obj = object_path(repo.root, repo.sha1);
  make_writable(obj);
  std::string bytes = read_file(obj);
  bytes[bytes.size() / 2] ^= 0x01;
  write_file(obj, bytes);
  auto before = snapshot(repo.root);
  std::string index_before = read_file(repo.root / ".git/index");
  RunResult r = run_mvc({"checkout", "clf-v1", "--", "models/clf"}, repo.root);
  CHECK(r.exit_code == 4);
  CHECK(r.err.rfind("mvc: error: object " + repo.sha1 + " is corrupt", 0) == 0);
  CHECK(snapshot(repo.root) == before);
  CHECK(read_file(repo.root / ".git/index") == index_before);
  r = run_mvc({"checkout", "clf-v1"}, repo.root);
  CHECK(r.exit_code == 4);
  CHECK(snapshot(repo.root) == before);
  CHECK(git({"rev-parse", "--abbrev-ref", "HEAD"}, repo.root).out == "main\n");
}

TEST_CASE("a failing checkout leaves the weights file itself untouched: inode, links, mode",
          "[cli][checkout][integrity]") {
  TwoVersions repo;
  fs::permissions(repo.weights(), fs::perms::owner_read | fs::perms::owner_write);
  fs::create_hard_link(repo.weights(), repo.tmp.path() / "elsewhere.safetensors");
  struct stat before {};
  REQUIRE(::lstat(repo.weights().c_str(), &before) == 0);
  // v1's object is corrupt, and so is the cache's copy of the work tree's v2 bytes: the work
  // tree holds the only good copy of v2, which must survive.
  for (const std::string& sha : {repo.sha1, repo.sha2}) {
    fs::path obj = object_path(repo.root, sha);
    make_writable(obj);
    std::string bytes = read_file(obj);
    bytes[0] ^= 0x01;
    write_file(obj, bytes);
  }
  for (std::vector<std::string> args : {std::vector<std::string>{"checkout", "clf-v1", "--no-load", "--", "models/clf"},
                                        std::vector<std::string>{"checkout", "clf-v1"}}) {
    RunResult r = run_mvc(args, repo.root);
    CHECK(r.exit_code == 4);
    CHECK(r.err.find("object " + repo.sha1 + " is corrupt") != std::string::npos);
    struct stat after {};
    REQUIRE(::lstat(repo.weights().c_str(), &after) == 0);
    CHECK(after.st_ino == before.st_ino);
    CHECK(after.st_nlink == 2);
    CHECK((after.st_mode & 07777) == 0600);
    CHECK(read_file(repo.weights()) == read_file(fixture_dir() / "mlp_v2/weights.safetensors"));
  }
}

namespace {

/// A model of one Linear(4096, 4096) in float32, every weight byte `fill`: 64 MiB + 16 KiB of
/// weights, above the size whose replacement checkout frees after it returns.
/// Returns the weights file's bytes.
std::string put_large_model(const fs::path& dir, char fill) {
  fs::create_directories(dir);
  write_file(dir / "arch.toml",
             "format = \"mvc.arch/1\"\nname = \"large\"\n[inputs]\nx = { shape = [\"batch\", 4096] }\n"
             "[[layers]]\nname = \"fc\"\ntype = \"Linear\"\nin_features = 4096\nout_features = 4096\n");
  const std::uint64_t nw = 4096ull * 4096 * 4, nb = 4096ull * 4;
  std::string header = R"({"fc.bias":{"dtype":"F32","shape":[4096],"data_offsets":[0,)" + std::to_string(nb) +
                       R"(]},"fc.weight":{"dtype":"F32","shape":[4096,4096],"data_offsets":[)" + std::to_string(nb) +
                       "," + std::to_string(nb + nw) + "]}}";
  while (header.size() % 8) header += ' ';
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  bytes += header;
  bytes.append(nb + nw, fill);
  write_file(dir / "weights.safetensors", bytes);
  return bytes;
}

}  // namespace

TEST_CASE("replacing large weights: swapped in atomically, the old file freed after checkout returns",
          "[cli][checkout][large]") {
  Repo repo;
  const std::string v1 = put_large_model(repo / "models/big", '\x01');
  REQUIRE(run_mvc({"commit", "models/big", "-m", "v1", "--tag", "big-v1"}, repo.root).exit_code == 0);
  put_large_model(repo / "models/big", '\x02');
  REQUIRE(run_mvc({"commit", "models/big", "-m", "v2"}, repo.root).exit_code == 0);
  fs::path w = repo / "models/big/weights.safetensors";
  mvc::util::Fd old = mvc::util::open_read(w);  // the v2 file that checkout replaces
  RunResult r = run_mvc({"checkout", "big-v1", "--no-load", "--", "models/big"}, repo.root);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(w) == v1);
  CHECK(run_mvc({"status"}, repo.root).out == "models/big: pointer modified\n");
  // The replaced file's last link (moved to .mvc/tmp/replaced.*) is removed by a detached
  // process: it goes within seconds, and nothing is left in .mvc/tmp.
  struct stat st {};
  for (int i = 0; i < 2000 && ::fstat(old.get(), &st) == 0 && st.st_nlink > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CHECK(st.st_nlink == 0);
  std::vector<std::string> left;
  for (auto& e : fs::directory_iterator(repo / ".mvc/tmp")) left.push_back(e.path().filename().string());
  CHECK(left.empty());
}

TEST_CASE("checkout REV blocked by local changes names the files and changes nothing", "[cli][checkout]") {
  TwoVersions repo;
  write_file(repo / "notes.txt", "committed\n");
  git({"add", "notes.txt"}, repo.root);
  git({"commit", "-q", "-m", "notes"}, repo.root);
  write_file(repo / "notes.txt", "local edit\n");  // clf-v1 has no notes.txt: git would delete it
  auto before = snapshot(repo.root);
  RunResult r = run_mvc({"checkout", "clf-v1", "--no-load"}, repo.root);
  CHECK(r.exit_code == 1);
  CHECK(r.err ==
        "mvc: error: cannot check out 'clf-v1': local changes to notes.txt would be overwritten; commit or "
        "stash them first\n");
  CHECK(snapshot(repo.root) == before);
  CHECK(git({"rev-parse", "--abbrev-ref", "HEAD"}, repo.root).out == "main\n");
}

TEST_CASE("a missing cache object: exit 5, work tree unchanged", "[cli][checkout][integrity]") {
  TwoVersions repo;
  fs::path obj = object_path(repo.root, repo.sha1);
  make_writable(obj);
  fs::remove(obj);
  auto before = snapshot(repo.root);
  RunResult r = run_mvc({"checkout", "clf-v1", "--", "models/clf"}, repo.root);
  CHECK(r.exit_code == 5);
  CHECK(r.err.find("object " + repo.sha1 + " (models/clf/weights.safetensors.mvc) is not in the cache") !=
        std::string::npos);
  CHECK(snapshot(repo.root) == before);
}

TEST_CASE("a symlink at the weights path is replaced, its target untouched", "[cli][checkout][symlink]") {
  TwoVersions repo;
  fs::path outside = repo.tmp.path() / "outside.bin";
  write_file(outside, "precious bytes");
  fs::remove(repo.weights());
  fs::create_symlink(outside, repo.weights());
  RunResult r = run_mvc({"checkout", "clf-v1", "--", "models/clf"}, repo.root);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_FALSE(fs::is_symlink(repo.weights()));
  CHECK(read_file(repo.weights()) == read_file(fixture_dir() / "mlp_v1/weights.safetensors"));
  CHECK(read_file(outside) == "precious bytes");
}

TEST_CASE("uncommitted weights and local file changes are not overwritten without --force", "[cli][checkout]") {
  TwoVersions repo;
  std::string mine = read_file(fixture_dir() / "cnn/weights.safetensors");  // bytes that are nowhere in the cache
  write_file(repo.weights(), mine);
  RunResult r = run_mvc({"checkout", "clf-v1", "--", "models/clf"}, repo.root);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("would be lost") != std::string::npos);
  CHECK(read_file(repo.weights()) == mine);
  r = run_mvc({"checkout", "--no-load"}, repo.root);
  CHECK(r.exit_code == 1);
  CHECK(read_file(repo.weights()) == mine);

  fs::copy_file(fixture_dir() / "mlp_v2/weights.safetensors", repo.weights(), fs::copy_options::overwrite_existing);
  write_file(repo / "models/clf/hparams.toml", read_file(repo / "models/clf/hparams.toml") + "# edited\n");
  r = run_mvc({"checkout", "clf-v1", "--", "models/clf"}, repo.root);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("models/clf/hparams.toml: local changes would be overwritten") != std::string::npos);
  r = run_mvc({"checkout", "clf-v1", "--force", "--", "models/clf"}, repo.root);
  CHECK(r.exit_code == 0);
  CHECK(read_file(repo / "models/clf/hparams.toml").find("# edited") == std::string::npos);
}

TEST_CASE("commands work from a subdirectory and with non-ASCII model directory names", "[cli][paths]") {
  Repo repo;
  const std::string dir = "modèles/分类器 v1";
  repo.put_model("mlp_v1", dir);
  fs::create_directories(repo / "src/deep");
  RunResult r = run_mvc({"commit", "../../" + dir, "-m", "ünïcode", "--tag", "u1"}, repo / "src/deep");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  repo.put_model("mlp_v2", dir);
  REQUIRE(run_mvc({"commit", dir, "-m", "two"}, repo.root).exit_code == 0);
  CHECK(run_mvc({"status"}, repo / "src").out == dir + ": clean\n");
  RunResult log = run_mvc({"log", "../" + dir}, repo / "src");
  CHECK(log.out.find(dir + "  (2 versions)") != std::string::npos);
  r = run_mvc({"checkout", "u1", "--no-load", "--", "."}, repo / dir);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(repo / dir / "weights.safetensors") == read_file(fixture_dir() / "mlp_v1/weights.safetensors"));
  CHECK(run_mvc({"show", "u1:" + dir}, repo / "src").exit_code == 0);
  CHECK(git({"fsck"}, repo.root).exit_code == 0);
}

TEST_CASE("checkout usage errors exit 2", "[cli][usage]") {
  TwoVersions repo;
  CHECK(run_mvc({"checkout", "a", "b"}, repo.root).exit_code == 2);
  CHECK(run_mvc({"nonsense"}, repo.root).exit_code == 2);
  CHECK(run_mvc({"commit", "models/clf"}, repo.root).exit_code == 2);  // no -m
  RunResult r = run_mvc({"checkout", "no-such-rev"}, repo.root);
  CHECK(r.exit_code == 2);  // an unknown revision is a usage error (docs/conventions.md)
  CHECK(r.err.find("unknown revision 'no-such-rev'") != std::string::npos);
}
