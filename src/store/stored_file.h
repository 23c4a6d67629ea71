// Reading a stored file in place (docs/repository-format.md, "Reading in place"): the bytes
// [begin, end) of a file the store keeps, without rebuilding it -- from its object when it is
// stored whole, from the segment objects that cover the range when it is stored as a manifest
// (store/manifest.h). A plain file (the work tree's) is read the same way, so that callers
// take either. Knows nothing of models: only offsets.
//
// Nothing is hashed: these reads never leave the store (no byte is written anywhere nor loaded
// into a model; `mvc diff`, textconv and the pre-push fit check read this way), as `git diff`
// does not re-hash the blobs it compares. What is checked: the manifest (its own checksum, as
// always) and each object's size against what the manifest records (a truncated segment is
// Exit::integrity). `mvc fsck` verifies the bytes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "store/manifest.h"

namespace mvc::store {

class ObjectStore;

/// Where bytes of a stored file lie when they lie in one object: equal spans of the same length hold equal bytes.
struct Span {
  std::string object;        ///< sha256 of the object holding them (a segment object, or the file's own)
  std::uint64_t offset = 0;  ///< of their first byte in that object
  bool operator==(const Span& o) const { return object == o.object && offset == o.offset; }
};

class StoredFile {
 public:
  /// File `sha256` of `store`: its object, or its manifest (read and checked now; segment objects
  /// are opened when first read). Exit::missing "object <sha> is not in the cache (<path>)" when
  /// neither is there; a damaged manifest as ObjectStore::manifest.
  StoredFile(const ObjectStore& store, const std::string& sha256);
  /// A plain file, e.g. the work tree's (Exit::failure when it cannot be opened).
  explicit StoredFile(const std::filesystem::path& path);
  ~StoredFile();
  StoredFile(const StoredFile&) = delete;
  StoredFile& operator=(const StoredFile&) = delete;

  std::uint64_t size() const;
  /// The name the store knows the file by ("" for a plain file).
  const std::string& sha256() const;
  /// The file as one file on disk (its object, or the plain file); empty when stored as a manifest.
  const std::filesystem::path& path() const;
  /// The manifest, when the file is stored as one.
  const std::optional<Manifest>& manifest() const;

  /// Where [begin, end) lies when it lies within one object of the store (a segment object, or
  /// the file's object); nullopt for a plain file or a range across segments. Reads nothing.
  std::optional<Span> span(std::uint64_t begin, std::uint64_t end) const;

  /// The bytes [begin, end) (within size()): a view of the object they lie in, mapped read-only
  /// (madvise sequential) and kept mapped while this lives; a range across segment objects is
  /// copied into `buf` (pread). `label` names the bytes in errors ("models/m/w.safetensors at v1:
  /// tensor 'fc.weight'"): Exit::missing "<label>: object <seg> (N bytes, segment i of n of file
  /// <sha>) is not in the cache", Exit::integrity "<label>: object <seg> is corrupt: it holds N
  /// bytes, not the M its manifest records (<path>)". Not thread-safe (map first, then share the view).
  std::string_view view(std::uint64_t begin, std::uint64_t end, std::string& buf, const std::string& label = "") const;
  /// Copies [begin, end) into `out` (pread; errors as view).
  void read(std::uint64_t begin, std::uint64_t end, char* out, const std::string& label = "") const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mvc::store
