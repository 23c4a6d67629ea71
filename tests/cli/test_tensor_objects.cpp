// Per-tensor storage (docs/repository-format.md, "Object store", "Remote layout"): a safetensors
// weights file is stored as its header, its tensors (small ones packed) and a manifest, so that
// versions share unchanged tensors in the cache and on remotes; push and fetch move only what the
// other side lacks. The fixtures deep_v1 / deep_v2 are real PyTorch weights (tests/fixtures/generate.py):
// four Linear(512, 512) layers, v2 fine-tuning only `head` (fc1..fc3 bit for bit the same).
#include <sys/stat.h>

#include <sstream>

#include "cli/remote_support.h"
#include "util/sha256.h"

using namespace mvc::test;

namespace {

const std::uint64_t kFileSize = 4203112;                   // both versions' weights file
const std::uint64_t kHeadBytes = 512 * 4 + 512 * 512 * 4;  // head.bias + head.weight

/// Sizes of every file under `dir`, by path relative to it.
std::map<std::string, std::uint64_t> files_under(const fs::path& dir) {
  std::map<std::string, std::uint64_t> out;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_regular_file()) out[it->path().lexically_relative(dir).generic_string()] = it->file_size();
  return out;
}

std::uint64_t bytes_of(const std::map<std::string, std::uint64_t>& files) {
  std::uint64_t n = 0;
  for (auto& [p, s] : files) n += s;
  return n;
}

/// The segment object names of the manifest at `path`, in file order.
std::vector<std::string> segments_of(const fs::path& path) {
  std::vector<std::string> out;
  std::istringstream in(read_file(path));
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("seg ", 0) == 0) out.push_back(line.substr(4, 64));
  return out;
}

fs::path manifest_path(const fs::path& root, const std::string& sha) {
  return root / "manifests/sha256" / sha.substr(0, 2) / sha.substr(2);
}

/// A repository with models/deep committed as v1 (tag v1) and, when `two`, v2 (tag v2).
struct DeepRepo : Repo {
  std::string sha1, sha2;
  fs::path dir = root / "models/deep";
  explicit DeepRepo(bool two = true) {
    put_model("deep_v1", "models/deep");
    RunResult r = run_mvc({"commit", "models/deep", "-m", "v1", "--tag", "v1"}, root);
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    sha1 = pointer_sha(dir / "weights.safetensors.mvc");
    if (!two) return;
    fs::copy_file(fixture_dir() / "deep_v2/weights.safetensors", dir / "weights.safetensors",
                  fs::copy_options::overwrite_existing);
    r = run_mvc({"commit", "models/deep", "-m", "v2: head fine-tuned", "--tag", "v2"}, root);
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find("(stored as 9 objects, 1.0 MiB new)") != std::string::npos);  // only the new head written
    sha2 = pointer_sha(dir / "weights.safetensors.mvc");
    REQUIRE(sha1 != sha2);
  }
  fs::path cache() const { return cache_dir(root); }
};

void require_ok(const RunResult& r) {
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
}

}  // namespace

