// Manifests (docs/repository-format.md, "Object store"): a weights file stored as segment
// objects -- its header, each large tensor, runs of small tensors packed together -- is
// described by a manifest named by the whole file's SHA-256 (the pointer's), kept at
// `manifests/sha256/ab/cdef...` in the cache and on every remote. The file is the
// concatenation of its segments, in order. Text, one record a line:
//
//   mvc-manifest 1
//   file <sha256 of the whole file> <size>
//   seg <sha256 of the segment> <size>      (one line per segment, in file order)
//   end <sha256 of every byte above this line>
//
// Invariants: the segments' sizes add up to the file's size; every segment object is in the
// same store as the manifest before the manifest is (a manifest is written last, so a store
// never holds a manifest whose segments were not all written); the manifest is named by the
// file's SHA-256, which rebuilding verifies.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mvc::store {

/// The manifest format this mvc writes and reads; a higher one is Exit::not_repo.
inline constexpr int kManifestFormat = 1;

struct Segment {
  std::string sha256;
  std::uint64_t size = 0;
};

struct Manifest {
  std::string file_sha256;
  std::uint64_t size = 0;
  std::vector<Segment> segments;  ///< in file order; sizes add up to `size`
  /// Offset of segment `i` in the file.
  std::uint64_t offset(std::size_t i) const;
};

/// The manifest's text (the bytes stored).
std::string render_manifest(const Manifest& m);

/// Parses manifest text; `what` names it in errors. A damaged manifest (a bad line, a wrong
/// `end` checksum, sizes that do not add up, a `file` line naming another file than
/// `expected_sha`) is Exit::integrity; `mvc-manifest N` with N > kManifestFormat is
/// Exit::not_repo ("needs a newer mvc").
Manifest parse_manifest(std::string_view text, const std::string& expected_sha, const std::string& what);

/// Key of a manifest below a cache's or remote's root: "manifests/sha256/ab/cdef...". Validates the name.
std::string manifest_key(const std::string& file_sha256);

}  // namespace mvc::store
