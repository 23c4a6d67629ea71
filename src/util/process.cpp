#include "util/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "mvc/error.h"

namespace mvc::util {

int run_process(const std::vector<std::string>& argv, const std::filesystem::path& cwd, const std::string& stdin_data,
                const std::map<std::string, std::string>& env) {
  if (argv.empty()) throw Error(Exit::failure, "run_process: no program");
  // The child's environment, built before fork (the child only calls async-signal-safe functions).
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    std::string_view v(*e);
    if (!env.count(std::string(v.substr(0, v.find('='))))) env_strings.emplace_back(v);
  }
  for (auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  int in[2];
  if (::pipe2(in, O_CLOEXEC) != 0) throw Error(Exit::failure, std::string("pipe failed: ") + std::strerror(errno));
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(in[0]);
    ::close(in[1]);
    throw Error(Exit::failure, argv[0] + ": cannot start: " + std::strerror(errno));
  }
  if (pid == 0) {
    ::dup2(in[0], 0);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) _exit(126);
    ::execve(args[0], args.data(), envp.data());
    _exit(127);
  }
  ::close(in[0]);
  // A hook that does not read its input must not kill us with SIGPIPE.
  struct sigaction ign {
  }, old{};
  ign.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ign, &old);
  const char* p = stdin_data.data();
  std::size_t left = stdin_data.size();
  while (left > 0) {
    ssize_t w = ::write(in[1], p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      break;  // EPIPE: the child closed its input
    }
    p += w;
    left -= static_cast<std::size_t>(w);
  }
  ::close(in[1]);
  ::sigaction(SIGPIPE, &old, nullptr);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

void unlink_detached(const std::vector<std::filesystem::path>& paths) {
  if (paths.empty()) return;
  // Everything the children need is ready before fork: after it, a multi-threaded process's
  // child may only call async-signal-safe functions (fork, setsid, close_range, unlink, _exit).
  std::vector<const char*> names;
  for (auto& p : paths) names.push_back(p.c_str());
  auto unlink_all = [&] {
    for (const char* n : names) ::unlink(n);
  };
  pid_t child = ::fork();
  if (child < 0) {
    unlink_all();
    return;
  }
  if (child == 0) {
    pid_t grandchild = ::fork();
    if (grandchild == 0) {
      ::setsid();
      if (::close_range(0, ~0U, 0) != 0)
        for (int fd = 0; fd < 1024; ++fd) ::close(fd);
      unlink_all();
      _exit(0);
    }
    if (grandchild < 0) unlink_all();
    _exit(0);
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
}

std::filesystem::path self_executable() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path() : p;
}

}  // namespace mvc::util
