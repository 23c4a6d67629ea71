#include "util/lock.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <optional>
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

bool known_dead(long pid, const std::string& host) {
  if (pid <= 0 || host != host_name()) return false;
  return ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

namespace {

bool all_of(std::string_view s, std::string_view chars) {
  return !s.empty() && s.find_first_not_of(chars) == std::string_view::npos;
}

/// The writer "<pid>@<host>" a temp file name records, if any.
struct Writer {
  std::string pid, host;
};

std::optional<Writer> writer_of(std::string_view owner) {
  auto at = owner.find('@');
  if (at == std::string_view::npos) return std::nullopt;
  Writer w{std::string(owner.substr(0, at)), std::string(owner.substr(at + 1))};
  if (!all_of(w.pid, "0123456789") || w.pid.size() >= 10 || w.host.empty()) return std::nullopt;
  return w;
}

}  // namespace

TempName parse_temp_name(std::string_view name) {
  TempName t;
  constexpr std::string_view hex = "0123456789abcdef";
  if (auto m = name.rfind(kTempMarker); m != std::string_view::npos && m > 0) {
    // "<stem>.mvc-tmp.<12 hex>.<pid>@<host>"
    std::string_view rest = name.substr(m + kTempMarker.size());
    if (rest.size() > 13 && all_of(rest.substr(0, 12), hex) && rest[12] == '.') {
      if (auto w = writer_of(rest.substr(13))) {
        t.is_temp = true;
        t.pid = w->pid;
        t.host = w->host;
      }
    }
    return t;
  }
  // Before mvc 0.2: "<stem>.tmp.<12 hex>", and a folder remote's "<stem>.<pid>@<host>.tmp.<rand>".
  auto m = name.rfind(".tmp.");
  if (m == std::string_view::npos || m == 0 || name.size() != m + 5 + 12 || !all_of(name.substr(m + 5), hex)) return t;
  t.is_temp = true;
  std::string_view stem = name.substr(0, m);
  auto at = stem.find('@');
  auto dot = stem.rfind('.', at);
  if (at != std::string_view::npos && dot != std::string_view::npos)
    if (auto w = writer_of(stem.substr(dot + 1))) {
      t.pid = w->pid;
      t.host = w->host;
    }
  return t;
}

bool stale_temp(const fs::path& p, std::chrono::seconds grace) {
  TempName t = parse_temp_name(p.filename().string());
  if (!t.is_temp) return false;
  if (!t.pid.empty() && t.host == host_name())
    return known_dead(std::stol(t.pid), t.host);  // this host's: its writer's liveness decides
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) return false;
  auto age = std::chrono::system_clock::now() - std::chrono::system_clock::from_time_t(st.st_mtime);
  return age > grace;
}

std::size_t reclaim_temps(const fs::path& dir, std::chrono::seconds grace, bool dry_run) {
  std::size_t n = 0;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec) || !stale_temp(it->path(), grace)) continue;
    if (dry_run || ::unlink(it->path().c_str()) == 0) ++n;
  }
  return n;
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
  if (::link(aside.c_str(), lock.c_str()) != 0) { /* the lock was retaken meanwhile */
  }
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
    fd_ = ::open(lock_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                 0666);  // 0666 & ~umask, as git creates its locks
    if (fd_ >= 0) break;
    if (errno != EEXIST) throw Error(Exit::failure, errno_message(lock_, "cannot create lock"));
    Holder h = read_holder(lock_);
    if (break_if_stale(lock_, h)) continue;
    auto waited = std::chrono::steady_clock::now() - start;
    if (waited >= timeout) {
      double s = std::chrono::duration<double>(waited).count();
      std::ostringstream msg;
      msg << lock_.string() << ": held by ";
      if (h.parsed)
        msg << "pid " << h.pid << " on host " << h.host;
      else
        msg << "another process";
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
  if (::rename(lock_.c_str(), target_.c_str()) != 0)
    throw Error(Exit::failure, errno_message(target_, "cannot rename into place"));
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
  if (::rename(lock_.c_str(), target_.c_str()) != 0)
    throw Error(Exit::failure, errno_message(target_, "cannot rename into place"));
  held_ = false;
  fs::path dir = target_.parent_path();
  fsync_dir(dir.empty() ? fs::path(".") : dir);
}

}  // namespace mvc::util
