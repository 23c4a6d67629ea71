// Remotes (DESIGN.md §2): places that hold objects under the cache's layout,
// `<root>/objects/sha256/ab/cdef...`. Two kinds:
//   - a folder (a path or file:// URL: a shared or network disk), created on the first push;
//     an object is written to `<root>/tmp/<name>.tmp.<random>` and renamed into place;
//   - S3-compatible object storage (s3://bucket/prefix: AWS S3, MinIO, Ceph RGW, R2, s3rver),
//     spoken over HTTP(S) with libcurl and AWS Signature Version 4; an object is a single PUT
//     up to the multipart threshold, else a multipart upload that becomes visible only when
//     completed (S3's single-PUT limit is 5 GiB).
// Either way an object is never visible half-written, so an interrupted push is simply redone.
// Every method is safe to call from several threads at once.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mvc::store {

namespace fs = std::filesystem;

/// A remote as configured (`[remote.NAME]` in .mvc/config.toml and config.local.toml).
struct RemoteSpec {
  std::string name;
  std::string url;           ///< "/path", "file:///path" or "s3://bucket/prefix"
  std::string endpoint_url;  ///< S3: "http://127.0.0.1:9000"; "" = AWS
  std::string region;        ///< S3: "" = $AWS_REGION, $AWS_DEFAULT_REGION, else us-east-1
  std::string addressing;    ///< S3: "path", "virtual" or "" (virtual for AWS, path with an endpoint)
  std::string access_key_id, secret_access_key, session_token;  ///< "" = $AWS_* variables
  std::uint64_t multipart_threshold = 0;  ///< bytes; 0 = 64 MiB. Objects larger than this use multipart
  std::uint64_t part_size = 0;            ///< bytes; 0 = 64 MiB (S3: at least 5 MiB but the last)
};

/// Receives downloaded bytes in order.
using Sink = std::function<void(const char* data, std::size_t n)>;

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
  /// Streams object `sha256` into `sink`. Exit::missing when absent, Exit::failure otherwise.
  /// `sink` may be called again from the start after a retried transfer: `restart` is
  /// called before each retry.
  virtual void get(const std::string& sha256, const Sink& sink, const std::function<void()>& restart) = 0;
  /// Names of all objects on the remote (entries that are not 64-hex names are skipped).
  virtual std::vector<std::string> list() = 0;
};

/// Opens the remote described by `spec`. Throws Exit::usage for an unsupported URL,
/// Exit::failure for missing S3 credentials.
std::unique_ptr<Remote> open_remote(const RemoteSpec& spec);

/// Key of an object below a remote's root: "objects/sha256/ab/cdef...". Validates the name.
std::string object_key(const std::string& sha256);

}  // namespace mvc::store
