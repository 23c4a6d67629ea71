// The content-addressed object store (docs/repository-format.md, "Object store", after git and restic):
//   <root>/objects/sha256/ab/cdef...   objects, named by the SHA-256 of their bytes, mode 0444 & ~umask
//   <root>/tmp/                        temp files (same filesystem), "<name>.mvc-tmp.<hex>.<pid>@<host>"
// Objects are written once and never changed; only gc deletes. Reads that leave the store
// (to the workspace, to a model load) verify the hash.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "util/fs.h"

namespace mvc::store {

namespace fs = std::filesystem;

class ObjectStore {
 public:
  /// `root` is the cache directory (`<git common dir>/mvc/cache`, or `[cache] dir`); created on first write.
  explicit ObjectStore(fs::path root);

  const fs::path& root() const { return root_; }
  /// Path of object `sha256`. Throws mvc::Error(Exit::failure) unless `sha256` is 64
  /// lowercase hex digits (store paths are never built from unvalidated strings).
  fs::path object_path(const std::string& sha256) const;
  bool contains(const std::string& sha256) const;

  struct Stored {
    std::string sha256;
    std::uint64_t size = 0;
    bool existed = false;           ///< the object was already in the store
    struct stat st {};              ///< the source's fstat before it was read (equal after)
    std::int64_t hashed_at_ns = 0;  ///< util::coarse_now_ns() before reading began
  };
  /// Called after each chunk with the bytes done so far.
  using Progress = std::function<void(std::uint64_t done)>;

  /// Stores the bytes of `src` in one streaming pass: read, hash and write a temp file in
  /// tmp/ (util::sha256_stream: hashing on this thread overlaps the I/O on another), check that the byte count equals
  /// the file size before and after (a file that changes while it is read is refused: Exit::failure "changed while
  /// being read"), fsync, link into place (EEXIST: another writer stored the same bytes), fsync the directory, chmod
  /// 0444 & ~umask. On any failure no object and no temp file remain.
  Stored put_file(const fs::path& src, const Progress& progress = {});

  /// Writes a copy of object `sha256` into a new temp file in `dest_dir` (beside the final
  /// target, so that a rename puts it in place): reflink or copy_file_range on one thread
  /// while this thread hashes the object (util::sha256_read).
  /// Throws
  /// Exit::missing when the object is absent, Exit::integrity "object <sha> is corrupt" when
  /// its bytes do not hash to its name, Exit::model when they do but its size is not
  /// `expected_size` (the size expected is wrong, not the object: callers with a pointer check
  /// it first with core::check_pointer_size, which names the pointer); the temp file is
  /// removed then.
  /// `progress` is called with the bytes verified so far.
  util::TempFile copy_out_verified(const std::string& sha256, std::uint64_t expected_size, const fs::path& dest_dir,
                                   const std::string& stem, const Progress& progress = {}) const;

  /// Re-hashes object `sha256`; Exit::missing / Exit::integrity as above.
  void verify(const std::string& sha256, const Progress& progress = {}) const;
  /// SHA-256 of the bytes stored under the name `sha256` (equal to it unless the object is
  /// corrupt), read on the calling thread (util::sha256_read). Exit::missing when absent.
  std::string rehash(const std::string& sha256, const Progress& progress = {}) const;

  /// Writes the bytes that `fill` passes to its sink into a temp file in tmp/, hashing them;
  /// `fill` calls `restart` before sending the bytes again from the start (a retried
  /// download). The object enters the store only when the bytes hash to `sha256`; otherwise
  /// nothing is stored and Exit::integrity "object <sha> from <source> is corrupt: its N bytes
  /// hash to <other>" is thrown. An object already present is not downloaded again.
  using Fill = std::function<void(const std::function<void(const char*, std::size_t)>& sink,
                                  const std::function<void()>& restart)>;
  Stored put_verified(const std::string& sha256, const Fill& fill, const std::string& source);

  /// Names of all objects in the store (64-hex file names under objects/sha256/), unsorted.
  std::vector<std::string> list() const;
  /// Deletes object `sha256` (gc only). No error when it is absent.
  void remove(const std::string& sha256);
  /// Moves object `sha256` to `<root>/quarantine/<sha256>.<random>` (fsck) and returns that path.
  fs::path quarantine(const std::string& sha256);

 private:
  /// Links the finished temp file into place as `out.sha256` (sets out.existed on EEXIST).
  void install(util::TempFile& tmp, Stored& out);
  /// Opens object `sha256` for reading; Exit::missing when absent.
  util::Fd open_object(const std::string& sha256) const;
  fs::path root_;
};

/// Names of the objects under `<root>/objects/sha256/ab/cdef...` (the layout of the cache and
/// of folder remotes): every 2 + 62 hex digit path, unsorted; [] when there are none.
std::vector<std::string> list_objects_in(const fs::path& root);

}  // namespace mvc::store
