// mvc gc keeps what the work tree, the index, branches, tags, the stash and the reflogs
// reference (and young objects); mvc fsck finds corrupt and missing objects.
#include "cli/remote_support.h"
#include "util/sha256.h"

using namespace mvc::test;

namespace {

/// Commits a variant of mlp_v1's weights in models/clf and returns its object name.
std::string commit_variant(const Repo& repo, int k, const std::string& msg,
                           const std::vector<std::string>& extra = {}) {
  write_weights_variant("mlp_v1", repo / "models/clf/weights.safetensors", k);
  std::vector<std::string> args{"commit", "models/clf", "-m", msg};
  args.insert(args.end(), extra.begin(), extra.end());
  RunResult r = run_mvc(args, repo.root);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return pointer_sha(repo / "models/clf/weights.safetensors.mvc");
}

}  // namespace

TEST_CASE("gc keeps objects of a tag, the stash, the index, another branch and reflogs, deletes the rest",
          "[cli][gc]") {
  Repo repo;
  repo.put_model("mlp_v1");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v1"}, repo.root).exit_code == 0);
  std::string on_main = pointer_sha(repo / "models/clf/weights.safetensors.mvc");

  // Only on another branch.
  git({"checkout", "-q", "-b", "other"}, repo.root);
  std::string on_branch = commit_variant(repo, 1, "on other");
  git({"checkout", "-q", "main"}, repo.root);
  // Only by a tag: commit, tag, move main back.
  std::string on_tag = commit_variant(repo, 2, "tagged", {"--tag", "keep-me"});
  git({"reset", "-q", "--hard", "HEAD~1"}, repo.root);
  // Referenced by nothing but the reflog, then by nothing at all.
  std::string unreferenced = commit_variant(repo, 3, "dropped");
  git({"reset", "-q", "--hard", "HEAD~1"}, repo.root);

  RunResult r = run_mvc({"gc", "--grace", "0", "--dry-run"}, repo.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("would delete 0 objects") != std::string::npos);  // the reflog keeps it

  git({"reflog", "expire", "--expire=now", "--all"}, repo.root);
  // Only by a stash entry: a committed-then-uncommitted change, stashed.
  std::string in_stash = commit_variant(repo, 5, "to stash");
  git({"reset", "-q", "--soft", "HEAD~1"}, repo.root);
  git({"stash", "-q"}, repo.root);
  // Only by the index: staged, not committed; the work tree's pointer is put back to HEAD's.
  std::string in_index = commit_variant(repo, 6, "to unstage");
  git({"reset", "-q", "--soft", "HEAD~1"}, repo.root);
  git({"reflog", "expire", "--expire=now", "refs/heads/main"}, repo.root);
  git({"reflog", "expire", "--expire=now", "HEAD"}, repo.root);
  write_file(repo / "models/clf/weights.safetensors.mvc",
             git({"show", "HEAD:models/clf/weights.safetensors.mvc"}, repo.root).out);
  REQUIRE(git({"stash", "list"}, repo.root).out != "");
  REQUIRE(pointer_sha(repo / "models/clf/weights.safetensors.mvc") == on_main);

  std::vector<std::string> kept{on_main, on_branch, on_tag, in_stash, in_index};
  auto all_present = [&] {
    for (auto& k : kept)
      if (!fs::exists(object_path(repo.root, k))) return false;
    return true;
  };
  // Everything is younger than the default grace period of an hour: nothing goes.
  r = run_mvc({"gc"}, repo.root);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("gc: deleted 0 objects") != std::string::npos);
  CHECK(fs::exists(object_path(repo.root, unreferenced)));

  auto snap = snapshot(cache_dir(repo.root));
  r = run_mvc({"gc", "--grace", "0", "--dry-run"}, repo.root);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("would delete " + unreferenced + "\n") != std::string::npos);
  CHECK(r.out.find("would delete 1 object") != std::string::npos);
  CHECK(snapshot(cache_dir(repo.root)) == snap);  // --dry-run deletes nothing

  r = run_mvc({"gc", "--grace", "0"}, repo.root);
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("deleted " + unreferenced + "\n") != std::string::npos);
  CHECK(r.out.find("gc: deleted 1 object") != std::string::npos);
  CHECK_FALSE(fs::exists(object_path(repo.root, unreferenced)));
  CHECK(all_present());
  // What gc kept still restores: the stash and the index.
  r = run_mvc({"fsck"}, repo.root);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("fsck: 5 cache objects checked, 0 corrupt; 0 missing") != std::string::npos);
}

