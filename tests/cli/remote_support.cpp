#include "cli/remote_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

namespace mvc::test {

pid_t spawn_mvc(const std::vector<std::string>& args, const fs::path& cwd, const fs::path& log,
                const std::map<std::string, std::string>& env) {
  std::string bin = mvc_binary().string();
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    if (::chdir(cwd.c_str()) != 0) _exit(126);
    for (auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> argv{const_cast<char*>(bin.c_str())};
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

int wait_pid(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void git_clone(const fs::path& src, const fs::path& dest) {
  git({"clone", "-q", src.string(), dest.string()}, src.parent_path());
  git({"config", "user.name", "Test User"}, dest);
  git({"config", "user.email", "test@example.com"}, dest);
}

void write_weights_variant(const std::string& fixture, const fs::path& dest, int k) {
  std::string bytes = read_file(fixture_dir() / fixture / "weights.safetensors");
  bytes[bytes.size() - 1 - static_cast<std::size_t>(k % 4)] ^= static_cast<char>(1 + k / 4);
  write_file(dest, bytes);
}

void commit_two_versions(Repo& repo, std::string& sha1, std::string& sha2) {
  repo.put_model("mlp_v1");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v1", "--tag", "clf-v1"}, repo.root).exit_code == 0);
  sha1 = pointer_sha(repo / "models/clf/weights.safetensors.mvc");
  repo.put_model("mlp_v2");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v2"}, repo.root).exit_code == 0);
  sha2 = pointer_sha(repo / "models/clf/weights.safetensors.mvc");
}

std::string write_big_model(const fs::path& dir, std::uint64_t n, bool pattern) {
  std::string header = "{\"linear1.weight\":{\"dtype\":\"F32\",\"shape\":[" + std::to_string(n / 4) +
                       ",1],\"data_offsets\":[0," + std::to_string(n) + "]}}";
  write_file(dir / "arch.toml",
             "format = \"mvc.arch/1\"\nname = \"big\"\n[inputs]\nx = { shape = [\"batch\", 1], dtype = \"float32\" }\n"
             "[[layers]]\nname = \"linear1\"\ntype = \"Linear\"\nin_features = 1\nout_features = " +
                 std::to_string(n / 4) + "\nbias = false\n");
  std::string len(8, '\0');
  for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  if (!pattern) {
    write_file(dir / "weights.safetensors", len + header);
    fs::resize_file(dir / "weights.safetensors", 8 + header.size() + n);
    return {};
  }
  std::string bytes = len + header;
  bytes.resize(8 + header.size() + n, '\0');
  for (std::size_t i = 8 + header.size(); i < bytes.size(); i += 4093) bytes[i] = static_cast<char>(i * 7);
  write_file(dir / "weights.safetensors", bytes);
  return bytes;
}

fs::path python() { return MVC_PYTHON; }

RunResult s3_client(const std::vector<std::string>& args) {
  std::vector<std::string> argv{python().string(), (source_dir() / "tests/cli/s3_client.py").string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv);
}

namespace {

/// Where scripts/install-deps.sh installs s3rver: $MVC_TEST_NODE_PREFIX, else the build's
/// MVC_TEST_NODE_PREFIX (/opt/mvc-test-node).
fs::path s3rver_js() {
  const char* env = std::getenv("MVC_TEST_NODE_PREFIX");
  fs::path prefix = env && *env ? fs::path(env) : fs::path(MVC_TEST_NODE_PREFIX);
  return prefix / "node_modules/s3rver/bin/s3rver.js";
}

int free_port() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  ::close(s);
  return port;
}

bool can_connect(int port) {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(s);
  return ok;
}

}  // namespace

bool s3rver_usable() {
  std::string why;
  if (run({"node", "--version"}).exit_code != 0)
    why = "node is not installed";
  else if (!fs::exists(s3rver_js()))
    why = s3rver_js().string() + " is missing";
  if (why.empty()) return true;
  why += " (scripts/install-deps.sh installs it)";
  const char* ci = std::getenv("CI");
  if (ci && *ci) FAIL("s3rver: " << why);
  WARN("S3 backend skipped: " << why);
  return false;
}

S3Server::S3Server() {
  REQUIRE(fs::exists(s3rver_js()));
  port_ = free_port();
  std::string js = s3rver_js().string(), dir = data_.path().string(), port = std::to_string(port_);
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    int fd = ::open((data_.path() / "s3rver.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::execlp("node", "node", js.c_str(), "-d", (dir + "/data").c_str(), "-a", "127.0.0.1", "-p", port.c_str(), "-s",
             "--service-endpoint", "localhost", "--configure-bucket", "mvc-test", static_cast<char*>(nullptr));
    _exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!can_connect(port_)) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      FAIL("s3rver exited at start: " << read_file(data_.path() / "s3rver.log"));
    }
    if (std::chrono::steady_clock::now() > deadline) FAIL("s3rver did not listen on port " << port_);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

S3Server::~S3Server() { stop(); }

void S3Server::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGCONT);
  ::kill(pid_, SIGTERM);
  wait_pid(pid_);
  pid_ = -1;
}

void S3Server::pause() { ::kill(pid_, SIGSTOP); }
void S3Server::resume() { ::kill(pid_, SIGCONT); }

std::map<std::string, std::string> S3Server::env() const {
  return {{"AWS_ACCESS_KEY_ID", "S3RVER"}, {"AWS_SECRET_ACCESS_KEY", "S3RVER"}, {"AWS_REGION", "us-east-1"}};
}

void configure_s3_remote(const fs::path& repo, const std::string& name, const S3Server& s3, const std::string& extra) {
  write_file(repo / ".mvc/config.local.toml", "[remote." + name + "]\nendpoint_url = \"" + s3.endpoint() +
                                                  "\"\naccess_key_id = \"S3RVER\"\nsecret_access_key = \"S3RVER\"\n" +
                                                  extra);
}

}  // namespace mvc::test
