// Every file mvc creates honours the process umask as git's do (issue 11 item 9): work-tree
// files, config files, the stat cache, git's index 0666 & ~umask; objects in the cache and on
// a folder remote 0444 & ~umask (read-only).
#include <sys/stat.h>

#include "cli/remote_support.h"

using namespace mvc::test;

namespace {

/// Runs mvc under `sh -c 'umask MASK; exec mvc ARGS'`.
RunResult run_mvc_umask(const std::string& mask, const std::vector<std::string>& args, const fs::path& cwd) {
  std::vector<std::string> argv{"sh", "-c", "umask " + mask + " && exec \"$0\" \"$@\"", mvc_binary().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  RunResult r = run(argv, cwd);
  INFO("mvc " << (args.empty() ? "" : args.front()) << " under umask " << mask << ": " << r.out << r.err);
  REQUIRE(r.exit_code == 0);
  return r;
}

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

/// `mode_of(p) == want`, naming the file when it fails.
void check_mode(const fs::path& p, unsigned want) {
  INFO(p.string() << " has mode 0" << std::oct << mode_of(p) << ", want 0" << want);
  CHECK(mode_of(p) == want);
}

}  // namespace

TEST_CASE("files mvc creates follow the umask: 0666 & ~umask, objects 0444 & ~umask", "[cli][umask]") {
  struct Case {
    std::string mask;
    unsigned file, object;
  };
  const Case c = GENERATE(Case{"077", 0600, 0400}, Case{"022", 0644, 0444}, Case{"002", 0664, 0444});
  INFO("umask " << c.mask);
  TempDir tmp;
  fs::path root = tmp / "repo";
  git_init(root);

  // init: the config files.
  run_mvc_umask(c.mask, {"init"}, root);
  check_mode(root / ".mvc/config.toml", c.file);
  check_mode(root / ".mvc/.gitignore", c.file);
  run_mvc_umask(c.mask, {"remote", "add", "origin", (tmp / "remote").string(), "--default"}, root);
  check_mode(root / ".mvc/config.toml", c.file);

  // install-hooks: executable as git's own hooks are, 0777 & ~umask.
  run_mvc_umask(c.mask, {"install-hooks"}, root);
  check_mode(root / ".git/hooks/pre-commit", c.mask == "077" ? 0700u : c.mask == "022" ? 0755u : 0775u);
  run_mvc_umask(c.mask, {"uninstall-hooks"}, root);

  // commit: pointer, .gitignore, object, stat cache, git's index.
  copy_fixture_model("mlp_v1", root / "models/clf");
  run_mvc_umask(c.mask, {"commit", "models/clf", "-m", "v1", "--tag", "v1"}, root);
  std::string sha1 = pointer_sha(root / "models/clf/weights.safetensors.mvc");
  check_mode(root / "models/clf/weights.safetensors.mvc", c.file);
  check_mode(root / "models/clf/.gitignore", c.file);
  check_mode(object_path(root, sha1), c.object);
  check_mode(root / ".mvc/state/stat-cache", c.file);
  check_mode(root / ".git/index", c.file);

  // push: the folder remote's object.
  run_mvc_umask(c.mask, {"push"}, root);
  check_mode(tmp / "remote/objects/sha256" / sha1.substr(0, 2) / sha1.substr(2), c.object);

  copy_fixture_model("mlp_v2", root / "models/clf");
  run_mvc_umask(c.mask, {"commit", "models/clf", "-m", "v2"}, root);

  // checkout REV: the weights mvc writes; the pointer libgit2 writes (git's rule for a
  // non-executable file is 0666 & ~umask, libgit2's 0644 & ~umask: they agree for 077 and 022).
  fs::remove(root / ".mvc/state/stat-cache");
  run_mvc_umask(c.mask, {"checkout", "v1", "--no-load"}, root);
  CHECK(pointer_sha(root / "models/clf/weights.safetensors.mvc") == sha1);
  check_mode(root / "models/clf/weights.safetensors", c.file);
  check_mode(root / ".mvc/state/stat-cache", c.file);
  if (c.mask != "002") check_mode(root / "models/clf/weights.safetensors.mvc", c.file);

  // checkout REV -- PATH, and checkout restoring deleted weights.
  run_mvc_umask(c.mask, {"checkout", "main", "--no-load", "--", "models/clf"}, root);
  check_mode(root / "models/clf/weights.safetensors", c.file);
  fs::remove(root / "models/clf/weights.safetensors");
  run_mvc_umask(c.mask, {"checkout", "--no-load"}, root);
  check_mode(root / "models/clf/weights.safetensors", c.file);

  // import: the safetensors file it writes.
  run_mvc_umask(c.mask, {"import", (fixture_dir() / "ckpt/pt_wrapped/weights.pt").string(), "--to", "a.safetensors"},
                tmp.path());
  check_mode(tmp / "a.safetensors", c.file);
}
