// A stat cache: file path → SHA-256 of its bytes, trusted only while the file's stat data is
// unchanged, after git's index ("racy git", Documentation/technical/racy-git.txt) and DVC's
// state database. It lets `mvc status` and `mvc commit` on an unchanged multi-GB weights file
// return without reading it.
//
// An entry is keyed by path and records device, inode, size, mtime (ns), ctime (ns) and the
// time hashing began. It answers a lookup only when all of these hold:
//   * device, inode, size, mtime and ctime equal the file's current lstat data, and
//   * the entry is not racily clean: its mtime is strictly older than the time hashing began
//     (CLOCK_REALTIME_COARSE, the clock the kernel stamps files with) AND strictly older than
//     the modification time of the cache file it was loaded from (git's rule: a file written in
//     the same timestamp tick as it was hashed could change again without changing its stat
//     data; filesystems with 1 s or 2 s timestamps are covered by the second test).
// Entries that were not trusted when loaded are dropped when the cache is saved (git smudges
// them), so a later cache write never launders a racy entry.
//
// The file is local state (`.mvc/state/`, git-ignored), text, one entry a line:
//   mvc-stat-cache 1
//   <sha256> <dev> <ino> <size> <mtime_ns> <ctime_ns> <hashed_at_ns> <path>
// It is replaced by an atomic rename of a temp file (no lock: it is a cache; the last writer
// wins and a lost entry only costs a rehash). An unreadable or malformed file is ignored.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace mvc::util {

/// Nanoseconds since the epoch of a timespec.
std::int64_t timespec_ns(const struct timespec& t);
/// Now, from CLOCK_REALTIME_COARSE (the clock file timestamps come from), in ns.
std::int64_t coarse_now_ns();

class StatCache {
 public:
  struct Entry {
    std::string sha256;
    std::uint64_t dev = 0, ino = 0, size = 0;
    std::int64_t mtime_ns = 0, ctime_ns = 0;
    std::int64_t hashed_at_ns = 0;  ///< coarse realtime when reading for the hash began
    bool trusted = false;           ///< passed the racy-clean test (set on load and on record)
  };

  /// Loads `file` if it exists (a missing, unreadable or malformed file gives an empty cache).
  explicit StatCache(std::filesystem::path file);

  /// The recorded SHA-256 of `key` when `st` (the file's current lstat) matches the entry and
  /// the entry is trusted; nullopt otherwise (the caller hashes the file and calls record()).
  std::optional<std::string> lookup(const std::string& key, const struct stat& st) const;

  /// Records that the file `key`, whose stat data was `st` before and after it was read, has
  /// SHA-256 `sha256`; `hashed_at_ns` is coarse_now_ns() taken before reading began. An
  /// entry that is racy already (mtime not older than hashed_at) is not recorded.
  void record(const std::string& key, const struct stat& st, const std::string& sha256, std::int64_t hashed_at_ns);

  /// Forgets `key`.
  void erase(const std::string& key);

  /// Writes the cache (trusted entries only) when it changed: temp file in the cache file's
  /// directory (created if needed), then rename. Throws mvc::Error(Exit::failure) on I/O errors.
  void save();

  std::size_t size() const { return entries_.size(); }
  const std::filesystem::path& file() const { return file_; }

 private:
  std::filesystem::path file_;
  std::map<std::string, Entry> entries_;
  bool dirty_ = false;
};

}  // namespace mvc::util
