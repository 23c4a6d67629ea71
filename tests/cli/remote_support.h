// Test support for remotes: background processes, clones, weights variants and an
// S3-protocol server (the npm package s3rver on Node.js) started on loopback and stopped.
#pragma once

#include <sys/types.h>

#include "cli/cli_support.h"

namespace mvc::test {

/// Starts mvc with `args` in `cwd` in the background, stdout+stderr to `log`. Returns its pid.
pid_t spawn_mvc(const std::vector<std::string>& args, const fs::path& cwd, const fs::path& log,
                const std::map<std::string, std::string>& env = {});
/// Waits for `pid`; returns its exit status (or 128 + signal).
int wait_pid(pid_t pid);

/// `git clone src dest` with the test identity.
void git_clone(const fs::path& src, const fs::path& dest);

/// Writes fixture `fixture`'s weights into `dest` with byte `k` from the end changed, which
/// keeps the file valid safetensors (one float differs) with a new hash.
void write_weights_variant(const std::string& fixture, const fs::path& dest, int k);

/// Writes model directory `dir`: an arch.toml with one Linear(1, n/4, bias=false) and a valid
/// safetensors file of 8 + header + n bytes whose data is zero (sparse) or, when `pattern`,
/// a byte pattern. Returns the weights file's bytes when `pattern` (else "").
std::string write_big_model(const fs::path& dir, std::uint64_t n, bool pattern);

/// In `repo`: fixture mlp_v1 committed in models/clf (tag clf-v1), then mlp_v2 committed on
/// top; their objects' names go to `sha1` and `sha2`.
void commit_two_versions(Repo& repo, std::string& sha1, std::string& sha2);

/// Debian's python3 with botocore/boto3 (MVC_PYTHON).
fs::path python();
/// tests/cli/s3_client.py: boto3/botocore side of the S3 tests.
RunResult s3_client(const std::vector<std::string>& args);

/// True when node and s3rver (installed by scripts/install-deps.sh into $MVC_TEST_NODE_PREFIX,
/// default /opt/mvc-test-node) are there. Else the S3 tests are skipped with a warning -- or,
/// where $CI is set, fail.
bool s3rver_usable();

/// s3rver on 127.0.0.1 (a free port) with bucket `mvc-test`, data in a temp directory;
/// credentials S3RVER / S3RVER (s3rver checks the access key id, not V4 signatures: those
/// are compared with botocore's in tests/store/test_sigv4.cpp).
/// Installed by scripts/install-deps.sh (never by a test): see s3rver_usable().
class S3Server {
 public:
  S3Server();
  ~S3Server();
  S3Server(const S3Server&) = delete;
  S3Server& operator=(const S3Server&) = delete;
  int port() const { return port_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  /// Virtual-hosted style endpoint: buckets as <bucket>.s3.localhost:PORT.
  std::string vhost_endpoint() const { return "http://s3.localhost:" + std::to_string(port_); }
  /// Environment with the credentials, for mvc and the boto3 client.
  std::map<std::string, std::string> env() const;
  /// Where s3rver keeps buckets (multipart parts under <bucket>/._S3rver_uploads/<id>/<n>).
  fs::path data_dir() const { return data_.path() / "data"; }
  void pause();   ///< SIGSTOP
  void resume();  ///< SIGCONT
  void stop();

 private:
  TempDir data_;
  int port_ = 0;
  pid_t pid_ = -1;
};

/// Writes `.mvc/config.local.toml` settings for remote `name` using this server.
void configure_s3_remote(const fs::path& repo, const std::string& name, const S3Server& s3,
                         const std::string& extra = "");

}  // namespace mvc::test
