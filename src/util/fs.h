// File helpers with no domain knowledge: RAII descriptors, whole-file reads, atomic writes
// (temp file beside the target + fsync + rename), fast copies (reflink, copy_file_range).
// Every function throws mvc::Error(Exit::failure) naming the path and errno text on failure.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace mvc::util {

namespace fs = std::filesystem;

/// The process's umask, as it was when first asked (read once, thread-safe: the `Umask:` line of
/// /proc/self/status, else umask(2) set and restored under std::call_once). mvc never changes it.
mode_t process_umask();
/// `mode` without the umask's bits: the mode git gives a file it creates (0666 & ~umask for a
/// regular file). Every file mvc creates gets such a mode (docs/repository-format.md).
inline mode_t with_umask(mode_t mode) { return mode & ~process_umask(); }

/// Buffer size for streaming reads (bytes).
inline constexpr std::size_t kIoBufferSize = 1 << 20;

/// An owned file descriptor, closed on destruction.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

/// "<path>: <strerror(errno)>"-style message helper.
std::string errno_message(const fs::path& path, const char* action);

Fd open_read(const fs::path& path);
/// Reads up to n bytes; returns 0 at end of file. Retries on EINTR.
std::size_t read_some(const Fd& fd, void* buf, std::size_t n, const fs::path& path_for_errors);
void write_all(const Fd& fd, const void* buf, std::size_t n, const fs::path& path_for_errors);
void fsync_fd(const Fd& fd, const fs::path& path_for_errors);
/// fsync a directory so that a rename into it is durable.
void fsync_dir(const fs::path& dir);

/// The whole file as a byte string.
std::string read_file(const fs::path& path);

/// Host name of this machine (gethostname; "unknown" when it fails).
std::string host_name();

/// The marker in every temp file name mvc writes; `.git/info/exclude` ignores `*.mvc-tmp.*`.
inline constexpr std::string_view kTempMarker = ".mvc-tmp.";

/// A temporary file created with O_EXCL in `dir`, named `<stem>.mvc-tmp.<12 hex>.<pid>@<host>`:
/// the name says who writes it, so that a later command can tell a killed writer's leftover
/// from a live writer's file (util::stale_temp, util::reclaim_temps). Mode 0666 & ~umask (as git
/// creates files; the kernel applies the umask).
/// Removed on destruction unless `commit_to` or `release` was called.
class TempFile {
 public:
  TempFile(const fs::path& dir, std::string_view stem);
  ~TempFile();
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  TempFile(TempFile&&) noexcept;

  const fs::path& path() const { return path_; }
  const Fd& fd() const { return fd_; }
  /// fsync + close, then rename over `target` (replacing a file or a symlink, never writing
  /// through it), then fsync the target's directory. With `durable` false, neither fsync
  /// (as git writes work-tree files): the rename is still atomic.
  void commit_to(const fs::path& target, bool durable = true);
  /// Close (without fsync) and put this file at `target` without the cost of replacing a large
  /// file there. When `target` is a regular file, the two are swapped atomically (renameat2
  /// RENAME_EXCHANGE: `target` never disappears) and the path that now holds the replaced file
  /// is returned, for the caller to remove; else (no file there, a symlink, a filesystem
  /// without RENAME_EXCHANGE) this is commit_to(target, false) and "" is returned. Why: a
  /// rename over an existing file makes ext4 (auto_da_alloc) start writing the new file back
  /// inside the rename (0.4-0.5 s for 1 GiB here), and dropping the old file's last link frees
  /// its blocks there too; the exchange does neither. Throws like commit_to.
  fs::path exchange_into(const fs::path& target);
  /// fsync + close, keep the file, forget it (caller owns the path now).
  fs::path release();
  /// Close (without fsync) and remove now.
  void discard();

 private:
  fs::path path_;
  Fd fd_;
  bool live_ = false;
};

/// Writes `bytes` to `target` atomically: temp file beside it (mode 0666 & ~umask), fsync, rename.
void write_file_atomic(const fs::path& target, std::string_view bytes);

/// Copies the bytes of `src` (an open descriptor) into `dst`: reflink (FICLONE) when the
/// filesystem offers it, else copy_file_range, else read/write. Returns the byte count.
std::uint64_t copy_fd(const Fd& src, const Fd& dst, const fs::path& src_path, const fs::path& dst_path);

/// Random lowercase hex string of `n` characters (from /dev/urandom via getrandom).
std::string random_hex(std::size_t n);

/// True when `p` exists (without following a final symlink).
bool lexists(const fs::path& p);

}  // namespace mvc::util
