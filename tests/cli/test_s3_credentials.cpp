// S3 remotes configured the AWS way, end to end through the mvc binary: credentials only in
// ~/.aws/credentials under a profile (the remote's `profile`, or AWS_PROFILE) pushing to and
// fetching from s3rver; bad AWS files as one-line errors that change nothing; and a bucket in
// another region than configured (tests/cli/s3_stub.py on loopback, since s3rver never answers
// 301): re-signed for the bucket's region and sent again, or an error naming the region.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <sstream>
#include <thread>

#include "cli/remote_support.h"

using namespace mvc::test;

namespace {

// Every AWS variable mvc reads, unset ("") whatever the test process's environment holds,
// HOME a temp directory holding .aws/.
std::map<std::string, std::string> aws_env(const fs::path& home, std::map<std::string, std::string> set = {}) {
  for (const char* v : {"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                        "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
                        "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
                        "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"})
    set.emplace(v, "");
  set["HOME"] = home.string();
  return set;
}

/// tests/cli/s3_stub.py: a bucket in `region`, answering requests signed for another as `mode`.
class S3Stub {
 public:
  S3Stub(const std::string& region, const std::string& mode) {
    std::string py = python().string(), script = (source_dir() / "tests/cli/s3_stub.py").string();
    fs::path out = dir_.path() / "port";
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) ::dup2(fd, 1);
      ::execl(py.c_str(), py.c_str(), script.c_str(), region.c_str(), mode.c_str(), log().c_str(),
              static_cast<char*>(nullptr));
      _exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (;;) {
      std::string s = fs::exists(out) ? read_file(out) : "";
      if (s.find('\n') != std::string::npos) {
        port_ = std::stoi(s);
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) FAIL("s3_stub.py did not start");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  ~S3Stub() {
    ::kill(pid_, SIGTERM);
    wait_pid(pid_);
  }
  S3Stub(const S3Stub&) = delete;
  S3Stub& operator=(const S3Stub&) = delete;
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  fs::path log() const { return dir_.path() / "requests.log"; }
  /// "METHOD PATH REGION STATUS" lines of the requests served.
  std::string requests() const { return fs::exists(log()) ? read_file(log()) : ""; }

 private:
  TempDir dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

void add_remote(const Repo& a, const std::string& url) {
  REQUIRE(run_mvc({"remote", "add", "origin", url, "--default"}, a.root).exit_code == 0);
}

}  // namespace

TEST_CASE("S3 credentials: keys only in ~/.aws/credentials under the remote's profile push to and fetch from s3rver",
          "[cli][s3][aws]") {
  if (!s3rver_usable()) return;
  S3Server s3;
  Repo a;
  TempDir home;
  add_remote(a, "s3://mvc-test/team");
  // s3rver checks the access key id: only the [team] profile's is S3RVER.
  write_file(home / ".aws/credentials",
             "[default]\naws_access_key_id = WRONG\naws_secret_access_key = WRONG\n\n"
             "[team]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n");
  write_file(home / ".aws/config", "[profile team]\nregion = us-east-1\nendpoint_url = " + s3.endpoint() + "\n");
  write_file(a / ".mvc/config.local.toml", "[remote.origin]\nprofile = \"team\"\n");
  std::string sha1, sha2;
  commit_two_versions(a, sha1, sha2);
  // Environment keys are not used when the remote names its profile (boto3's profile_name).
  auto env = aws_env(home.path(), {{"AWS_ACCESS_KEY_ID", "WRONG"}, {"AWS_SECRET_ACCESS_KEY", "WRONG"}});
  RunResult r = run_mvc({"push", "--all-commits"}, a.root, env);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("pushed 2 objects") != std::string::npos);
  CHECK(s3_client({"list", s3.endpoint(), "mvc-test", "team/"}).out.find(sha1.substr(2)) != std::string::npos);
  CHECK(run_mvc({"remote", "list"}, a.root).out.find("profile=team") != std::string::npos);

