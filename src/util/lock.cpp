#include "util/lock.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "mvc/error.h"
#include "util/fs.h"

namespace mvc::util {

std::chrono::milliseconds default_lock_timeout() {
  if (const char* v = std::getenv("MVC_LOCK_TIMEOUT"); v && *v) {
    char* end = nullptr;
    double s = std::strtod(v, &end);
    if (end != v && s >= 0) return std::chrono::milliseconds(static_cast<long long>(s * 1000));
  }
  return std::chrono::seconds(60);
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

bool known_dead(long pid, const std::string& host) {
  if (pid <= 0 || host != host_name()) return false;
  return ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

std::string owned_stem(std::string_view stem) {
  return std::string(stem) + "." + std::to_string(::getpid()) + "@" + host_name();
}

bool stale_temp(const fs::path& p, std::chrono::seconds grace) {
  std::string name = p.filename().string();
  auto tmp = name.rfind(".tmp.");
  if (tmp == std::string::npos) return false;
  std::string stem = name.substr(0, tmp);  // "<stem>.<pid>@<host>"
  auto at = stem.find('@');
  auto dot = stem.rfind('.', at);
  if (at != std::string::npos && dot != std::string::npos && dot + 1 < at) {
    std::string pid = stem.substr(dot + 1, at - dot - 1), host = stem.substr(at + 1);
    if (pid.find_first_not_of("0123456789") == std::string::npos && pid.size() < 10 && host == host_name())
      return known_dead(std::stol(pid), host);  // this host's: its writer's liveness decides
  }
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) return false;
  auto age = std::chrono::system_clock::now() - std::chrono::system_clock::from_time_t(st.st_mtime);
  return age > grace;
}

namespace {

struct Holder {
  long pid = 0;
  std::string host;
  bool parsed = false;
};

Holder read_holder(const fs::path& lock) {
  Holder h;
  int fd = ::open(lock.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return h;
  Fd f(fd);
  char buf[512];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  if (n <= 0) return h;
  std::istringstream in(std::string(buf, static_cast<std::size_t>(n)));
  if (in >> h.pid >> h.host && h.pid > 0) h.parsed = true;
  return h;
}

// Breaks a lock whose holder is dead on this host. To avoid removing a lock that a third
// process has just taken over, the stale file is first renamed to a unique name and checked again.
bool break_if_stale(const fs::path& lock, const Holder& h) {
  if (!h.parsed || !known_dead(h.pid, h.host)) return false;
  fs::path aside = lock;
  aside += ".stale." + random_hex(8);
  if (::rename(lock.c_str(), aside.c_str()) != 0) return false;
  Holder again = read_holder(aside);
  if (again.parsed && again.pid == h.pid && again.host == h.host) {
    ::unlink(aside.c_str());
    return true;
  }
  // Someone else's live lock: put it back if its place is still free.
  if (::link(aside.c_str(), lock.c_str()) != 0) { /* the lock was retaken meanwhile */ }
  ::unlink(aside.c_str());
  return false;
}

}  // namespace

FileLock::FileLock(fs::path target, std::chrono::milliseconds timeout) : target_(std::move(target)) {
  lock_ = target_;
  lock_ += ".lock";
  auto start = std::chrono::steady_clock::now();
  auto delay = std::chrono::milliseconds(10);
  for (;;) {
    fd_ = ::open(lock_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ >= 0) break;
    if (errno != EEXIST) throw Error(Exit::failure, errno_message(lock_, "cannot create lock"));
    Holder h = read_holder(lock_);
    if (break_if_stale(lock_, h)) continue;
    auto waited = std::chrono::steady_clock::now() - start;
    if (waited >= timeout) {
      double s = std::chrono::duration<double>(waited).count();
      std::ostringstream msg;
      msg << lock_.string() << ": held by ";
      if (h.parsed) msg << "pid " << h.pid << " on host " << h.host;
      else msg << "another process";
      msg << "; gave up after " << static_cast<long long>(s + 0.5) << " s (remove the file if that process is gone)";
      throw Error(Exit::lock, msg.str());
    }
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(500));
  }
  held_ = true;
  std::string me = std::to_string(::getpid()) + " " + host_name() + "\n";
  Fd f(fd_);
  try {
    write_all(f, me.data(), me.size(), lock_);
  } catch (...) {
    ::unlink(lock_.c_str());
    held_ = false;
    fd_ = -1;
    throw;
  }
  fd_ = f.release();
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);
  if (held_) ::unlink(lock_.c_str());
}

void FileLock::commit(std::string_view bytes) {
  Fd f(fd_);
  fd_ = -1;
  if (::ftruncate(f.get(), 0) != 0 || ::lseek(f.get(), 0, SEEK_SET) != 0)
    throw Error(Exit::failure, errno_message(lock_, "cannot write"));
  write_all(f, bytes.data(), bytes.size(), lock_);
  fsync_fd(f, lock_);
  f = Fd();
  if (::rename(lock_.c_str(), target_.c_str()) != 0) throw Error(Exit::failure, errno_message(target_, "cannot rename into place"));
  held_ = false;
  fs::path dir = target_.parent_path();
  fsync_dir(dir.empty() ? fs::path(".") : dir);
}

void FileLock::write(std::string_view bytes) {
  if (::ftruncate(fd_, 0) != 0 || ::lseek(fd_, 0, SEEK_SET) != 0)
    throw Error(Exit::failure, errno_message(lock_, "cannot write"));
  Fd f(fd_);
  try {
    write_all(f, bytes.data(), bytes.size(), lock_);
    fsync_fd(f, lock_);
  } catch (...) {
    fd_ = f.release();
    throw;
  }
  fd_ = f.release();
}

void FileLock::commit_as_is() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (::rename(lock_.c_str(), target_.c_str()) != 0) throw Error(Exit::failure, errno_message(target_, "cannot rename into place"));
  held_ = false;
  fs::path dir = target_.parent_path();
  fsync_dir(dir.empty() ? fs::path(".") : dir);
}

}  // namespace mvc::util
