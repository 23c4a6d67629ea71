// The S3 remote against s3rver on loopback (which checks SigV4 signatures), cross-checked with
// the standard client (boto3): two clones, multipart, interruption, corruption, addressing.
#include <signal.h>

#include <chrono>
#include <thread>

#include "cli/remote_support.h"
#include "util/sha256.h"

using namespace mvc::test;

namespace {

const char* kBucket = "mvc-test";

struct S3Repo {
  S3Server s3;
  Repo a;
  std::string sha1, sha2;
  explicit S3Repo(const std::string& extra = "") {
    REQUIRE(run_mvc({"remote", "add", "origin", std::string("s3://") + kBucket + "/team/models", "--default"}, a.root).exit_code == 0);
    configure_s3_remote(a.root, "origin", s3, extra);
    commit_two_versions(a, sha1, sha2);
  }
  static std::string key(const std::string& sha) {
    return "team/models/objects/sha256/" + sha.substr(0, 2) + "/" + sha.substr(2);
  }
  fs::path clone(const std::string& name) {
    fs::path b = a.tmp.path() / name;
    git_clone(a.root, b);
    configure_s3_remote(b, "origin", s3);
    return b;
  }
  std::string boto_list() { return s3_client({"list", s3.endpoint(), kBucket, "team/models/"}).out; }
};

std::string fixture_weights(const std::string& name) { return read_file(fixture_dir() / name / "weights.safetensors"); }

}  // namespace

TEST_CASE("S3 remote: A pushes, boto3 lists and reads the objects, B pulls byte-identical weights", "[cli][s3]") {
  S3Repo s;
  RunResult r = run_mvc({"push", "--all-commits"}, s.a.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("pushed 2 objects") != std::string::npos);
  CHECK(r.out.find("to origin (s3://mvc-test/team/models)") != std::string::npos);

  std::vector<std::string> keys{S3Repo::key(s.sha1), S3Repo::key(s.sha2)};
  std::sort(keys.begin(), keys.end());
  CHECK(s.boto_list() == keys[0] + "\n" + keys[1] + "\n");
  TempDir d;
  RunResult g = s3_client({"get", s.s3.endpoint(), kBucket, S3Repo::key(s.sha1), (d / "v1").string()});
  INFO(g.err);
  REQUIRE(g.exit_code == 0);
  CHECK(read_file(d / "v1") == fixture_weights("mlp_v1"));

  r = run_mvc({"push"}, s.a.root);
  CHECK(r.out.find("pushed 0 objects (0 B)") != std::string::npos);

  fs::path b = s.clone("b");
  r = run_mvc({"pull"}, b);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(b / "models/clf/weights.safetensors") == fixture_weights("mlp_v2"));
  r = run_mvc({"checkout", "--no-load", "clf-v1", "--", "models/clf"}, b);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(b / "models/clf/weights.safetensors") == fixture_weights("mlp_v1"));
  r = run_mvc({"fsck", "--remote", "origin"}, b);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("2 remote objects checked, 0 corrupt; 0 missing") != std::string::npos);
}

TEST_CASE("S3 remote: objects boto3 uploads are pulled by mvc", "[cli][s3]") {
  S3Repo s;
  for (auto& [sha, fx] : {std::pair{s.sha1, "mlp_v1"}, std::pair{s.sha2, "mlp_v2"}}) {
    RunResult p = s3_client({"put", s.s3.endpoint(), kBucket, S3Repo::key(sha), (fixture_dir() / fx / "weights.safetensors").string()});
    INFO(p.err);
    REQUIRE(p.exit_code == 0);
  }
  fs::path b = s.clone("b");
  RunResult r = run_mvc({"pull"}, b);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(b / "models/clf/weights.safetensors") == fixture_weights("mlp_v2"));
}

