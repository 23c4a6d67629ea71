// `mvc gc` and `mvc fsck` (docs/repository-format.md, "Object store": only gc deletes).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/transfer.h"
#include "core/workspace.h"
#include "util/progress.h"

namespace mvc::core {

struct GcOptions {
  bool dry_run = false;
  std::chrono::seconds grace{3600};  ///< objects and temp files younger than this are kept
  bool force = false;                ///< collect a configured (possibly shared) cache
};

struct GcResult {
  std::size_t referenced = 0;        ///< objects referenced (present or not)
  std::size_t kept = 0;              ///< objects kept (referenced or young)
  std::size_t kept_young = 0;        ///< unreferenced but within the grace period
  std::vector<std::string> deleted;  ///< (or that would be, with dry_run): objects, then unreferenced manifests
  std::uint64_t bytes = 0;           ///< bytes of `deleted`
  std::size_t temps_removed = 0;     ///< stale temp files in tmp/ (older than the grace period), and
                                     ///< .mvc/tmp/replaced.* files left by an interrupted checkout
};

/// Deletes cache objects that nothing references: kept are the objects referenced by the
/// work tree's pointers, the index, every commit reachable from HEAD, any branch, tag,
/// remote-tracking ref or the stash, and every commit in a reflog; and objects (and temp
/// files) newer than `grace`. Throws Exit::failure when the cache is configured with
/// `[cache] dir` (it may be shared by other repositories, whose references gc cannot see)
/// unless `force`.
/// `progress` counts the cache objects examined (bytes and objects).
GcResult gc(Workspace& ws, const GcOptions& opts, util::Progress& progress = util::no_progress());

/// Parses "90s", "15m", "1h", "2d", "1w" or a bare number of seconds. Throws Exit::usage.
std::chrono::seconds parse_duration(const std::string& s);

struct FsckResult {
  std::size_t checked = 0;            ///< cache objects re-hashed
  std::size_t manifests_checked = 0;  ///< manifests parsed (checksum, sizes) and their segments looked for
  struct Corrupt {
    std::string sha256;
    std::string moved_to;  ///< quarantine path ("" for a remote object)
    std::string got;       ///< what the bytes hash to
  };
  std::vector<Corrupt> corrupt;  ///< in the cache (moved to quarantine), damaged manifests included
  std::size_t remote_checked = 0;
  std::vector<Corrupt> remote_corrupt;  ///< on the remote (reported, left there)
  std::vector<ObjectRef> missing;       ///< referenced, in neither the cache nor the remote
  struct WrongSize {
    std::string sha256;
    std::string where;           ///< the pointer, as ObjectRef::where
    std::uint64_t recorded = 0;  ///< the size it records (bytes)
    std::uint64_t actual = 0;    ///< the intact cache object's size (bytes)
  };
  std::vector<WrongSize> wrong_size;  ///< pointers whose size is not their intact object's
};

/// Re-hashes every cache object on `jobs` threads, moving corrupt ones to
/// `<cache>/quarantine/`; with a remote, re-hashes every object on it too (downloading it),
/// and counts an object as present when either side has a good copy. `missing` lists the
/// referenced objects (same scope as gc) found nowhere; `wrong_size` the pointers whose
/// recorded size is not that of their object in the cache (which re-hashed right).
/// `progress` counts the bytes re-hashed, of the cache objects and then of the remote's.
FsckResult fsck(Workspace& ws, store::Remote* remote, int jobs, util::Progress& progress = util::no_progress());

}  // namespace mvc::core
