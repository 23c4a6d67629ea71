// `mvc gc` and `mvc fsck` (docs/repository-format.md, "Object store": only gc deletes).
#pragma once

#include <chrono>
#include <cstdint>
#include <set>
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
  std::size_t kept = 0;              ///< objects and manifests kept (referenced or young)
  std::size_t kept_manifests = 0;    ///< of `kept`, manifests
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

/// Which versions gc keeps -- the one computation of it, for the cache and for remotes.
struct KeepScope {
  /// The cache (`mvc gc`): also what only this clone sees -- every reflog entry and the
  /// other worktrees' HEADs, indexes and work trees. A remote (`mvc gc --remote`): what any
  /// clone may need -- every ref (branches, tags, remote-tracking refs, the stash) and HEAD.
  bool local = true;
  /// Remote only, > 0: of the versions of a model (a pointer file's distinct contents) on a
  /// branch (local or remote-tracking, or a detached HEAD) that no tag or alias names, keep only
  /// the `keep_last` newest; a tag or an alias keeps the version at its commit (not its history).
  int keep_last = 0;
  bool force = false;  ///< skip another worktree that cannot be read (local)
};

/// The objects (files' SHA-256s: whole-file objects or manifests' names, and [example]
/// objects) of the kept versions: every version in the work tree and the index, every
/// version in the history of the scope's refs, and the version each alias names
/// (`.mvc/aliases.toml` of the work tree and at every branch and tag). Throws as gc().
std::set<std::string> kept_files(Workspace& ws, const KeepScope& scope);

struct RemoteGcOptions {
  bool dry_run = false;
  std::chrono::seconds grace{3600};  ///< remote objects and manifests written more recently are kept
  int keep_last = 0;                 ///< KeepScope::keep_last
  bool fetch_git = true;             ///< `git fetch` every git remote first
  bool force = false;                ///< collect from a shallow clone
};

struct RemoteGcResult {
  std::vector<std::string> git_fetched;  ///< git remotes fetched first
  std::size_t versions_kept = 0;         ///< files kept (kept_files)
  struct Item {
    std::string kind;  ///< "object" or "manifest"
    std::string sha256;
    std::uint64_t size = 0;
  };
  std::vector<Item> deleted;  ///< (or that would be): manifests first, then objects, each sorted
  std::uint64_t bytes = 0;    ///< bytes of `deleted`
  std::size_t kept_objects = 0, kept_manifests = 0;
  std::uint64_t kept_bytes = 0;
  std::size_t kept_young = 0;     ///< of the kept, unreferenced but younger than the grace period
  std::size_t locks_removed = 0;  ///< stale lock objects of others removed
};

/// `mvc gc --remote NAME`: deletes the objects and manifests of `remote` that no kept version
/// (kept_files with KeepScope{local = false}) needs, after `git fetch` of the git remotes. A
/// kept file keeps its object or its manifest and every segment that manifest names; a segment
/// goes only when no kept (or young) manifest names it, and manifests go before segments.
/// Objects younger than `grace` are never deleted. Holds the remote's exclusive lock
/// (core/remote_lock.h) unless `dry_run`: Exit::lock when another client holds a live lock.
/// A damaged kept manifest stops it (Exit::integrity, nothing deleted). `progress` counts the
/// remote entries examined.
RemoteGcResult gc_remote(Workspace& ws, store::Remote& remote, const RemoteGcOptions& opts,
                         util::Progress& progress = util::no_progress());

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
  std::vector<Corrupt> remote_corrupt;       ///< on the remote (reported, left there), damaged manifests included
  std::size_t remote_manifests_checked = 0;  ///< the remote's manifests parsed and their segments looked for
  struct MissingSegment {
    std::string manifest;  ///< the file's SHA-256 (the manifest's name)
    std::string segment;   ///< the segment object absent (or corrupt) on the remote
  };
  std::vector<MissingSegment> remote_missing_segments;  ///< sorted
  std::vector<ObjectRef> missing;                       ///< referenced, in neither the cache nor the remote
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
/// and counts an object as present when either side has a good copy; every manifest on the
/// remote must parse and name only segments the remote holds intact (`remote_missing_segments`),
/// and a file the remote holds as a manifest with all its segments counts as on the remote. `missing` lists the
/// referenced objects (same scope as gc) found nowhere; `wrong_size` the pointers whose
/// recorded size is not that of their object in the cache (which re-hashed right).
/// `progress` counts the bytes re-hashed, of the cache objects and then of the remote's.
FsckResult fsck(Workspace& ws, store::Remote* remote, int jobs, util::Progress& progress = util::no_progress());

}  // namespace mvc::core