TEST_CASE(
    "tensor objects: two versions share their unchanged tensors in the cache, and checkout rebuilds each "
    "byte for byte",
    "[cli][tensor_objects]") {
  DeepRepo repo;
  // Stored as manifests, not whole files; the layout says so (an older mvc refuses it, exit 3).
  CHECK_FALSE(fs::exists(object_path(repo.root, repo.sha1)));
  CHECK_FALSE(fs::exists(object_path(repo.root, repo.sha2)));
  REQUIRE(fs::exists(manifest_path(repo.cache(), repo.sha1)));
  REQUIRE(fs::exists(manifest_path(repo.cache(), repo.sha2)));
  CHECK(read_file(repo.cache() / "layout") == "mvc-cache-layout 2\n");
  auto seg1 = segments_of(manifest_path(repo.cache(), repo.sha1));
  auto seg2 = segments_of(manifest_path(repo.cache(), repo.sha2));
  // The header, then fc1.bias, fc1.weight, ..., head.bias, head.weight: one segment each.
  REQUIRE(seg1.size() == 9);
  REQUIRE(seg2.size() == 9);
  for (std::size_t i = 0; i < 7; ++i) CHECK(seg1[i] == seg2[i]);  // the header and fc1..fc3
  CHECK(seg1[7] != seg2[7]);
  CHECK(seg1[8] != seg2[8]);
  // Every shared tensor is stored once: 11 objects, one version's bytes plus the new head.
  auto objects = files_under(repo.cache() / "objects");
  CHECK(objects.size() == 11);
  CHECK(bytes_of(objects) == kFileSize + kHeadBytes);
  // The fc2.weight segment holds exactly that tensor's bytes.
  std::string v1 = read_file(fixture_dir() / "deep_v1/weights.safetensors");
  CHECK(mvc::util::sha256_hex(read_file(object_path(repo.root, seg1[4]))) == seg1[4]);
  CHECK(read_file(object_path(repo.root, seg1[8])) == v1.substr(v1.size() - 512 * 512 * 4));

  // Rebuilt byte for byte, each version, and loaded by LibTorch.
  fs::remove(repo.dir / "weights.safetensors");
  require_ok(run_mvc({"checkout", "v1", "--", "models/deep"}, repo.root));
  CHECK(run({"cmp", (repo.dir / "weights.safetensors").string(),
             (fixture_dir() / "deep_v1/weights.safetensors").string()})
            .exit_code == 0);
  require_ok(run_mvc({"checkout", "--no-load", "v2", "--", "models/deep"}, repo.root));
  CHECK(run({"cmp", (repo.dir / "weights.safetensors").string(),
             (fixture_dir() / "deep_v2/weights.safetensors").string()})
            .exit_code == 0);
  RunResult r = run_mvc({"status"}, repo.root);
  INFO(r.out);
  CHECK(r.out.find("modified") == std::string::npos);
  CHECK(r.out.find("not in cache") == std::string::npos);
  // A version read in place (show, textconv) is rebuilt where it is read and the copy removed.
  r = run_mvc({"textconv", (repo.dir / "weights.safetensors.mvc").string()}, repo.root);
  require_ok(r);
  CHECK(r.out.find("tensor head.weight F32 [512, 512] sha256:" + seg2[8].substr(0, 12)) != std::string::npos);
  CHECK(files_under(repo.cache() / "tmp").empty());
  // fsck checks the manifests and every segment.
  r = run_mvc({"fsck"}, repo.root);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("fsck: 11 cache objects checked (and 2 manifests), 0 corrupt; 0 missing") != std::string::npos);
}

TEST_CASE(
    "tensor objects: push sends only the tensors the remote lacks, counts the bytes sent and skipped, and a "
    "clone fetches only what it lacks",
    "[cli][tensor_objects][remote]") {
  DeepRepo repo(/*two=*/false);
  fs::path remote = repo.tmp.path() / "remote";
  require_ok(run_mvc({"remote", "add", "origin", remote.string(), "--default"}, repo.root));
  RunResult r = run_mvc({"push"}, repo.root);
  require_ok(r);
  CHECK(r.out.find("pushed 1 object (4.0 MiB sent, 0 B already on the remote)") != std::string::npos);
  CHECK(files_under(remote / "objects").size() == 9);

  fs::copy_file(fixture_dir() / "deep_v2/weights.safetensors", repo.dir / "weights.safetensors",
                fs::copy_options::overwrite_existing);
  require_ok(run_mvc({"commit", "models/deep", "-m", "v2", "--tag", "v2"}, repo.root));
  std::string sha2 = pointer_sha(repo.dir / "weights.safetensors.mvc");
  r = run_mvc({"push", "-v"}, repo.root);
  require_ok(r);
  // head.bias and head.weight: 1.0 MiB sent; the header and fc1..fc3 (3.0 MiB) were there.
  CHECK(r.out.find("pushed 1 object (1.0 MiB sent, 3.0 MiB already on the remote)") != std::string::npos);
  auto objects = files_under(remote / "objects");
  CHECK(objects.size() == 11);
  CHECK(bytes_of(objects) == kFileSize + kHeadBytes);
  CHECK(fs::exists(manifest_path(remote, repo.sha1)));
  CHECK(fs::exists(manifest_path(remote, sha2)));
  CHECK(files_under(remote / "tmp").empty());
  // Nothing left to send: the remote's manifest vouches for its tensors.
  r = run_mvc({"push"}, repo.root);
  require_ok(r);
  CHECK(r.out.find("pushed 0 objects (0 B sent, 4.0 MiB already on the remote)") != std::string::npos);

  // A clone fetches v1, then v2 only needs the new head.
  fs::path b = repo.tmp.path() / "b";
  git_clone(repo.root, b);
  r = run_mvc({"fetch", "v1"}, b);
  require_ok(r);
  CHECK(r.out.find("fetched 1 object (4.0 MiB received, 0 B already in the cache)") != std::string::npos);
  r = run_mvc({"fetch", "v2"}, b);
  require_ok(r);
  CHECK(r.out.find("fetched 1 object (1.0 MiB received, 3.0 MiB already in the cache)") != std::string::npos);
  CHECK(bytes_of(files_under(cache_dir(b) / "objects")) == kFileSize + kHeadBytes);
  require_ok(run_mvc({"checkout", "--no-load"}, b));
  CHECK(run({"cmp", (b / "models/deep/weights.safetensors").string(),
             (fixture_dir() / "deep_v2/weights.safetensors").string()})
            .exit_code == 0);
}

