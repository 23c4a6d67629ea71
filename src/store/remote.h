// Remotes (docs/repository-format.md, "Remotes"): places that hold objects under the cache's
// layout, `<root>/objects/sha256/ab/cdef...`. Each kind is a backend in store/remote_registry.h
// (its URL scheme, configuration keys and URL check) with its implementation in one file:
//   - a folder (a path or file:// URL: a shared or network disk), created on the first push;
//     an object is written to `<root>/tmp/<name>.<pid>@<host>.tmp.<random>` and renamed into
//     place (folder_remote.cpp);
//   - S3-compatible object storage (s3://bucket/prefix: AWS S3, MinIO, Ceph RGW, R2, s3rver),
//     spoken over HTTP(S) with libcurl and AWS Signature Version 4; an object is a single PUT
//     up to the multipart threshold, else a multipart upload that becomes visible only when
//     completed (S3's single-PUT limit is 5 GiB) (s3_remote.cpp).
// Either way an object is never visible half-written, so an interrupted push is simply redone;
// what an interrupted push leaves behind is reclaimed by a later push (Remote::reclaim).
// Besides objects, a remote holds manifests (`manifests/sha256/..`) and lock objects
// (`locks/<id>.json`, core/remote_lock.h) as small keyed entries (get_key/put_key/remove_key);
// `mvc gc --remote` lists entries with their age (list_entries) to delete what no version keeps.
// Every method is safe to call from several threads at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mvc::store {

namespace fs = std::filesystem;

/// A remote as configured (`[remote.NAME]` in .mvc/config.toml and config.local.toml).
struct RemoteSpec {
  std::string name;
  std::string url;  ///< "/path", "file:///path", "s3://bucket/prefix": its scheme picks the backend
  /// The backend's own keys (store/remote_registry.h), as written; integers in decimal.
  std::map<std::string, std::string> options;
  fs::path base_dir;  ///< a relative folder path is relative to this ("" = the current directory)

  /// Option `key`, "" when not set.
  const std::string& option(const std::string& key) const;
  /// Option `key` as a byte count, 0 when not set (values were checked by check_option).
  std::uint64_t size_option(const std::string& key) const;
};

/// Age after which another writer's leftover (a folder remote's temp file not written to, an
/// S3 multipart upload since it began) counts as abandoned: Remote::reclaim removes it.
constexpr std::chrono::hours kStaleUploadAge{24};

/// Receives downloaded bytes in order.
using Sink = std::function<void(const char* data, std::size_t n)>;

/// One entry below a remote's root (Remote::list_entries).
struct RemoteEntry {
  std::string key;                                 ///< below the root: "objects/sha256/ab/cdef...", "locks/<id>.json"
  std::uint64_t size = 0;                          ///< bytes
  std::chrono::system_clock::time_point modified;  ///< last written (a folder's mtime, S3's LastModified)
};

class Remote {
 public:
  virtual ~Remote() = default;
  /// "origin (s3://bucket/prefix)", for messages.
  virtual std::string describe() const = 0;
  /// Size of object `sha256` on the remote, or nullopt when absent.
  virtual std::optional<std::uint64_t> stat(const std::string& sha256) = 0;
  /// Uploads the local file `src` (`size` bytes) as object `sha256`, hashing the bytes on
  /// the way: if they do not hash to `sha256` nothing becomes visible and Exit::integrity is
  /// thrown naming `src`. Throws Exit::failure for transfer errors (after retries).
  virtual void put(const std::string& sha256, const fs::path& src, std::uint64_t size) = 0;
  /// Bytes of an upload sent so far, for progress (push's byte count, rate and time left).
  using Sent = std::function<void(std::uint64_t so_far)>;
  /// put(), calling `sent` with the bytes sent so far as they go out (from any thread; the
  /// count may go back when a retry starts over). This default reports the whole size once
  /// put() returns; a backend that can tell sooner overrides it.
  virtual void put_reporting(const std::string& sha256, const fs::path& src, std::uint64_t size, const Sent& sent) {
    put(sha256, src, size);
    if (sent) sent(size);
  }
  /// Streams object `sha256` into `sink`. Exit::missing when absent, Exit::failure otherwise.
  /// `sink` may be called again from the start after a retried transfer: `restart` is
  /// called before each retry.
  virtual void get(const std::string& sha256, const Sink& sink, const std::function<void()>& restart) = 0;
  /// Names of all objects on the remote (entries that are not 64-hex names are skipped).
  virtual std::vector<std::string> list() = 0;
  /// Deletes object `sha256`; deleting an absent object is not an error. Throws Exit::failure.
  virtual void remove(const std::string& sha256) = 0;
  /// The text of the manifest of file `sha256` (`manifests/sha256/ab/cdef...`, store/manifest.h),
  /// nullopt when absent. Throws Exit::failure for transfer errors.
  virtual std::optional<std::string> get_manifest(const std::string& sha256) = 0;
  /// Writes the manifest of file `sha256`, visible atomically. Push calls it only once every
  /// segment it names is on the remote, so a remote never holds a manifest with missing segments.
  virtual void put_manifest(const std::string& sha256, const std::string& text) = 0;
  /// Every entry whose key starts with `prefix` ("objects/sha256/", "manifests/sha256/",
  /// "locks/"), in no particular order; what is not a complete entry (a folder's temp files)
  /// is skipped. Throws Exit::failure. `mvc gc --remote` judges an object's age by `modified`.
  virtual std::vector<RemoteEntry> list_entries(const std::string& prefix) = 0;
  /// Small keyed entries (lock objects, `locks/<id>.json`; manifests too): the text of `key`,
  /// nullopt when absent; throws Exit::failure. Keys are checked by check_key.
  virtual std::optional<std::string> get_key(const std::string& key) = 0;
  /// Writes `text` as `key`, replacing what is there, visible atomically. Throws Exit::failure.
  virtual void put_key(const std::string& key, const std::string& text) = 0;
  /// Deletes `key`; an absent key is not an error. Throws Exit::failure.
  virtual void remove_key(const std::string& key) = 0;
  /// Best effort, never throws: removes what interrupted uploads left behind -- a folder's
  /// temp files whose writer is dead on this host, or (another host's) not written to for
  /// `grace`; an S3 prefix's multipart uploads begun more than `grace` ago. A live writer on
  /// this host is never disturbed. Returns how many were removed.
  virtual std::size_t reclaim(std::chrono::seconds grace) = 0;
};

/// Opens the remote described by `spec` with the backend of its URL's scheme
/// (store/remote_registry.h). Throws Exit::usage for an unsupported URL, Exit::failure for an
/// option the backend does not know or refuses, or what the backend throws (e.g. no S3 credentials).
std::unique_ptr<Remote> open_remote(const RemoteSpec& spec);

/// Key of an object below a remote's root: "objects/sha256/ab/cdef...". Validates the name.
std::string object_key(const std::string& sha256);
/// Throws Exit::failure unless `key` is a key below a remote's root that get_key/put_key/
/// remove_key may touch: "objects/", "manifests/" or "locks/" then path segments of
/// [A-Za-z0-9._-] that are not "." or "..".
void check_key(const std::string& key);

}  // namespace mvc::store