TEST_CASE("S3 remote: credentials from the environment; an unknown key is refused by the server", "[cli][s3]") {
  S3Repo s;
  // No credentials in config.local.toml: the AWS_* variables are used. (s3rver checks the
  // access key but not V4 signatures; those are checked against botocore in test_sigv4.cpp.)
  write_file(s.a / ".mvc/config.local.toml", "[remote.origin]\nendpoint_url = \"" + s.s3.endpoint() + "\"\n");
  RunResult r = run_mvc({"push"}, s.a.root, {{"AWS_ACCESS_KEY_ID", "NOPE"}, {"AWS_SECRET_ACCESS_KEY", "x"}});
  CHECK(r.exit_code == 1);
  INFO(r.err);
  CHECK(r.err.find(": HTTP 403") != std::string::npos);
  CHECK(s.boto_list() == "");
  r = run_mvc({"push"}, s.a.root, {{"AWS_ACCESS_KEY_ID", "", }, {"AWS_SECRET_ACCESS_KEY", ""}});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("no S3 credentials") != std::string::npos);
  r = run_mvc({"push"}, s.a.root, s.s3.env());
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(s.boto_list() == S3Repo::key(s.sha2) + "\n");
}

TEST_CASE("S3 remote: virtual-hosted addressing", "[cli][s3]") {
  S3Repo s;
  write_file(s.a / ".mvc/config.local.toml", "[remote.origin]\nendpoint_url = \"" + s.s3.vhost_endpoint() +
                                                 "\"\naddressing = \"virtual\"\naccess_key_id = \"S3RVER\"\n"
                                                 "secret_access_key = \"S3RVER\"\n");
  RunResult r = run_mvc({"push"}, s.a.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(s.boto_list() == S3Repo::key(s.sha2) + "\n");
}

TEST_CASE("S3 remote: large objects go by multipart upload and come back intact", "[cli][s3][multipart]") {
  // Threshold and part size lowered so a 12 MiB object takes 3 parts (S3's minimum part is 5 MiB).
  S3Repo s("multipart_threshold = 6291456\npart_size = 5242880\n");
  std::string bytes = write_big_model(s.a / "models/big", 12ull << 20, true);
  fs::path big = s.a / "models/big";
  RunResult r = run_mvc({"commit", "models/big", "-m", "big"}, s.a.root);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  std::string big_sha = pointer_sha(big / "weights.safetensors.mvc");
  // A corrupt cache object is hashed on the way out and its upload never completed.
  fs::path obj = object_path(s.a.root, big_sha);
  fs::permissions(obj, fs::perms::owner_write, fs::perm_options::add);
  std::string bad = bytes;
  bad[bad.size() - 5] ^= 0x11;
  write_file(obj, bad);
  r = run_mvc({"push"}, s.a.root);
  CHECK(r.exit_code == 4);
  CHECK(r.err.find("object " + big_sha + " is corrupt") != std::string::npos);
  CHECK(s.boto_list().find(S3Repo::key(big_sha)) == std::string::npos);
  write_file(obj, bytes);
  r = run_mvc({"push"}, s.a.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  // s3rver stores a completed multipart object's ETag as "<md5 of part md5s>-<parts>".
  TempDir d;
  RunResult g = s3_client({"get", s.s3.endpoint(), kBucket, S3Repo::key(big_sha), (d / "big").string()});
  REQUIRE(g.exit_code == 0);
  CHECK(read_file(d / "big") == bytes);
  fs::path b = s.clone("b");
  r = run_mvc({"pull"}, b);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(b / "models/big/weights.safetensors") == bytes);
}

TEST_CASE("S3 remote: a push cut off by a stopped server and killed leaves nothing; redone, B pulls", "[cli][s3][interrupt]") {
  S3Repo s;
  s.s3.pause();  // the server stops answering: the upload hangs half-way
  pid_t pid = spawn_mvc({"push"}, s.a.root, s.a.tmp.path() / "push.log");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ::kill(pid, SIGKILL);
  CHECK(wait_pid(pid) == 128 + SIGKILL);
  s.s3.resume();
  CHECK(s.boto_list() == "");  // nothing visible
  RunResult r = run_mvc({"push"}, s.a.root);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  fs::path b = s.clone("b");
  r = run_mvc({"pull"}, b);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(b / "models/clf/weights.safetensors") == fixture_weights("mlp_v2"));
}

