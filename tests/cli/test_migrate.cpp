// mvc migrate: real Git LFS repositories (git-lfs, Debian's package, with its filter installed
// in the repository) and DVC repositories laid out byte for byte as DVC 3 and DVC 2 write them
// (DVC is not packaged by Debian), checked with the git CLI afterwards.
#include <sys/stat.h>

#include <regex>

#include "cli/cli_support.h"

using namespace mvc::test;

namespace {

const std::string kWeights = "models/clf/weights.safetensors";

bool have_git_lfs() { return run({"git", "lfs", "version"}, {}).exit_code == 0; }

std::string first_word(const std::string& s) { return s.substr(0, s.find_first_of(" \t\n")); }

/// The MD5 of a file by coreutils' md5sum (not mvc's code).
std::string md5sum(const fs::path& f) { return first_word(run({"md5sum", f.string()}, {}).out); }
std::string sha256sum(const fs::path& f) { return first_word(run({"sha256sum", f.string()}, {}).out); }

/// The repository's state that a failed or dry migrate must leave alone: the work tree, the
/// index, HEAD, git status.
struct State {
  std::map<std::string, std::string> files;
  std::string index, head, status;
  explicit State(const Repo& repo)
      : files(snapshot(repo.root)),
        index(read_file(repo / ".git/index")),
        head(repo.head()),
        status(git({"status", "--porcelain", "--ignored"}, repo.root).out) {}
  bool operator==(const State& o) const {
    return files == o.files && index == o.index && head == o.head && status == o.status;
  }
};

/// A model directory whose weights Git LFS tracks: `git lfs track "*.safetensors"`, the
/// weights committed through LFS's clean filter (the index holds the pointer, the object is in
/// .git/lfs/objects, the work tree the smudged bytes).
struct LfsRepo : Repo {
  std::string bytes, oid;
  /// `other_attributes`: .gitattributes has a line of its own before `git lfs track`'s.
  explicit LfsRepo(bool other_attributes = true) {
    REQUIRE(have_git_lfs());
    put_model("mlp_v1");
    bytes = read_file(root / kWeights);
    oid = sha256sum(root / kWeights);
    git({"lfs", "install", "--local"}, root);
    if (other_attributes) write_file(root / ".gitattributes", "*.txt text eol=lf\n");
    git({"lfs", "track", "*.safetensors"}, root);
    git({"add", ".gitattributes", "models/clf"}, root);
    git({"commit", "-q", "-m", "weights in LFS"}, root);
    REQUIRE(git({"show", "HEAD:" + kWeights}, root)
                .out.rfind("version https://git-lfs.github.com/spec/v1\noid sha256:" + oid, 0) == 0);
    REQUIRE(fs::is_regular_file(lfs_object()));
  }
  fs::path lfs_object() const { return root / ".git/lfs/objects" / oid.substr(0, 2) / oid.substr(2, 2) / oid; }
};

/// A model directory whose weights DVC tracks, as `dvc init` and `dvc add` leave it
/// (https://dvc.org/doc/user-guide/project-structure/dvc-files and .../internal-files): a
/// `.dvc` file `outs: - md5/size/hash/path` (DVC 3; DVC 2 writes no `hash`), the object in
/// `.dvc/cache/files/md5/ab/cdef...` (DVC 2: `.dvc/cache/ab/cdef...`), read-only, and
/// `/weights.safetensors` in the directory's .gitignore. arch.toml and hparams.toml are new,
/// written by the user for the migration. `symlink`: the cache type `symlink` (the work-tree
/// file links into the cache) instead of the default copy.
struct DvcRepo : Repo {
  std::string bytes, md5;
  fs::path cache_object;
  explicit DvcRepo(int dvc_version = 3, bool symlink = false) {
    put_model("mlp_v1");
    bytes = read_file(root / kWeights);
    md5 = md5sum(root / kWeights);
    write_file(root / ".dvc/config", symlink ? "[cache]\n    type = symlink\n" : "");
    write_file(root / ".dvc/.gitignore", "/config.local\n/tmp\n/cache\n");
    fs::path cache = root / ".dvc/cache";
    cache_object = dvc_version == 3 ? cache / "files/md5" / md5.substr(0, 2) / md5.substr(2)
                                    : cache / md5.substr(0, 2) / md5.substr(2);
    fs::create_directories(cache_object.parent_path());
    fs::copy_file(root / kWeights, cache_object);
    fs::permissions(cache_object, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
    if (symlink) {
      fs::remove(root / kWeights);
      fs::create_symlink(cache_object, root / kWeights);
    }
    write_file(root / (kWeights + ".dvc"), "outs:\n- md5: " + md5 + "\n  size: " + std::to_string(bytes.size()) +
                                               (dvc_version == 3 ? "\n  hash: md5" : "") +
                                               "\n  path: weights.safetensors\n");
    write_file(root / "models/clf/.gitignore", "/weights.safetensors\n");
    git({"add", ".dvc/config", ".dvc/.gitignore", kWeights + ".dvc", "models/clf/.gitignore"}, root);
    git({"commit", "-q", "-m", "weights in DVC"}, root);
  }
};

/// After a migration: one new commit, mvc's pointer at HEAD naming the weights' bytes, git and
/// mvc both clean, and mvc checkout restoring the bytes from mvc's cache.
void check_migrated(const Repo& repo, const std::string& bytes, int commits_before) {
  CHECK(repo.commit_count() == commits_before + 1);
  std::string pointer = git({"show", "HEAD:" + kWeights + ".mvc"}, repo.root).out;
  CHECK(pointer.find("sha256 = \"" + sha256sum(repo / kWeights) + "\"") != std::string::npos);
  CHECK(pointer.find("size = " + std::to_string(bytes.size())) != std::string::npos);
  CHECK(read_file(repo / kWeights) == bytes);
  CHECK(git({"ls-files", kWeights}, repo.root).out == "");  // the weights left git's index
  CHECK(git({"status", "--porcelain"}, repo.root).out == "");
  CHECK(run_mvc({"status"}, repo.root).out == "models/clf: clean\n");
  fs::remove(repo / kWeights);
  RunResult r = run_mvc({"checkout", "--no-load"}, repo.root);
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(read_file(repo / kWeights) == bytes);
  CHECK(run_mvc({"status"}, repo.root).out == "models/clf: clean\n");
}

}  // namespace

TEST_CASE("migrate: a Git LFS repository becomes an mvc version in one commit", "[cli][migrate]") {
  LfsRepo repo;
  int before = repo.commit_count();
  RunResult r = run_mvc({"migrate", "models/clf"}, repo.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("migrated models/clf from Git LFS (" + kWeights + ")") != std::string::npos);
  CHECK(r.out.find("sha256:" + repo.oid.substr(0, 8)) != std::string::npos);
  CHECK(r.out.find(".gitattributes: dropped the line '*.safetensors filter=lfs diff=lfs merge=lfs -text'") !=
        std::string::npos);
  // The commit: .gitattributes lost its LFS line only, the pointer replaced the LFS pointer.
  CHECK(git({"show", "HEAD:.gitattributes"}, repo.root).out == "*.txt text eol=lf\n");
  std::string changes = git({"show", "--name-status", "--format=%s", "HEAD"}, repo.root).out;
  CHECK(changes.find("Migrate models/clf from Git LFS to mvc") == 0);
  CHECK(changes.find("M\t.gitattributes") != std::string::npos);
  CHECK(changes.find("D\t" + kWeights + "\n") != std::string::npos);
  CHECK(changes.find("A\t" + kWeights + ".mvc") != std::string::npos);
  CHECK(changes.find("A\tmodels/clf/.gitignore") != std::string::npos);
  check_migrated(repo, repo.bytes, before);
  // git lfs agrees that it tracks nothing any more.
  CHECK(git({"lfs", "ls-files"}, repo.root).out == "");
}

TEST_CASE("migrate: an LFS clone without the smudged file takes the bytes from the LFS object store",
          "[cli][migrate]") {
  LfsRepo repo(false);
  // As after GIT_LFS_SKIP_SMUDGE=1: the work tree holds the pointer text.
  write_file(repo / kWeights, git({"show", "HEAD:" + kWeights}, repo.root).out);
  int before = repo.commit_count();
  RunResult r = run_mvc({"migrate", "models/clf", "-m", "to mvc"}, repo.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("from .git/lfs/objects/" + repo.oid.substr(0, 2) + "/" + repo.oid.substr(2, 2) + "/" + repo.oid +
                   " (copied into the work tree)") != std::string::npos);
  CHECK(git({"log", "-1", "--format=%s"}, repo.root).out == "to mvc\n");
  // .gitattributes held only git lfs track's line: it is gone with it.
  CHECK(r.out.find("removed .gitattributes (git rm)") != std::string::npos);
  CHECK(git({"ls-tree", "--name-only", "HEAD"}, repo.root).out.find(".gitattributes") == std::string::npos);
  check_migrated(repo, repo.bytes, before);
}

TEST_CASE("migrate: an LFS pattern other tracked files still use is kept", "[cli][migrate]") {
  LfsRepo repo;
  repo.put_model("mlp_v2", "models/other");
  git({"add", "models/other"}, repo.root);
  git({"commit", "-q", "-m", "another LFS file"}, repo.root);
  RunResult r = run_mvc({"migrate", "models/clf"}, repo.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find(".gitattributes: kept '*.safetensors filter=lfs diff=lfs merge=lfs -text': it also applies to 1 "
                   "other tracked file (models/other/weights.safetensors)") != std::string::npos);
  CHECK(git({"show", "HEAD:.gitattributes"}, repo.root).out ==
        "*.txt text eol=lf\n*.safetensors filter=lfs diff=lfs merge=lfs -text\n");
  CHECK(git({"lfs", "ls-files", "--name-only"}, repo.root).out == "models/other/weights.safetensors\n");
  CHECK(git({"status", "--porcelain"}, repo.root).out == "");
}

TEST_CASE("migrate: a DVC 3 repository becomes an mvc version in one commit", "[cli][migrate]") {
  DvcRepo repo(3);
  int before = repo.commit_count();
  RunResult r = run_mvc({"migrate", "models/clf"}, repo.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("migrated models/clf from DVC (" + kWeights + ".dvc)") != std::string::npos);
  CHECK(r.out.find(kWeights + ": md5:" + repo.md5.substr(0, 8) + ", 1.2 KiB, verified in the work tree\n") !=
        std::string::npos);
  CHECK(r.out.find("removed " + kWeights + ".dvc (git rm)") != std::string::npos);
  CHECK(r.out.find("models/clf/.gitignore: DVC's line '/weights.safetensors' became mvc's") != std::string::npos);
  std::string changes = git({"show", "--name-status", "--format=%s", "HEAD"}, repo.root).out;
  CHECK(changes.find("D\t" + kWeights + ".dvc") != std::string::npos);
  CHECK(changes.find("A\tmodels/clf/arch.toml") != std::string::npos);
  CHECK(changes.find("A\t" + kWeights + ".mvc") != std::string::npos);
  // DVC's .gitignore entry gave way to mvc's (one line ignores the weights, once).
  std::string ignore = git({"show", "HEAD:models/clf/.gitignore"}, repo.root).out;
  CHECK(std::regex_search(ignore, std::regex("^# mvc: .*\n/weights\\.safetensors\n$")));
  CHECK(!fs::exists(repo / (kWeights + ".dvc")));
  check_migrated(repo, repo.bytes, before);
  CHECK(fs::exists(repo.cache_object));  // DVC's cache is left to dvc gc
}

TEST_CASE("migrate: DVC 2's cache layout, with the work-tree file a symlink into the cache", "[cli][migrate]") {
  DvcRepo repo(2, true);
  REQUIRE(fs::is_symlink(repo / kWeights));
  int before = repo.commit_count();
  RunResult r = run_mvc({"migrate", "models/clf"}, repo.root, {{"LD_DEBUG", "libs"}});
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.find("libgit2") != std::string::npos);       // the probe sees libraries load at all
  CHECK(r.err.find("libmvc_torch") == std::string::npos);  // migrate is torch-free
  CHECK(r.out.find("from .dvc/cache/" + repo.md5.substr(0, 2) + "/" + repo.md5.substr(2) +
                   " (copied into the work tree)") != std::string::npos);
  CHECK(!fs::is_symlink(repo / kWeights));  // a file of its own, no longer DVC's
  check_migrated(repo, repo.bytes, before);
}