TEST_CASE("gc refuses a configured (possibly shared) cache without --force", "[cli][gc]") {
  Repo repo;
  fs::path cache = repo.tmp.path() / "team-cache";
  write_file(repo / ".mvc/config.local.toml", "[cache]\ndir = \"" + cache.string() + "\"\n");
  repo.put_model("mlp_v1");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v1"}, repo.root).exit_code == 0);
  std::string sha = pointer_sha(repo / "models/clf/weights.safetensors.mvc");
  CHECK(fs::exists(cache / "objects/sha256" / sha.substr(0, 2) / sha.substr(2)));
  RunResult r = run_mvc({"gc", "--grace", "0"}, repo.root);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("may be shared by other repositories") != std::string::npos);
  r = run_mvc({"gc", "--grace", "0", "--force"}, repo.root);
  CHECK(r.exit_code == 0);
  CHECK(fs::exists(cache / "objects/sha256" / sha.substr(0, 2) / sha.substr(2)));
}

TEST_CASE("gc removes replaced weights that an interrupted checkout left in .mvc/tmp", "[cli][gc]") {
  Repo repo;
  repo.put_model("mlp_v1");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v1"}, repo.root).exit_code == 0);
  fs::create_directories(repo / ".mvc/tmp");
  write_file(repo / ".mvc/tmp/replaced.0123456789ab", "old weights");
  write_file(repo / ".mvc/tmp/other", "not ours");
  RunResult r = run_mvc({"gc", "--dry-run"}, repo.root);
  CHECK(r.out.find(", 1 stale temp file to remove") != std::string::npos);
  CHECK(fs::exists(repo / ".mvc/tmp/replaced.0123456789ab"));
  r = run_mvc({"gc"}, repo.root);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find(", 1 stale temp file removed") != std::string::npos);
  CHECK_FALSE(fs::exists(repo / ".mvc/tmp/replaced.0123456789ab"));
  CHECK(fs::exists(repo / ".mvc/tmp/other"));
}

TEST_CASE("gc: a bad --grace is a usage error", "[cli][gc][bad-input]") {
  Repo repo;
  RunResult r = run_mvc({"gc", "--grace", "soon"}, repo.root);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("invalid duration 'soon'") != std::string::npos);
}

TEST_CASE("fsck quarantines a corrupt object (exit 4) and lists pointers whose object is missing (exit 5)",
          "[cli][fsck]") {
  Repo repo;
  repo.put_model("mlp_v1");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v1"}, repo.root).exit_code == 0);
  std::string sha1 = pointer_sha(repo / "models/clf/weights.safetensors.mvc");
  repo.put_model("mlp_v2");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v2"}, repo.root).exit_code == 0);
  std::string sha2 = pointer_sha(repo / "models/clf/weights.safetensors.mvc");
  fs::path obj = object_path(repo.root, sha1);
  fs::permissions(obj, fs::perms::owner_write, fs::perm_options::add);
  std::string bytes = read_file(obj);
  bytes[10] ^= 1;
  write_file(obj, bytes);

  RunResult r = run_mvc({"fsck"}, repo.root);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 4);
  CHECK(r.out.find("corrupt: object " + sha1 + " hashes to " + mvc::util::sha256_hex(bytes) + "; moved to " +
                   (cache_dir(repo.root) / "quarantine").string() + "/" + sha1 + ".") != std::string::npos);
  CHECK(r.out.find("missing: object " + sha1 + " (models/clf/weights.safetensors.mvc") != std::string::npos);
  CHECK(r.out.find(") is not in the cache ('mvc fetch' brings it from a remote)\n") != std::string::npos);
  CHECK_FALSE(fs::exists(obj));
  CHECK(fs::exists(object_path(repo.root, sha2)));
  // Second run: nothing corrupt any more, the v1 object is missing.
  r = run_mvc({"fsck"}, repo.root);
  CHECK(r.exit_code == 5);
  CHECK(r.out.find("fsck: 1 cache objects checked, 0 corrupt; 1 missing") != std::string::npos);
}
