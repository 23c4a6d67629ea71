// Lock files for mutable files (docs/repository-format.md, after git's lockfile): `<file>.lock` is created
// with O_EXCL and holds "<pid> <host>\n". A process that finds it waits and retries with
// backoff (10 ms doubling to 500 ms); after the timeout it gives up with
// mvc::Error(Exit::lock) naming the holder's pid and host. A lock whose holder is dead on this
// host (kill(pid, 0) fails with ESRCH) is broken. A change is committed by writing the new
// contents into the lock file and renaming it over the target.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>

#include "util/fs.h"

namespace mvc::util {

namespace fs = std::filesystem;

/// Seconds to wait for a lock: $MVC_LOCK_TIMEOUT when set (decimal seconds), else 60.
std::chrono::milliseconds default_lock_timeout();

class FileLock {
 public:
  /// Takes `<target>.lock`, waiting up to `timeout`. Throws Exit::lock
  /// ("<target>.lock: held by pid N on host H; gave up after S s") or Exit::failure (I/O).
  explicit FileLock(fs::path target, std::chrono::milliseconds timeout = default_lock_timeout());
  ~FileLock();  ///< releases (removes the lock file) unless committed
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

  const fs::path& lock_path() const { return lock_; }
  /// Replaces the target's contents atomically: writes `bytes` into the lock file, fsyncs it,
  /// renames it over the target and fsyncs the directory. The lock is released by this.
  void commit(std::string_view bytes);
  /// Replaces the lock file's contents with `bytes` (fsynced) and keeps the lock: a protocol
  /// that lets others read the pending contents by path (git's GIT_INDEX_FILE=index.lock for
  /// hooks) reads them there. Throws Exit::failure on I/O errors.
  void write(std::string_view bytes);
  /// Renames the lock file as it is now over the target and fsyncs the directory. Its contents
  /// are what write() put there, or what a process this one let use the lock file wrote by
  /// path (e.g. `git add` in a hook, which replaces `<target>.lock` by renaming its own lock
  /// over it). The lock is released by this. Throws Exit::failure when the rename fails.
  void commit_as_is();

 private:
  fs::path target_, lock_;
  int fd_ = -1;
  bool held_ = false;
};

/// True when process `pid` of host `host` is known to be dead: `host` is this host and
/// kill(pid, 0) fails with ESRCH. A process on another host is never known dead.
bool known_dead(long pid, const std::string& host);

/// What a file name says of a temp file: mvc's ("<stem>.mvc-tmp.<12 hex>.<pid>@<host>", see
/// TempFile) or an older mvc's ("<stem>.tmp.<12 hex>", "<stem>.<pid>@<host>.tmp.<hex>").
struct TempName {
  bool is_temp = false;
  std::string pid, host;  ///< its writer; empty when the name does not say
};
TempName parse_temp_name(std::string_view name);

/// True when temp file `p` is a leftover that may be removed: its writer (parse_temp_name) is
/// known_dead(), or -- another host's, or a name without a writer -- it was last modified
/// more than `grace` ago. A live writer's temp on this host is never stale, whatever its age.
/// Files that are not temp files by their name are never stale.
bool stale_temp(const fs::path& p, std::chrono::seconds grace);

/// Removes the stale temp files (stale_temp) directly in `dir` (not below it) and returns how
/// many; with `dry_run` only counts them. A missing `dir` has none. Best effort: a file that
/// cannot be removed is left and not counted.
std::size_t reclaim_temps(const fs::path& dir, std::chrono::seconds grace, bool dry_run = false);

}  // namespace mvc::util