TEST_CASE("S3 remote: a multipart push killed after its first part leaves nothing visible; redone, B pulls",
          "[cli][s3][interrupt][multipart]") {
  S3Repo s("multipart_threshold = 6291456\npart_size = 5242880\n");
  std::string bytes = write_big_model(s.a / "models/big", 16ull << 20, true);
  REQUIRE(run_mvc({"commit", "models/big", "-m", "big"}, s.a.root).exit_code == 0);
  pid_t pid = spawn_mvc({"push", "-j", "1"}, s.a.root, s.a.tmp.path() / "push.log");
  bool killed = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!killed && std::chrono::steady_clock::now() < deadline) {
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(s.s3.data_dir(), ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      if (it->path().filename() == "1.md5") {  // part 1 of the upload is stored
        ::kill(pid, SIGKILL);
        killed = true;
        break;
      }
    }
    if (!killed) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  int status = wait_pid(pid);
  INFO(read_file(s.a.tmp.path() / "push.log"));
  REQUIRE(killed);
  CHECK(status == 128 + SIGKILL);
  std::string listed = s.boto_list();
  CHECK(listed.find(S3Repo::key(pointer_sha(s.a / "models/big/weights.safetensors.mvc"))) == std::string::npos);
  RunResult r = run_mvc({"push"}, s.a.root);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  fs::path b = s.clone("b");
  r = run_mvc({"pull"}, b);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(b / "models/big/weights.safetensors") == bytes);
}

TEST_CASE("S3 remote: a corrupted object never enters the cache (exit 4)", "[cli][s3][integrity]") {
  S3Repo s;
  TempDir d;
  std::string bad = fixture_weights("mlp_v2");
  bad[bad.size() / 2] ^= 0x40;
  write_file(d / "bad", bad);
  REQUIRE(s3_client({"put", s.s3.endpoint(), kBucket, S3Repo::key(s.sha2), (d / "bad").string()}).exit_code == 0);
  fs::path b = s.clone("b");
  RunResult r = run_mvc({"pull"}, b);
  CHECK(r.exit_code == 4);
  CHECK(r.err.find("object " + s.sha2 + " from remote origin (s3://mvc-test/team/models) is corrupt") != std::string::npos);
  CHECK_FALSE(fs::exists(object_path(b, s.sha2)));
  CHECK_FALSE(fs::exists(b / "models/clf/weights.safetensors"));
}

// Opt-in (hidden from CTest; run `bin/mvc_tests "[multipart5g]"`): a 5 GiB object (a sparse
// weights file: valid header, zero data) committed, pushed by multipart upload with the
// default 64 MiB parts, fetched by a second clone and verified. Needs ~20 GiB of free disk.
TEST_CASE("S3 remote: a 5 GiB object goes by multipart upload and comes back", "[.][multipart5g]") {
  S3Repo s;
  const std::uint64_t n = 5ull << 30;
  fs::path big = s.a / "models/big";
  write_big_model(big, n, false);
  std::uint64_t total = fs::file_size(big / "weights.safetensors");
  auto timed = [](const char* what, const RunResult& r, double secs, std::uint64_t bytes) {
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    std::printf("%-6s %6.1f s  %7.1f MB/s\n", what, secs, bytes / secs / 1e6);
  };
  auto t0 = std::chrono::steady_clock::now();
  auto secs = [&] {
    double d = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    t0 = std::chrono::steady_clock::now();
    return d;
  };
  RunResult r = run_mvc({"commit", "models/big", "-m", "5 GiB"}, s.a.root);
  timed("commit", r, secs(), total);
  std::string sha = pointer_sha(big / "weights.safetensors.mvc");
  r = run_mvc({"push"}, s.a.root);
  timed("push", r, secs(), total);
  CHECK(r.out.find("pushed 2 objects") != std::string::npos);
  fs::path b = s.clone("b");
  r = run_mvc({"fetch"}, b);
  timed("fetch", r, secs(), total);
  CHECK(fs::file_size(object_path(b, sha)) == total);
  CHECK(mvc::util::sha256_file(object_path(b, sha)) == sha);
}
