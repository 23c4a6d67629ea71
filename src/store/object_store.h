// The content-addressed object store (docs/repository-format.md, "Object store", after git and restic):
//   <root>/objects/sha256/ab/cdef...   objects, named by the SHA-256 of their bytes, mode 0444 & ~umask
//   <root>/tmp/                        temp files (same filesystem), "<name>.mvc-tmp.<hex>.<pid>@<host>"
//   <root>/manifests/sha256/ab/cdef... a file stored as segments (store/manifest.h), named by the whole file's SHA-256
// Objects are written once and never changed; only gc deletes. Reads that leave the store
// (to the workspace, to a model load) verify the hash.
//
// Every method below takes the name of a whole file (the SHA-256 a pointer records) and works
// whichever way the file is stored: as one object (objects/), or as a manifest and its segment
// objects (a safetensors weights file: its header, each large tensor, runs of small tensors),
// so that versions that share tensors store them once. The Splitter decides how a file is cut.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "store/manifest.h"
#include "util/fs.h"

namespace mvc::store {

namespace fs = std::filesystem;

/// The cache layout (`<root>/layout`, "mvc-cache-layout N") that manifests need: an mvc that
/// reads only layout 1 would take segment objects for garbage (its gc) and so must refuse such
/// a cache (exit 3). put_manifest raises a layout-1 cache to 2 before its first manifest.
inline constexpr int kLayoutManifests = 2;

/// How files are cut into segments (installed by core, which knows the weights formats).
struct Splitter {
  /// Start offsets of the segments of `file` (`size` bytes): 0 first, strictly increasing, each below `size`.
  /// Fewer than two: the file is stored whole. Must not throw for a file it cannot parse (store it whole).
  std::function<std::vector<std::uint64_t>(const fs::path& file, std::uint64_t size)> cuts;
  /// What bytes [begin, end) of the file of `file_size` bytes hold, for messages ("tensor 'fc.weight'", "the header");
  /// `file` is a rebuilt copy whose first segment (the header) is in place. "" when unknown. Must not throw.
  std::function<std::string(const fs::path& file, std::uint64_t file_size, std::uint64_t begin, std::uint64_t end)>
      name;
};

class ObjectStore {
 public:
  /// `root` is the cache directory (`<git common dir>/mvc/cache`, or `[cache] dir`); created on first write.
  explicit ObjectStore(fs::path root);

  const fs::path& root() const { return root_; }
  /// Path of object `sha256`. Throws mvc::Error(Exit::failure) unless `sha256` is 64
  /// lowercase hex digits (store paths are never built from unvalidated strings).
  fs::path object_path(const std::string& sha256) const;
  /// True when file `sha256` is stored: as an object, or as a manifest (whose segments were written before it).
  bool contains(const std::string& sha256) const;
  /// True when file `sha256` is stored as one object (objects/sha256/...).
  bool has_object(const std::string& sha256) const;
  /// Path of the manifest of file `sha256` (manifests/sha256/...); validates the name.
  fs::path manifest_path(const std::string& sha256) const;
  /// Where file `sha256` is kept: "object <path>" when stored whole, else "manifest <path>".
  std::string location(const std::string& sha256) const;
  /// The manifest of file `sha256`, or nullopt when there is none. Exit::integrity when it is damaged.
  std::optional<Manifest> manifest(const std::string& sha256) const;
  /// The file's size: its object's, or what its manifest records; nullopt when not stored.
  std::optional<std::uint64_t> file_size(const std::string& sha256) const;
  /// True when file `sha256` can be rebuilt from the store: its object, or its manifest and every segment.
  bool complete(const std::string& sha256) const;
  /// For a file stored as a manifest whose segments are not all here: "object SHA: tensor 'x' (object SEG, N bytes)
  /// is not in the cache"; "" otherwise.
  std::string missing_message(const std::string& sha256) const;
  /// The segments of manifest `m` that are not in the store.
  std::vector<Segment> missing_segments(const Manifest& m) const;

  void set_splitter(Splitter s) { splitter_ = std::move(s); }