TEST_CASE("migrate --dry-run says what it would do and changes nothing", "[cli][migrate]") {
  for (bool lfs : {false, true}) {
    std::unique_ptr<Repo> repo;
    if (lfs)
      repo = std::make_unique<LfsRepo>();
    else
      repo = std::make_unique<DvcRepo>(3);
    State before(*repo);
    RunResult r = run_mvc({"migrate", "models/clf", "--dry-run"}, repo->root);
    INFO(r.out << r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find(lfs ? "would migrate models/clf from Git LFS" : "would migrate models/clf from DVC") == 0);
    CHECK(r.out.find(lfs ? "would drop the line '*.safetensors filter=lfs"
                         : "would remove " + kWeights + ".dvc (git rm)") != std::string::npos);
    CHECK(r.out.find("dry run: nothing changed\n") != std::string::npos);
    CHECK(State(*repo) == before);
  }
}

TEST_CASE("migrate: bytes in the DVC cache that do not match the .dvc file are refused (exit 4)", "[cli][migrate]") {
  DvcRepo repo(3);
  fs::remove(repo / kWeights);  // so that the cache is the source
  fs::permissions(repo.cache_object, fs::perms::owner_write, fs::perm_options::add);
  std::string corrupt = repo.bytes;
  corrupt[corrupt.size() - 1] ^= 1;
  write_file(repo.cache_object, corrupt);
  State before(repo);
  RunResult r = run_mvc({"migrate", "models/clf"}, repo.root);
  CHECK(r.exit_code == 4);
  CHECK(r.err.find("mvc: error: .dvc/cache/files/md5/" + repo.md5.substr(0, 2) + "/" + repo.md5.substr(2) +
                   ": corrupt: its bytes hash to md5:") == 0);
  CHECK(State(repo) == before);
}