  // A clone without a profile in its config: AWS_PROFILE picks it.
  fs::path b = a.tmp.path() / "b";
  git_clone(a.root, b);
  r = run_mvc({"fetch", "--all-commits"}, b, aws_env(home.path(), {{"AWS_PROFILE", "team"}}));
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(object_path(b, sha1)) == read_file(fixture_dir() / "mlp_v1/weights.safetensors"));
  CHECK(read_file(object_path(b, sha2)) == read_file(fixture_dir() / "mlp_v2/weights.safetensors"));
  // Without the profile, the default profile's keys are used, which the server refuses.
  fs::path c = a.tmp.path() / "c";
  git_clone(a.root, c);
  r = run_mvc({"fetch"}, c, aws_env(home.path(), {{"AWS_ENDPOINT_URL", s3.endpoint()}}));
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("HTTP 403") != std::string::npos);
}

TEST_CASE("S3 credentials: mvc remote show says where each setting comes from, never the secret", "[cli][s3][aws]") {
  Repo a;
  TempDir home;
  add_remote(a, "s3://bucket/p");
  write_file(home / ".aws/credentials",
             "[team]\naws_access_key_id = AKIATEAMKEY1\naws_secret_access_key = SECRETVALUE\n"
             "aws_session_token = TOKENVALUE\n");
  write_file(home / ".aws/config", "[profile team]\nregion = eu-west-1\n");
  std::string creds = (home / ".aws/credentials").string(), conf = (home / ".aws/config").string();
  RunResult r = run_mvc({"remote", "show", "origin"}, a.root,
                        aws_env(home.path(), {{"AWS_PROFILE", "team"}, {"AWS_ENDPOINT_URL", "http://127.0.0.1:9"}}));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out == "url\ts3://bucket/p\nprofile\tteam\ncredentials\t********KEY1 from " + creds +
                     " [team] (with a session token)\nregion\teu-west-1 from " + conf +
                     " [profile team]\nendpoint\thttp://127.0.0.1:9 from environment (AWS_ENDPOINT_URL)\n");
  CHECK(r.out.find("SECRET") == std::string::npos);
  CHECK(r.out.find("TOKENVALUE") == std::string::npos);
  r = run_mvc({"remote", "show", "nope"}, a.root, aws_env(home.path()));
  CHECK(r.exit_code == 2);
  CHECK(r.err == "mvc: error: no remote named 'nope' (see 'mvc remote list')\n");
}

TEST_CASE("S3 credentials: a missing profile, a broken credentials file, an unsupported source: one line, exit 1",
          "[cli][s3][aws]") {
  Repo a;
  TempDir home;
  add_remote(a, "s3://bucket/p");
  a.put_model("mlp_v1");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v1"}, a.root).exit_code == 0);
  std::string creds = (home / ".aws/credentials").string(), conf = (home / ".aws/config").string();
  write_file(home / ".aws/credentials", "[default]\naws_access_key_id = A\naws_secret_access_key = S\n");
  auto before = snapshot(a.root);
  struct Case {
    std::string local, credentials, config, msg;
  } cases[] = {
      {"profile = \"nope\"\n", "", "",
       "mvc: error: remote origin: AWS profile 'nope' not found (read " + creds + " and " + conf + " (absent))\n"},
      {"", "[default]\naws_access_key_id = A\nnot a key line\n", "",
       "mvc: error: " + creds + ":3: syntax error: 'not a key line' is not 'key = value' (in [default])\n"},
      {"profile = \"corp\"\n", "", "[profile corp]\nsso_session = corp\nsso_account_id = 1\n",
       "mvc: error: remote origin: " + conf +
           " [profile corp]: sso_account_id (AWS IAM Identity Center (SSO)) is not supported by mvc; give the profile "
           "aws_access_key_id and aws_secret_access_key, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY\n"},
  };
  for (const Case& c : cases) {
    write_file(a / ".mvc/config.local.toml", "[remote.origin]\n" + c.local);
    if (!c.credentials.empty()) write_file(home / ".aws/credentials", c.credentials);
    if (!c.config.empty()) write_file(home / ".aws/config", c.config);
    before = snapshot(a.root);
    RunResult r = run_mvc({"push"}, a.root, aws_env(home.path()));
    INFO(c.msg);
    CHECK(r.exit_code == 1);
    CHECK(r.err == c.msg);
    CHECK(snapshot(a.root) == before);
    fs::remove(home / ".aws/config");
    write_file(home / ".aws/credentials", "[default]\naws_access_key_id = A\naws_secret_access_key = S\n");
  }
}