TEST_CASE("tensor objects: an interrupted push leaves no manifest on the remote, and the next push completes it",
          "[cli][tensor_objects][remote][bad-input]") {
  DeepRepo repo(/*two=*/false);
  fs::path remote = repo.tmp.path() / "remote";
  require_ok(run_mvc({"remote", "add", "origin", remote.string(), "--default"}, repo.root));
  git({"commit", "-q", "-m", "remote"}, repo.root);
  // A file where the manifests' directory belongs: every tensor is sent, then the manifest fails.
  fs::create_directories(remote);
  write_file(remote / "manifests", "in the way\n");
  RunResult r = run_mvc({"push"}, repo.root);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 1);
  CHECK(files_under(remote / "objects").size() == 9);
  CHECK_FALSE(fs::is_directory(remote / "manifests"));
  // A clone finds no version on the remote (not a half one): missing, exit 5, nothing written.
  fs::path b = repo.tmp.path() / "b";
  git_clone(repo.root, b);
  r = run_mvc({"fetch"}, b);
  CHECK(r.exit_code == 5);
  CHECK(r.err.find(repo.sha1) != std::string::npos);
  CHECK_FALSE(fs::exists(manifest_path(cache_dir(b), repo.sha1)));
  // The next push sends only the manifest: its tensors are there.
  fs::remove(remote / "manifests");
  r = run_mvc({"push"}, repo.root);
  require_ok(r);
  CHECK(r.out.find("pushed 1 object (0 B sent, 4.0 MiB already on the remote)") != std::string::npos);
  require_ok(run_mvc({"pull"}, b));
  CHECK(run({"cmp", (b / "models/deep/weights.safetensors").string(),
             (fixture_dir() / "deep_v1/weights.safetensors").string()})
            .exit_code == 0);
}

TEST_CASE("tensor objects: a cache of whole-file objects (layout 1) still checks out and pushes",
          "[cli][tensor_objects][compat]") {
  DeepRepo repo(/*two=*/false);
  // Rewrite the cache as an mvc before tensor objects left it: the weights as one object.
  fs::remove_all(repo.cache() / "objects");
  fs::remove_all(repo.cache() / "manifests");
  write_file(repo.cache() / "layout", "mvc-cache-layout 1\n");
  fs::create_directories(object_path(repo.root, repo.sha1).parent_path());
  fs::copy_file(fixture_dir() / "deep_v1/weights.safetensors", object_path(repo.root, repo.sha1));
  fs::remove(repo.dir / "weights.safetensors");
  require_ok(run_mvc({"checkout", "--no-load"}, repo.root));
  CHECK(run({"cmp", (repo.dir / "weights.safetensors").string(),
             (fixture_dir() / "deep_v1/weights.safetensors").string()})
            .exit_code == 0);
  fs::path remote = repo.tmp.path() / "remote";
  require_ok(run_mvc({"remote", "add", "origin", remote.string(), "--default"}, repo.root));
  RunResult r = run_mvc({"push"}, repo.root);
  require_ok(r);
  CHECK(r.out.find("pushed 1 object (4.0 MiB sent, 0 B already on the remote)") != std::string::npos);
  CHECK(fs::exists(remote / "objects/sha256" / repo.sha1.substr(0, 2) / repo.sha1.substr(2)));
  CHECK(read_file(repo.cache() / "layout") == "mvc-cache-layout 1\n");  // nothing new was written
  require_ok(run_mvc({"fsck"}, repo.root));
}