TEST_CASE("migrate: a .dvc file whose md5 is not its bytes' is refused (exit 4)", "[cli][migrate]") {
  DvcRepo repo(3);
  fs::remove(repo / kWeights);
  // The .dvc names another md5, and DVC's cache holds the weights under that name.
  std::string wrong = std::string(32, '0');
  fs::path moved = repo / ".dvc/cache/files/md5/00" / wrong.substr(2);
  fs::create_directories(moved.parent_path());
  fs::copy_file(repo.cache_object, moved);
  write_file(repo / (kWeights + ".dvc"),
             std::regex_replace(read_file(repo / (kWeights + ".dvc")), std::regex(repo.md5), wrong));
  git({"commit", "-q", "-am", "wrong md5"}, repo.root);
  State before(repo);
  RunResult r = run_mvc({"migrate", "models/clf"}, repo.root);
  CHECK(r.exit_code == 4);
  CHECK(r.err.find(".dvc/cache/files/md5/00/" + wrong.substr(2) + ": corrupt: its bytes hash to md5:" + repo.md5 +
                   ", " + kWeights + ".dvc records md5:" + wrong) != std::string::npos);
  CHECK(State(repo) == before);
}

TEST_CASE("migrate: a .dvc file mvc cannot read names the file and line (exit 7)", "[cli][migrate]") {
  DvcRepo repo(3);
  write_file(repo / (kWeights + ".dvc"), "outs:\n- md5: not-an-md5\n  path: weights.safetensors\n");
  git({"commit", "-q", "-am", "bad .dvc"}, repo.root);
  State before(repo);
  RunResult r = run_mvc({"migrate", "models/clf"}, repo.root);
  CHECK(r.exit_code == 7);
  CHECK(r.err == "mvc: error: " + kWeights + ".dvc:2: md5 'not-an-md5' is not 32 lowercase hexadecimal digits\n");
  CHECK(State(repo) == before);
  write_file(repo / (kWeights + ".dvc"), "outs: [{md5: abc, path: weights.safetensors}]\n");
  r = run_mvc({"migrate", "models/clf"}, repo.root);
  CHECK(r.exit_code == 7);
  CHECK(r.err == "mvc: error: " + kWeights + ".dvc:1: flow-style YAML ([...], {...}) is not supported here\n");
}

