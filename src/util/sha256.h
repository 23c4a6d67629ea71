// Streaming SHA-256 (FIPS 180-4) over OpenSSL's EVP interface, which uses the CPU's SHA
// extensions where present.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace mvc::util {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, std::size_t n);
  void update(std::string_view s) { update(s.data(), s.size()); }
  /// The digest as 64 lowercase hex characters. Call once.
  std::string hex_digest();

 private:
  void* ctx_;  // EVP_MD_CTX*
};

/// SHA-256 of a file's bytes, as 64 lowercase hex characters. Throws mvc::Error(failure) on I/O error.
/// Large files are read on one thread and hashed on another (see sha256_stream).
std::string sha256_file(const std::filesystem::path& path, std::uint64_t* size_out = nullptr);

class Fd;

struct StreamResult {
  std::string sha256;      ///< 64 lowercase hex characters
  std::uint64_t size = 0;  ///< bytes read
};

/// Reads `in` to its end once, hashing every byte and, when `out` is given, writing it to
/// `out` as well. Double-buffered: an I/O thread reads chunks (kStreamChunk bytes, up to
/// kStreamChunks in flight) and writes them while the calling thread hashes them, so SHA-256
/// (the bound: about 1.5 GB/s a core with SHA extensions) overlaps the I/O. When writing, the
/// kernel is asked to start writeback every 64 MiB (sync_file_range), so that the caller's
/// final fsync has little left to do. `progress` is called on the calling thread with the
/// bytes hashed so far. Throws mvc::Error(Exit::failure) naming the path on I/O errors.
StreamResult sha256_stream(const Fd& in, const std::filesystem::path& in_path, const Fd* out = nullptr,
                           const std::filesystem::path& out_path = {},
                           const std::function<void(std::uint64_t)>& progress = {});

/// SHA-256 of the bytes behind `in` from offset 0 to its end, read with pread() into one
/// kIoBufferSize buffer on the calling thread only. For callers that keep the other cores busy
/// themselves (checkout copies on one while it hashes on this one; fsck hashes one object per
/// core): sha256_stream's reader thread would compete with them. A read error is an
/// mvc::Error(Exit::failure) naming `path` (never a signal, as a memory mapping would give).
StreamResult sha256_read(const Fd& in, const std::filesystem::path& path,
                         const std::function<void(std::uint64_t)>& progress = {});

/// Copies `in` (from its current offset to its end) to `out` inside the kernel
/// (copy_file_range, kCopyChunk bytes a call) on one thread while the calling thread hashes
/// what has arrived in `out` (pread behind the copy): the digest is of the bytes written, and
/// the copy costs no user-space read/write. Where copy_file_range is not supported (other
/// filesystems, EXDEV...) it falls back to sha256_stream(in, in_path, &out, out_path).
/// `out` must be open for reading and writing and empty. With `sync_out`, the copying thread
/// fsyncs `out` as soon as the copy is done, overlapping the flush with the rest of the hash.
/// Throws mvc::Error(Exit::failure) naming the path ("write failed: ..." when the copy fails).
StreamResult copy_and_hash(const Fd& in, const std::filesystem::path& in_path, const Fd& out,
                           const std::filesystem::path& out_path,
                           const std::function<void(std::uint64_t)>& progress = {}, bool sync_out = false);
inline constexpr std::size_t kCopyChunk = 64 << 20;

/// Chunk size and chunks in flight of sha256_stream.
inline constexpr std::size_t kStreamChunk = 4 << 20;
inline constexpr std::size_t kStreamChunks = 4;

/// SHA-256 of a byte string, as 64 lowercase hex characters.
std::string sha256_hex(std::string_view bytes);

/// True when `s` is exactly 64 lowercase hex digits (a valid object name).
bool is_sha256_hex(std::string_view s);

}  // namespace mvc::util