TEST_CASE("tensor objects: gc keeps every tensor a live manifest names and deletes the rest",
          "[cli][tensor_objects][gc]") {
  DeepRepo repo;
  auto seg1 = segments_of(manifest_path(repo.cache(), repo.sha1));
  auto seg2 = segments_of(manifest_path(repo.cache(), repo.sha2));
  RunResult r = run_mvc({"gc", "--grace", "0"}, repo.root);
  require_ok(r);
  CHECK(files_under(repo.cache() / "objects").size() == 11);
  // v2 referenced by nothing any more: its manifest and its own head go, v1's tensors stay.
  git({"tag", "-d", "v2"}, repo.root);
  git({"reset", "-q", "--hard", "v1"}, repo.root);
  git({"reflog", "expire", "--expire=now", "--all"}, repo.root);
  r = run_mvc({"gc", "--grace", "0"}, repo.root);
  require_ok(r);
  CHECK_FALSE(fs::exists(manifest_path(repo.cache(), repo.sha2)));
  CHECK_FALSE(fs::exists(object_path(repo.root, seg2[7])));
  CHECK_FALSE(fs::exists(object_path(repo.root, seg2[8])));
  for (const auto& s : seg1) CHECK(fs::exists(object_path(repo.root, s)));
  CHECK(files_under(repo.cache() / "objects").size() == 9);
  fs::remove(repo.dir / "weights.safetensors");
  require_ok(run_mvc({"checkout", "--no-load"}, repo.root));
  CHECK(run({"cmp", (repo.dir / "weights.safetensors").string(),
             (fixture_dir() / "deep_v1/weights.safetensors").string()})
            .exit_code == 0);
  // A damaged manifest stops gc before it deletes anything (its tensors cannot be told from garbage).
  fs::path mp = manifest_path(repo.cache(), repo.sha1);
  std::string text = read_file(mp);
  ::chmod(mp.c_str(), 0644);
  write_file(mp, text.substr(0, text.size() / 2));
  write_file(repo.cache() / "objects/sha256/00/unreferenced", "x");  // not a 64-hex name: never touched
  r = run_mvc({"gc", "--grace", "0"}, repo.root);
  CHECK(r.exit_code == 4);
  CHECK(r.err.find("manifest " + repo.sha1) != std::string::npos);
  CHECK(files_under(repo.cache() / "objects").size() == 10);
}

TEST_CASE("tensor objects: a corrupt tensor object is exit 4 and a missing one exit 5, each naming the tensor",
          "[cli][tensor_objects][bad-input]") {
  DeepRepo repo(/*two=*/false);
  auto seg = segments_of(manifest_path(repo.cache(), repo.sha1));
  REQUIRE(seg.size() == 9);
  fs::remove(repo.dir / "weights.safetensors");
  auto before = snapshot(repo.root / "models");

  // fc2.weight (segment 5) corrupt: one byte changed.
  fs::path bad = object_path(repo.root, seg[4]);
  std::string bytes = read_file(bad);
  bytes[1000] ^= 1;
  ::chmod(bad.c_str(), 0644);
  write_file(bad, bytes);
  RunResult r = run_mvc({"checkout", "--no-load"}, repo.root);
  INFO(r.err);
  CHECK(r.exit_code == 4);
  CHECK(r.err.find("object " + repo.sha1 + " is corrupt: tensor 'fc2.weight' (object " + seg[4] + ")") !=
        std::string::npos);
  CHECK(snapshot(repo.root / "models") == before);  // nothing written
  // fsck moves it to quarantine (exit 4); then it is missing.
  r = run_mvc({"fsck"}, repo.root);
  CHECK(r.exit_code == 4);
  CHECK(r.out.find("corrupt: object " + seg[4]) != std::string::npos);
  CHECK_FALSE(fs::exists(bad));
  r = run_mvc({"checkout", "--no-load"}, repo.root);
  INFO(r.err);
  CHECK(r.exit_code == 5);
  CHECK(r.err.find("object " + repo.sha1 + ": tensor 'fc2.weight' (object " + seg[4] +
                   ", 1048576 bytes) is not in "
                   "the cache") != std::string::npos);
  CHECK(snapshot(repo.root / "models") == before);
  r = run_mvc({"fsck"}, repo.root);
  CHECK(r.exit_code == 5);
  CHECK(r.out.find("its segment object " + seg[4] + " is missing") != std::string::npos);
  // A manifest written by a newer mvc: exit 3, nothing written.
  {
    fs::path mp = manifest_path(repo.cache(), repo.sha1);
    std::string text = read_file(mp);
    ::chmod(mp.c_str(), 0644);
    write_file(mp, "mvc-manifest 2\n" + text.substr(text.find('\n') + 1));
    r = run_mvc({"checkout", "--no-load"}, repo.root);
    CHECK(r.exit_code == 3);
    CHECK(r.err.find("manifest format 2 needs a newer mvc (this one reads format 1)") != std::string::npos);
    CHECK(snapshot(repo.root / "models") == before);
    write_file(mp, text);
  }
  // The header missing: named as such.
  fs::remove(object_path(repo.root, seg[0]));
  r = run_mvc({"checkout", "--no-load"}, repo.root);
  CHECK(r.exit_code == 5);
  CHECK(r.err.find("the header (object " + seg[0]) != std::string::npos);
}