TEST_CASE("migrate: weights in no cache are missing (exit 5), naming where mvc looked", "[cli][migrate]") {
  SECTION("DVC") {
    DvcRepo repo(3);
    fs::remove(repo / kWeights);
    fs::remove(repo.cache_object);
    State before(repo);
    RunResult r = run_mvc({"migrate", "models/clf"}, repo.root);
    CHECK(r.exit_code == 5);
    CHECK(r.err == "mvc: error: " + kWeights + " (md5:" + repo.md5 +
                       "): not in the DVC cache (looked in .dvc/cache/files/md5/" + repo.md5.substr(0, 2) + "/" +
                       repo.md5.substr(2) + ", .dvc/cache/" + repo.md5.substr(0, 2) + "/" + repo.md5.substr(2) +
                       ") and the work tree holds no copy; fetch it with dvc pull first\n");
    CHECK(State(repo) == before);
  }
  SECTION("Git LFS") {
    LfsRepo repo;
    write_file(repo / kWeights, git({"show", "HEAD:" + kWeights}, repo.root).out);
    fs::remove(repo.lfs_object());
    State before(repo);
    RunResult r = run_mvc({"migrate", "models/clf"}, repo.root);
    CHECK(r.exit_code == 5);
    CHECK(r.err.find("mvc: error: " + kWeights + " (sha256:" + repo.oid +
                     "): not in the Git LFS object store (looked in .git/lfs/objects/" + repo.oid.substr(0, 2) + "/" +
                     repo.oid.substr(2, 2) + "/" + repo.oid +
                     ") and the work tree holds only the LFS pointer; fetch it with git lfs pull first\n") == 0);
    CHECK(State(repo) == before);
  }
}

