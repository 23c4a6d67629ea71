#include "support.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace mvc::test {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/mvc-test-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
  path_ = fs::path(buf.data());
}

TempDir::~TempDir() {
  std::error_code ec;
  // Objects in the cache are 0444 and read-only dirs may exist: make everything writable first.
  for (auto it = fs::recursive_directory_iterator(path_, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (!it->is_symlink()) fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
  }
  fs::remove_all(path_, ec);
}

RunResult run(const std::vector<std::string>& argv, const fs::path& cwd, const std::map<std::string, std::string>& env,
              const std::string& stdin_data) {
  int out_pipe[2], err_pipe[2], in_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) || ::pipe2(err_pipe, O_CLOEXEC) || ::pipe2(in_pipe, O_CLOEXEC))
    throw std::runtime_error("pipe failed");
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::dup2(in_pipe[0], 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) _exit(126);
    for (auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    _exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  ::close(in_pipe[0]);
  if (!stdin_data.empty()) {
    ssize_t w = ::write(in_pipe[1], stdin_data.data(), stdin_data.size());
    (void)w;
  }
  ::close(in_pipe[1]);
  RunResult r;
  struct pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_count = 2;
  char buf[65536];
  while (open_count > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_count;
      } else {
        (i == 0 ? r.out : r.err).append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

fs::path mvc_binary() { return MVC_BINARY; }
fs::path fixture_dir() { return MVC_FIXTURE_DIR; }
fs::path source_dir() { return MVC_SOURCE_DIR; }

std::vector<std::string> zoo_cases() {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(source_dir() / "tests" / "zoo"))
    if (e.is_directory()) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

RunResult run_mvc(const std::vector<std::string>& args, const fs::path& cwd,
                  const std::map<std::string, std::string>& env) {
  std::vector<std::string> argv{mvc_binary().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, cwd, env);
}

RunResult git(const std::vector<std::string>& args, const fs::path& cwd, bool check) {
  std::vector<std::string> argv{"git"};
  argv.insert(argv.end(), args.begin(), args.end());
  RunResult r = run(argv, cwd);
  if (check) {
    INFO("git " << args.front() << " failed: " << r.err);
    REQUIRE(r.exit_code == 0);
  }
  return r;
}

void git_init(const fs::path& dir) {
  fs::create_directories(dir);
  git({"init", "-q", "-b", "main"}, dir);
  git({"config", "user.name", "Test User"}, dir);
  git({"config", "user.email", "test@example.com"}, dir);
  git({"config", "commit.gpgsign", "false"}, dir);
}

void write_file(const fs::path& p, const std::string& bytes) {
  if (p.has_parent_path()) fs::create_directories(p.parent_path());
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw std::runtime_error("cannot write " + p.string());
}

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + p.string());
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void copy_fixture_model(const std::string& name, const fs::path& dest) {
  fs::path src = fixture_dir() / name;
  REQUIRE(fs::is_directory(src));
  fs::create_directories(dest);
  for (auto& e : fs::directory_iterator(src))
    fs::copy_file(e.path(), dest / e.path().filename(), fs::copy_options::overwrite_existing);
}

}  // namespace mvc::test
