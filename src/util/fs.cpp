#include "util/fs.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <vector>

#include "mvc/error.h"

namespace mvc::util {

std::string errno_message(const fs::path& path, const char* action) {
  return path.string() + ": " + action + ": " + std::strerror(errno);
}

namespace {

/// The `Umask:` line of /proc/self/status (Linux 4.7+), or -1.
int proc_umask() {
  try {
    std::string status = read_file("/proc/self/status");
    std::size_t at = status.find("\nUmask:");
    if (at == std::string::npos) return -1;
    return static_cast<int>(std::stoul(status.substr(at + 8, 16), nullptr, 8) & 0777);
  } catch (...) {
    return -1;
  }
}

}  // namespace

mode_t process_umask() {
  static std::once_flag once;
  static mode_t mask = 022;
  std::call_once(once, [] {
    int m = proc_umask();
    if (m < 0) {  // no /proc: umask(2) can only be read by setting it
      m = static_cast<int>(::umask(022));
      ::umask(static_cast<mode_t>(m));
    }
    mask = static_cast<mode_t>(m);
  });
  return mask;
}

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

Fd open_read(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(Exit::failure, errno_message(path, "cannot open"));
  return Fd(fd);
}

std::size_t read_some(const Fd& fd, void* buf, std::size_t n, const fs::path& p) {
  for (;;) {
    ssize_t r = ::read(fd.get(), buf, n);
    if (r >= 0) return static_cast<std::size_t>(r);
    if (errno != EINTR) throw Error(Exit::failure, errno_message(p, "read failed"));
  }
}

void write_all(const Fd& fd, const void* buf, std::size_t n, const fs::path& p) {
  const char* c = static_cast<const char*>(buf);
  while (n > 0) {
    ssize_t w = ::write(fd.get(), c, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw Error(Exit::failure, errno_message(p, "write failed"));
    }
    c += w;
    n -= static_cast<std::size_t>(w);
  }
}

void fsync_fd(const Fd& fd, const fs::path& p) {
  if (::fsync(fd.get()) != 0) throw Error(Exit::failure, errno_message(p, "fsync failed"));
}

void fsync_dir(const fs::path& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw Error(Exit::failure, errno_message(dir, "cannot open directory"));
  Fd d(fd);
  if (::fsync(d.get()) != 0 && errno != EINVAL) throw Error(Exit::failure, errno_message(dir, "fsync failed"));
}

std::string read_file(const fs::path& path) {
  Fd fd = open_read(path);
  std::string out;
  struct stat st {};
  if (::fstat(fd.get(), &st) == 0 && st.st_size > 0) out.reserve(static_cast<std::size_t>(st.st_size));
  char buf[65536];
  for (;;) {
    std::size_t n = read_some(fd, buf, sizeof buf, path);
    if (n == 0) break;
    out.append(buf, n);
  }
  return out;
}

std::string random_hex(std::size_t n) {
  std::vector<unsigned char> bytes((n + 1) / 2);
  std::size_t got = 0;
  while (got < bytes.size()) {
    ssize_t r = ::getrandom(bytes.data() + got, bytes.size() - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      throw Error(Exit::failure, std::string("getrandom failed: ") + std::strerror(errno));
    }
    got += static_cast<std::size_t>(r);
  }
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (unsigned char b : bytes) {
    s += digits[b >> 4];
    s += digits[b & 15];
  }
  s.resize(n);
  return s;
}

bool lexists(const fs::path& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0;
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

TempFile::TempFile(const fs::path& dir, std::string_view stem) {
  const std::string owner = "." + std::to_string(::getpid()) + "@" + host_name();
  for (int attempt = 0; attempt < 16; ++attempt) {
    fs::path p = dir / (std::string(stem) + std::string(kTempMarker) + random_hex(12) + owner);
    int fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) {
      path_ = p;
      fd_ = Fd(fd);
      live_ = true;
      return;
    }
    if (errno != EEXIST) throw Error(Exit::failure, errno_message(p, "cannot create temporary file"));
  }
  throw Error(Exit::failure, dir.string() + ": cannot create a unique temporary file");
}

TempFile::TempFile(TempFile&& o) noexcept : path_(std::move(o.path_)), fd_(std::move(o.fd_)), live_(o.live_) {
  o.live_ = false;
}

TempFile::~TempFile() {
  if (live_) discard();
}

void TempFile::discard() {
  fd_ = Fd();
  if (live_) ::unlink(path_.c_str());
  live_ = false;
}

fs::path TempFile::release() {
  fsync_fd(fd_, path_);
  fd_ = Fd();
  live_ = false;
  return path_;
}

void TempFile::commit_to(const fs::path& target, bool durable) {
  if (durable) fsync_fd(fd_, path_);
  fd_ = Fd();
  if (::rename(path_.c_str(), target.c_str()) != 0) {
    std::string msg = errno_message(target, "cannot rename into place");
    discard();
    throw Error(Exit::failure, msg);
  }
  live_ = false;
  if (durable) fsync_dir(target.parent_path());
}

fs::path TempFile::exchange_into(const fs::path& target) {
  struct stat st {};
  if (::lstat(target.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    commit_to(target, /*durable=*/false);
    return {};
  }
  fd_ = Fd();
  if (::renameat2(AT_FDCWD, path_.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) != 0) {
    commit_to(target, /*durable=*/false);  // EINVAL/ENOSYS: no exchange on this filesystem
    return {};
  }
  live_ = false;
  return path_;  // now the replaced file
}

void write_file_atomic(const fs::path& target, std::string_view bytes) {
  fs::path dir = target.parent_path();
  TempFile tmp(dir.empty() ? fs::path(".") : dir, target.filename().string());
  write_all(tmp.fd(), bytes.data(), bytes.size(), tmp.path());
  tmp.commit_to(target);
}

std::uint64_t copy_fd(const Fd& src, const Fd& dst, const fs::path& sp, const fs::path& dp) {
  struct stat st {};
  if (::fstat(src.get(), &st) != 0) throw Error(Exit::failure, errno_message(sp, "stat failed"));
  if (::ioctl(dst.get(), FICLONE, src.get()) == 0) return static_cast<std::uint64_t>(st.st_size);
  std::uint64_t total = 0;
  bool use_cfr = true;
  std::vector<char> buf;
  for (;;) {
    ssize_t n;
    if (use_cfr) {
      n = ::copy_file_range(src.get(), nullptr, dst.get(), nullptr, 64 << 20, 0);
      if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP) && total == 0) {
        use_cfr = false;
        continue;
      }
      if (n < 0) {
        if (errno == EINTR) continue;
        throw Error(Exit::failure, errno_message(dp, "copy failed"));
      }
    } else {
      if (buf.empty()) buf.resize(kIoBufferSize);
      std::size_t r = read_some(src, buf.data(), buf.size(), sp);
      if (r == 0) break;
      write_all(dst, buf.data(), r, dp);
      total += r;
      continue;
    }
    if (n == 0) break;
    total += static_cast<std::uint64_t>(n);
  }
  return total;
}

}  // namespace mvc::util