TEST_CASE("migrate: a directory without tracking, or without arch.toml, is refused (exit 2)", "[cli][migrate]") {
  Repo repo;
  repo.put_model("mlp_v1");
  RunResult r = run_mvc({"migrate", "models/clf"}, repo.root);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "mvc: error: models/clf: no .dvc file or Git LFS pointer tracks a weights file in it\n");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v1"}, repo.root).exit_code == 0);
  r = run_mvc({"migrate", "models/clf"}, repo.root);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("(its weights are already an mvc version: " + kWeights + ".mvc)") != std::string::npos);

  DvcRepo dvc(3);
  fs::remove(dvc / "models/clf/arch.toml");
  State before(dvc);
  r = run_mvc({"migrate", "models/clf"}, dvc.root);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "mvc: error: models/clf: not a model directory (no arch.toml)\n");
  CHECK(State(dvc) == before);
}

TEST_CASE("migrate: local changes in the way are refused (exit 1) and nothing changes", "[cli][migrate]") {
  SECTION("weights modified since dvc add") {
    DvcRepo repo(3);
    write_file(repo / kWeights, repo.bytes + "x");
    State before(repo);
    RunResult r = run_mvc({"migrate", "models/clf"}, repo.root);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("mvc: error: " + kWeights + ": local changes: it is not what DVC tracks (") == 0);
    CHECK(State(repo) == before);
  }
  SECTION("the .dvc file edited") {
    DvcRepo repo(3);
    write_file(repo / (kWeights + ".dvc"), read_file(repo / (kWeights + ".dvc")) + "# edited\n");
    State before(repo);
    RunResult r = run_mvc({"migrate", "models/clf"}, repo.root);
    CHECK(r.exit_code == 1);
    CHECK(r.err == "mvc: error: " + kWeights +
                       ".dvc: local changes (it differs from the index); commit or discard them first\n");
    CHECK(State(repo) == before);
  }
  SECTION("other staged changes") {
    LfsRepo repo;
    write_file(repo / "README.txt", "notes\n");
    git({"add", "README.txt"}, repo.root);
    State before(repo);
    RunResult r = run_mvc({"migrate", "models/clf"}, repo.root);
    CHECK(r.exit_code == 1);
    CHECK(r.err ==
          "mvc: error: staged changes (README.txt) would go into the migration commit; commit or unstage them first\n");
    CHECK(State(repo) == before);
  }
  SECTION("LFS weights modified in the work tree") {
    LfsRepo repo;
    write_file(repo / kWeights, repo.bytes + "x");
    State before(repo);
    RunResult r = run_mvc({"migrate", "models/clf"}, repo.root);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find(kWeights + ": local changes: it is not what Git LFS tracks") != std::string::npos);
    CHECK(State(repo) == before);
  }
}