TEST_CASE("S3 region: a bucket in another region is found from the 301 or the 400 and the request re-signed",
          "[cli][s3][aws]") {
  for (const char* mode : {"301", "400"}) {
    INFO(mode);
    S3Stub stub("eu-west-2", mode);
    Repo a;
    TempDir home;
    add_remote(a, "s3://bucket/p");
    // Configured for us-east-1 (the default); the bucket is in eu-west-2.
    write_file(a / ".mvc/config.local.toml", "[remote.origin]\nendpoint_url = \"" + stub.endpoint() +
                                                 "\"\naccess_key_id = \"AK\"\nsecret_access_key = \"SK\"\n");
    std::string sha1, sha2;
    commit_two_versions(a, sha1, sha2);
    RunResult r = run_mvc({"push", "--all-commits", "-j", "1"}, a.root, aws_env(home.path()));
    INFO(r.out << r.err << stub.requests());
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find("pushed 2 objects") != std::string::npos);
    // The requests signed for us-east-1 (the first, and any sent before the redirect came
    // back) were redirected; each was signed again for eu-west-2, and so was every later one.
    std::istringstream log(stub.requests());
    std::string method, path, region, status;
    int redirected = 0, resigned = 0;
    while (log >> method >> path >> region >> status) {
      INFO(method << " " << path << " " << region << " " << status);
      if (region == "us-east-1") {
        CHECK(status == mode);
        ++redirected;
      } else {
        CHECK(region == "eu-west-2");
        CHECK(status != mode);
        ++resigned;
      }
    }
    CHECK(redirected >= 1);
    CHECK(resigned >= 3);
    std::string log_text = stub.requests();
    CHECK(log_text.find("PUT /bucket/p/objects/sha256/" + sha1.substr(0, 2) + "/" + sha1.substr(2) +
                        " eu-west-2 200") != std::string::npos);
    // A clone fetches them the same way.
    fs::path b = a.tmp.path() / "b";
    git_clone(a.root, b);
    write_file(b / ".mvc/config.local.toml", read_file(a / ".mvc/config.local.toml"));
    r = run_mvc({"fetch", "--all-commits"}, b, aws_env(home.path()));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(read_file(object_path(b, sha2)) == read_file(fixture_dir() / "mlp_v2/weights.safetensors"));
  }
}

TEST_CASE("S3 region: a redirect that names no region is an error that says so", "[cli][s3][aws]") {
  S3Stub stub("eu-west-2", "noheader");
  Repo a;
  TempDir home;
  add_remote(a, "s3://bucket/p");
  write_file(a / ".mvc/config.local.toml", "[remote.origin]\nendpoint_url = \"" + stub.endpoint() +
                                               "\"\nregion = \"eu-central-1\"\naccess_key_id = \"AK\"\n"
                                               "secret_access_key = \"SK\"\n");
  a.put_model("mlp_v1");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v1"}, a.root).exit_code == 0);
  RunResult r = run_mvc({"push"}, a.root, aws_env(home.path()));
  // The first request is the listing of the lock objects (push's shared lock).
  CHECK(r.exit_code == 1);
  CHECK(r.err ==
        "mvc: error: remote origin (s3://bucket/p): LIST s3://bucket/p/locks/: HTTP 301 PermanentRedirect: "
        "PermanentRedirect (the bucket is in another region than eu-central-1; set the remote's region)\n");
}