  struct Stored {
    std::string sha256;
    std::uint64_t size = 0;
    bool existed = false;           ///< the object was already in the store
    struct stat st {};              ///< the source's fstat before it was read (equal after)
    std::int64_t hashed_at_ns = 0;  ///< util::coarse_now_ns() before reading began
    std::size_t segments = 0;       ///< segments of its manifest (0: stored as one object)
    std::uint64_t written = 0;      ///< bytes of new objects written (0 when every one was there)
  };
  /// Called after each chunk with the bytes done so far.
  using Progress = std::function<void(std::uint64_t done)>;

  /// Stores the bytes of `src` in one streaming pass: read, hash and write a temp file in
  /// tmp/ (util::sha256_stream: hashing on this thread overlaps the I/O on another), check that the byte count equals
  /// the file size before and after (a file that changes while it is read is refused: Exit::failure "changed while
  /// being read"), fsync, link into place (EEXIST: another writer stored the same bytes), fsync the directory, chmod
  /// 0444 & ~umask. On any failure no object and no temp file remain.
  /// A file the Splitter cuts into segments is instead read twice at once (two threads: the
  /// whole file's SHA-256, the segments' SHA-256s); only the segments not in the store are copied
  /// (copy_file_range), re-hashed and installed, then the manifest last.
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
  /// Stores manifest `m` (its text) when absent. Call only once every segment is in the store.
  void put_manifest(const Manifest& m);

  /// A path from which file `sha256` can be read in place, verified: its object, or for a
  /// manifest a rebuilt copy in tmp/ (removed when the process exits). Errors as copy_out_verified.
  fs::path readable_path(const std::string& sha256, const Progress& progress = {});

  /// Names of all objects in the store (64-hex file names under objects/sha256/), unsorted.
  std::vector<std::string> list() const;
  /// Deletes object `sha256` (gc only). No error when it is absent.
  void remove(const std::string& sha256);
  /// Names of the files stored as manifests.
  std::vector<std::string> list_manifests() const;
  /// Deletes the manifest of `sha256` (gc only). No error when it is absent.
  void remove_manifest(const std::string& sha256);
  /// Moves object `sha256` to `<root>/quarantine/<sha256>.<random>` (fsck) and returns that path.
  fs::path quarantine(const std::string& sha256);
  /// Moves the manifest of `sha256` to `<root>/quarantine/<sha256>.manifest.<random>` (fsck) and returns that path.
  fs::path quarantine_manifest(const std::string& sha256);

 private:
  /// Links the finished temp file into place as `out.sha256` (sets out.existed on EEXIST).
  void install(util::TempFile& tmp, Stored& out);
  /// Opens object `sha256` for reading; Exit::missing when absent.
  /// Moves `p` into quarantine/ as `<prefix><8 random hex>`; returns where it went.
  fs::path move_to_quarantine(const fs::path& p, const std::string& prefix);
  util::Fd open_object(const std::string& sha256) const;
  Stored put_split(const fs::path& src, util::Fd& in, const struct stat& before, std::vector<std::uint64_t> cuts,
                   const Progress& progress);
  /// Rebuilds file `m` into `out` (empty, at offset 0) while hashing the segment objects read in order;
  /// Exit::missing / Exit::integrity naming the segment's tensor.
  void assemble(const Manifest& m, const util::TempFile& out, const Progress& progress) const;
  /// SHA-256 of the concatenated segments of `m` (Exit::missing naming the first absent one).
  std::string hash_segments(const Manifest& m, const Progress& progress) const;
  /// SHA-256 of the segment objects' bytes in order, read on this thread; `total` counts the
  /// bytes read (Exit::missing from open_object when one is absent).
  std::string hash_segment_objects(const Manifest& m, const Progress& progress, std::uint64_t& total) const;
  /// "tensor 'x'" for segment `i` of `m`, via the Splitter reading the header segment ("segment N of M" when unknown).
  std::string segment_name(const Manifest& m, std::size_t i) const;
  std::string missing_message(const Manifest& m) const;
  fs::path root_;
  Splitter splitter_;
};

/// Names of the objects under `<root>/objects/sha256/ab/cdef...` (the layout of the cache and
/// of folder remotes): every 2 + 62 hex digit path, unsorted; [] when there are none.
std::vector<std::string> list_objects_in(const fs::path& root);

}  // namespace mvc::store