TEST_CASE("migrate: weights that do not fit arch.toml are refused (exit 7) and nothing changes", "[cli][migrate]") {
  DvcRepo repo(3);
  fs::remove(repo / kWeights);  // taken from the cache: the check happens before it is written back
  write_file(repo / "models/clf/hparams.toml",
             std::regex_replace(read_file(repo / "models/clf/hparams.toml"), std::regex("hidden_size = [0-9]+"),
                                "hidden_size = 7"));
  State before(repo);
  RunResult r = run_mvc({"migrate", "models/clf"}, repo.root);
  CHECK(r.exit_code == 7);
  CHECK(r.err.find("does not fit") != std::string::npos);
  CHECK(State(repo) == before);
}

TEST_CASE("migrate: several tracked files need --weights, which migrates the one named", "[cli][migrate]") {
  LfsRepo repo;
  fs::copy_file(repo / kWeights, repo / "models/clf/extra.safetensors");
  git({"add", "models/clf/extra.safetensors"}, repo.root);
  git({"commit", "-q", "-m", "a second LFS file"}, repo.root);
  State before(repo);
  RunResult r = run_mvc({"migrate", "models/clf"}, repo.root);
  CHECK(r.exit_code == 2);
  CHECK(r.err ==
        "mvc: error: models/clf: several tracked files (models/clf/extra.safetensors (Git LFS: "
        "models/clf/extra.safetensors), " +
            kWeights + " (Git LFS: " + kWeights + ")); choose one with --weights FILE\n");
  CHECK(State(repo) == before);
  r = run_mvc({"migrate", "models/clf", "--weights", kWeights}, repo.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  // The other file stays in LFS, and so does the line it needs.
  CHECK(git({"lfs", "ls-files", "--name-only"}, repo.root).out == "models/clf/extra.safetensors\n");
  CHECK(git({"show", "HEAD:.gitattributes"}, repo.root).out.find("*.safetensors filter=lfs") != std::string::npos);
  CHECK(git({"show", "HEAD:" + kWeights + ".mvc"}, repo.root).out.find("path = \"weights.safetensors\"") !=
        std::string::npos);
  CHECK(git({"status", "--porcelain"}, repo.root).out == "");
}
