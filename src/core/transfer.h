// Moving objects between the cache and a remote: `mvc push`, `mvc fetch` (and so `mvc pull`
// and checkout's fetch of missing objects), plus the reachability walk that push, gc and
// fsck share.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/workspace.h"
#include "store/remote.h"
#include "util/progress.h"

namespace mvc::core {

/// An object a pointer refers to (the weights, or an [example] input/output).
struct ObjectRef {
  std::string sha256;
  std::string where;  ///< "models/clf/weights.safetensors.mvc at 1a2b3c4", for messages
  /// Each size (bytes) the pointers naming it record, with the first pointer recording it
  /// (empty for example objects, whose size no pointer records).
  std::map<std::uint64_t, std::string> sizes;
};

struct RefScope {
  std::vector<std::string> revs;  ///< revisions whose trees are scanned
  bool workspace = false;         ///< the work tree's pointers and the index's
  bool history = false;           ///< every commit reachable from `revs` too
  bool all_refs = false;          ///< add every ref (branches, tags, remote-tracking, stash) and HEAD
  bool reflogs = false;           ///< add every commit in any reflog (gc)
  /// Only the pointers of these model directories (repository-relative, normalised; `fetch` /
  /// `pull -- PATH...`); empty = every model directory.
  std::vector<std::string> dirs;
};

/// The objects referenced within `scope`, each once (sorted by name). Pointer files that do
/// not parse are skipped in history (they cannot be restored anyway) but are errors in the
/// work tree (Exit::model).
std::vector<ObjectRef> referenced_objects(Workspace& ws, const RefScope& scope);

/// Opens remote `name` ("" = the default remote, [core] remote). A folder remote's relative
/// path is relative to the repository root. Throws Exit::failure when there is no such remote
/// or no default one.
std::unique_ptr<store::Remote> open_remote(const Workspace& ws, const std::string& name);

struct TransferResult {
  std::size_t transferred = 0;    ///< files (the objects pointers name) sent / received, whole or in part
  std::size_t present = 0;        ///< already on the other side
  std::uint64_t bytes = 0;        ///< bytes actually sent / received
  std::uint64_t skipped = 0;      ///< bytes not sent because the other side had them (whole files and shared segments)
  std::size_t objects_moved = 0;  ///< store objects sent / received (whole files and segments; manifests not counted)
  double seconds = 0;
  std::vector<ObjectRef> missing;  ///< push: in neither the cache nor the remote; fetch: not on the remote
  /// The files sent / received with the bytes moved for each (for -v).
  std::vector<std::pair<ObjectRef, std::uint64_t>> moved;
};

/// Where push and fetch report progress: start() with the objects' recorded sizes and count,
/// then the bytes received as they arrive (fetch) or each object's size once sent (push), and
/// item_done() per object (those already on the other side count as done at once).
using TransferProgress = util::Progress;

/// Sends the objects the remote lacks, `jobs` at a time, after reclaiming what earlier
/// interrupted pushes left on the remote (Remote::reclaim, store::kStaleUploadAge). An object missing from the cache
/// and the remote is recorded in `missing` (the rest are still pushed). Throws Exit::integrity when a cache object is
/// corrupt (nothing of it is pushed), Exit::failure on transfer errors.
TransferResult push(Workspace& ws, store::Remote& remote, const std::vector<ObjectRef>& objects, int jobs,
                    TransferProgress& progress = util::no_progress());

/// Downloads the objects the cache lacks, `jobs` at a time; each is hashed and enters the
/// cache only when it matches (Exit::integrity naming the object and the remote otherwise).
/// Objects absent from the remote are recorded in `missing`.
TransferResult fetch(Workspace& ws, store::Remote& remote, const std::vector<ObjectRef>& objects, int jobs,
                     TransferProgress& progress = util::no_progress());

/// The default worker count: $MVC_JOBS, else 4.
int default_jobs();

}  // namespace mvc::core
