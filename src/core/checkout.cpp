#include "core/checkout.h"
#include "core/example.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <optional>
#include <set>

#include "arch/arch.h"
#include "core/alias.h"
#include "core/conflict.h"
#include "core/model_check.h"
#include "core/model_version.h"
#include "core/transfer.h"
#include "mvc/error.h"
#include "util/fs.h"
#include "util/process.h"

namespace mvc::core {

namespace {

std::string dir_display(const std::string& dir) { return dir.empty() ? "." : dir; }

/// A verified copy of an object in a temp file beside its work-tree path, not yet in place.
struct Placement {
  util::TempFile temp;
  std::int64_t mtime_ns = -1;  // temp's mtime, set to when the copy began (-1: not set)
};

/// Copies object `sha` (verified) into a temp file beside `path`, mode 0666 & ~umask (as git
/// writes work-tree files; util::TempFile).
Placement prepare(Workspace& ws, const std::string& sha, std::uint64_t size, const fs::path& path,
                  util::Progress& progress) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  const std::int64_t started = util::coarse_now_ns();
  Placement pl{ws.store().copy_out_verified(sha, size, path.parent_path(), path.filename().string(),
                                            util::ProgressDelta(progress))};
  // The file's mtime is the time its bytes began to be produced: a tick older than the
  // moment it is recorded in the stat cache (after the rename, in place()), so the next
  // command can trust the entry instead of rereading the file; any later write moves the
  // mtime on.
  struct timespec times[2];
  times[0].tv_sec = 0;
  times[0].tv_nsec = UTIME_OMIT;
  times[1].tv_sec = started / 1000000000LL;
  times[1].tv_nsec = started % 1000000000LL;
  if (::futimens(pl.temp.fd().get(), times) == 0) pl.mtime_ns = started;
  return pl;
}

/// Asks the kernel to drop the page cache of the file about to be replaced (its clean pages;
/// the file itself is untouched). The copy that follows then reuses those just-freed pages, as
/// `cp` over a file does after truncating it; without this, writing 1 GiB beside a cached
/// 1 GiB file took 1.5-4 s instead of 0.4 s on this project's VMs (page allocation).
void drop_cached_pages(const fs::path& p) {
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return;
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

/// Replaced work-tree files at least this large are freed after checkout returns (see place()).
constexpr std::uint64_t kDeferFreeBytes = 64ull << 20;

/// Puts the prepared copy at work-tree file `rel` and records it in the stat cache. The old
/// file is swapped out atomically (TempFile::exchange_into: no writeback forced inside a
/// rename), then removed: at once when small; when at least kDeferFreeBytes, moved to
/// `.mvc/tmp/replaced.<random>` and appended to `replaced`, for the caller to unlink after
/// its work (util::unlink_detached), because freeing a large file's blocks can cost most of a
/// second a GiB (ext4 mounted with online discard: 0.3-0.7 s here). Only reached once every
/// object is verified: a failed checkout replaces nothing.
void place(Workspace& ws, Placement& pl, const std::string& rel, const std::string& sha, std::uint64_t size,
           std::vector<fs::path>& replaced) {
  const fs::path path = ws.root() / rel;
  // No fsync, as git writes work-tree files: the durable copy is the object in the cache,
  // and a file torn by a crash is reported modified and restored by checkout.
  fs::path old = pl.temp.exchange_into(path);
  if (!old.empty()) {
    struct stat ost {};
    if (::lstat(old.c_str(), &ost) == 0 && static_cast<std::uint64_t>(ost.st_size) >= kDeferFreeBytes) {
      std::error_code ec;
      fs::path dir = ws.mvc_dir() / "tmp";
      fs::create_directories(dir, ec);
      fs::path aside = dir / ("replaced." + util::random_hex(12));
      replaced.push_back(::rename(old.c_str(), aside.c_str()) == 0 ? aside : old);
    } else {
      ::unlink(old.c_str());
    }
  }
  struct stat st {};
  // Unless something wrote the file since (its mtime would have moved).
  if (pl.mtime_ns >= 0 && ::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
      static_cast<std::uint64_t>(st.st_size) == size && util::timespec_ns(st.st_mtim) == pl.mtime_ns)
    ws.stat_cache().record(rel, st, sha, util::coarse_now_ns());
}

/// One weights file of a version being restored (several for sharded weights).
struct Piece {
  WeightsFileRecord file;
  std::string rel;                // work-tree path, repository-relative
  std::optional<Placement> copy;  // verified copy, renamed into place last
  PointerFile pointer;            // the version's pointer reduced to this file (check_pointer_size)
};

struct Target {
  std::string dir;
  PointerFile pointer;
  ModelVersion version;            // the version being restored (core/model_version.h)
  std::vector<Piece> pieces;       ///< the weights files, then the optimizer state's (stored_files)
  std::size_t weights_pieces = 0;  ///< how many of `pieces` are weights files
  /// Work-tree weights files of the version the work tree had (its pointer) that the restored
  /// version lacks: removed once the new files are in place.
  std::vector<std::string> stale;
  RestoredModel result;

  void make_pieces() {
    pieces.clear();
    weights_pieces = pointer.pointer.files().size();
    for (const auto& f : pointer.pointer.stored_files()) {
      Piece pc;
      pc.file = f;
      pc.rel = join(dir, f.path);
      pc.pointer = pointer;
      pc.pointer.pointer.set_files({f});
      pieces.push_back(std::move(pc));
    }
  }
};

/// Refuses to overwrite (or remove) weights that exist nowhere else (not in the cache).
/// `current_sha`: of the work tree's weights file `rel`, "" when it is absent or not a regular file.
void check_weights_safe(const Workspace& ws, const Target& t, const std::string& rel, const std::string& want,
                        const std::string& current_sha) {
  if (current_sha.empty()) return;
  if (current_sha == want) return;
  if (!ws.store().contains(current_sha))
    throw Error(Exit::failure, rel + ": local weights are not committed and would be lost; run 'mvc commit " +
                                   dir_display(t.dir) + "' first, or use --force");
}

/// The sources of a target's version for the checks: its files' temp copies, else the work tree's.
ModelSource target_source(Workspace& ws, const Target& t) {
  std::vector<fs::path> paths;
  for (std::size_t k = 0; k < t.weights_pieces; ++k) {
    const Piece& pc = t.pieces[k];
    paths.push_back(pc.copy ? pc.copy->temp.path() : ws.root() / pc.rel);
  }
  // Errors name the work-tree files, not the temp copies that are removed on the way out.
  ModelSource source = t.version.source(paths[0]);
  for (std::size_t i = 1; i < paths.size() && i - 1 < source.extra_weights.size(); ++i)
    source.extra_weights[i - 1] = paths[i];
  return source;
}

/// Verifies objects into temp files beside their targets, checks or loads the models, then
/// calls `update_git` (index, work tree, HEAD) and renames the weights into place (appending to
/// `replaced`, see place()).
void restore_targets(Workspace& ws, const CheckoutRequest& req, std::vector<Target>& targets,
                     std::map<std::string, std::string>& current_sha, std::vector<fs::path>& replaced,
                     const std::function<void()>& update_git) {
  util::Progress& progress = req.progress ? *req.progress : util::no_progress();
  std::vector<Piece*> to_copy;
  std::uint64_t total = 0;
  for (auto& t : targets)
    for (auto& pc : t.pieces) {
      if (current_sha.count(pc.rel) && current_sha[pc.rel] == pc.file.sha256)
        continue;  // the work tree has it (maybe its only copy)
      to_copy.push_back(&pc);
      total += pc.file.size;
    }
  if (!to_copy.empty()) progress.start(total, to_copy.size());
  for (Piece* pc : to_copy) {
    check_pointer_size(ws, pc->pointer);
    drop_cached_pages(ws.root() / pc->rel);
    progress.item(pc->rel);
    pc->copy.emplace(prepare(ws, pc->file.sha256, pc->file.size, ws.root() / pc->rel, progress));
    progress.item_done();
  }

  // Without a rebuild, still check the weights' header against the architecture (torch-free).
  if (!req.load) {
    for (auto& t : targets) {
      std::string arch_name = join(t.dir, kArchFile);
      arch::Architecture a = arch::parse_architecture(t.version.arch_text, arch_name,
                                                      t.version.hparams_text.value_or(""), t.version.hparams_name);
      const LoadOptions& lo = t.pointer.pointer.load;
      if (t.weights_pieces == 1) {
        fs::path weights = t.pieces[0].copy ? t.pieces[0].copy->temp.path() : ws.root() / t.pieces[0].rel;
        check_fit(a, inspect_weights(weights, t.pieces[0].rel, lo), t.pieces[0].rel, arch_name, lo.cast);
      } else {
        WeightsInfo all;
        all.kind = "safetensors";
        std::vector<std::string> rels;
        for (std::size_t k = 0; k < t.weights_pieces; ++k) {
          const Piece& pc = t.pieces[k];
          fs::path weights = pc.copy ? pc.copy->temp.path() : ws.root() / pc.rel;
          rels.push_back(pc.rel);
          for (auto& ti : inspect_weights(weights, pc.rel, lo).tensors) all.tensors.push_back(std::move(ti));
        }
        check_fit(a, all, shards_display(t.dir, rels), arch_name, lo.cast);
      }
    }
  }

  // Rebuild and load strictly, from the verified bytes.
  if (req.load) {
    for (auto& t : targets) {
      const ModelSource source = target_source(ws, t);
      // LibTorch's start and the module's build and load report nothing measurable.
      progress.phase("rebuilding " + (t.dir.empty() ? std::string(".") : t.dir) + " in LibTorch, loading its weights");
      t.result.load = torch_load_check(source);
      t.result.loaded = true;
      // The reproducibility record: the restored version must still compute its example.
      if (t.pointer.pointer.example) {
        verify_example(ws, t.dir, t.pointer.pointer, source);
        t.result.example_verified = true;
      }
    }
  }

  // Touch the work tree: git files first, then the weights.
  update_git();
  for (auto& t : targets) {
    for (auto& pc : t.pieces) {
      if (!pc.copy) continue;
      place(ws, *pc.copy, pc.rel, pc.file.sha256, pc.file.size, replaced);
      pc.copy.reset();
      t.result.written = true;
    }
    // Shards of the previous version that this one lacks (checked safe to remove in finish()).
    for (const auto& rel : t.stale) {
      std::error_code ec;
      fs::remove(ws.root() / rel, ec);
      t.result.removed.push_back(rel);
    }
  }
}

/// Hashes the work tree's current weights of `targets` (stat cache, then the misses in
/// parallel), fetches the objects the cache lacks from the default remote and refuses to
/// overwrite weights that exist nowhere else (unless `force`); nothing in the work tree changes.
/// Then restore_targets(); appends the restored models to `result`.
void finish(Workspace& ws, const CheckoutRequest& req, std::vector<Target>& targets,
            const std::function<void()>& update_git, CheckoutResult& result) {
  // The files of the work tree's current version that the restored one lacks (sharded weights
  // whose shard set changed, or a switch between one file and shards).
  for (auto& t : targets) {
    t.make_pieces();
    std::optional<PointerFile> now;
    try {
      now = workspace_pointer(ws, t.dir);
    } catch (const Error&) {  // an invalid work-tree pointer names nothing to remove
    }
    // (and an optimizer state file the restored version does not store).
    if (!now || (!now->pointer.sharded() && !t.pointer.pointer.sharded() && !now->pointer.optimizer)) continue;
    std::set<std::string> keep;
    for (const auto& pc : t.pieces) keep.insert(pc.rel);
    for (const auto& f : now->pointer.stored_files())
      if (std::string rel = join(t.dir, f.path); !keep.count(rel)) {
        struct stat st {};
        if (::lstat((ws.root() / rel).c_str(), &st) == 0 && S_ISREG(st.st_mode)) t.stale.push_back(rel);
      }
  }
  std::map<std::string, std::string> current_sha;  // weights_rel → SHA-256 of the work tree's file
  {
    std::vector<std::string> present;
    for (auto& t : targets) {
      for (auto& pc : t.pieces) {
        struct stat st {};
        if (::lstat((ws.root() / pc.rel).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
        // With --force only a file that may already be right (same size) is worth reading.
        if (req.force && static_cast<std::uint64_t>(st.st_size) != pc.file.size) continue;
        present.push_back(pc.rel);
      }
      if (!req.force)
        for (auto& rel : t.stale) present.push_back(rel);
    }
    std::vector<std::string> shas = ws.hash_files(present);
    for (std::size_t i = 0; i < present.size(); ++i) current_sha[present[i]] = shas[i];
  }
  {
    std::vector<std::string> target_dirs;
    for (auto& t : targets) target_dirs.push_back(t.dir);
    ws.prepare_writes(target_dirs);  // git ignores temps; a killed checkout's are reclaimed
  }
  // Fetch objects the cache lacks from the default remote, before anything changes.
  std::vector<ObjectRef> to_fetch;
  for (auto& t : targets) {
    const Pointer& p = t.pointer.pointer;
    for (auto& pc : t.pieces) {
      auto cur = current_sha.find(pc.rel);
      if (cur != current_sha.end() && cur->second == pc.file.sha256) continue;  // the work tree has it
      to_fetch.push_back({pc.file.sha256, t.pointer.rel, {{pc.file.size, t.pointer.display()}}});
    }
    if (p.example && req.load)
      for (const std::string* sha : {&p.example->input, &p.example->output})
        to_fetch.push_back({*sha, t.pointer.rel, {}});
  }
  fetch_missing(ws, to_fetch, req.progress ? *req.progress : util::no_progress());
  for (auto& t : targets) {
    if (!req.force) {
      for (auto& pc : t.pieces)
        check_weights_safe(ws, t, pc.rel, pc.file.sha256, current_sha.count(pc.rel) ? current_sha[pc.rel] : "");
      for (auto& rel : t.stale) check_weights_safe(ws, t, rel, "", current_sha.count(rel) ? current_sha[rel] : "");
    }
    t.result.dir = t.dir;
    t.result.weights_rel = t.pointer.weights_rel();
    t.result.sha256 = t.pointer.pointer.sha256;
    t.result.size = t.pointer.pointer.total_size();
    t.result.files = t.weights_pieces;
    t.result.optimizer_state = t.pointer.pointer.optimizer.has_value();
  }

  std::vector<fs::path> replaced;  // large replaced files, linked aside (see place())
  try {
    restore_targets(ws, req, targets, current_sha, replaced, update_git);
  } catch (...) {
    util::unlink_detached(replaced);  // those already replaced
    throw;
  }
  for (auto& t : targets) result.models.push_back(t.result);
  ws.save_state();
  util::unlink_detached(replaced);
}

/// checkout --ours|--theirs PATH...: each unmerged model directory resolved, as a unit, with
/// one side's version (docs/repository-format.md, "Merge conflicts").
CheckoutResult checkout_side(Workspace& ws, const CheckoutRequest& req) {
  git::Repo& g = ws.git();
  const Side side = *req.side;
  const std::string name = side_name(side);
  if (!req.rev.empty())
    throw Error(Exit::usage, "checkout --" + name + ": takes model directories, not a revision (mvc checkout --" +
                                 name + " PATH...)");
  if (req.paths.empty())
    throw Error(Exit::usage, "checkout --" + name + ": name the unmerged model directories to resolve");

  std::vector<Target> targets;
  std::map<std::string, std::optional<std::string>> files;  // every directory's files as the side has them
  std::set<std::string> unmerged;
  std::set<std::string> seen;
  for (const auto& p : req.paths) {
    const std::string d = normalize_dir(g.rel(p));
    if (!seen.insert(d).second) continue;
    std::optional<ModelConflict> c = model_conflict(ws, d);
    if (!c)
      throw Error(Exit::usage, dir_display(d) + ": not unmerged; --" + name +
                                   " resolves a model directory in a merge conflict (see mvc status)");
    auto f = side_files(ws, *c, side);
    Target t;
    t.dir = d;
    ModelVersion& v = t.version;
    v.dir = d;
    v.rev = name;  // messages say "models/clf at theirs"
    v.arch_name = join(d, kArchFile);
    v.hparams_name = join(d, kHparamsFile);
    v.metrics_name = join(d, kMetricsFile);
    if (!f[v.arch_name])
      throw Error(Exit::usage, v.describe() + ": not a model directory (no arch.toml); resolve " + dir_display(d) +
                                   " with git (git rm, or git checkout --" + name + ")");
    v.arch_text = *f[v.arch_name];
    v.hparams_text = f[v.hparams_name];
    v.metrics_text = f[v.metrics_name];
    v.pointer = side_pointer(f, *c, side);
    t.pointer = v.require_pointer();
    for (const auto& e : c->entries) {
      unmerged.insert(e.path);
      t.result.resolved.push_back(e.path);
    }
    if (!c->mixed.empty())  // merged by git, mixing the sides: the files the side has otherwise
      for (const auto& [rel, text] : f)
        if (text != g.read_index_blob(rel)) t.result.resolved.push_back(rel);
    files.insert(f.begin(), f.end());
    targets.push_back(std::move(t));
  }

  // The side's files into the work tree and the index, under git's index lock: staging an
  // unmerged path replaces its conflict entries, as `git checkout --theirs` + `git add` do.
  auto update_git = [&] {
    git::IndexLock lock(g);
    std::vector<std::string> stage;
    for (const auto& [rel, text] : files) {
      const fs::path p = ws.root() / rel;
      std::error_code ec;
      if (text) {
        // As git checkout writes a blob (its filters: CRLF under core.autocrlf=true).
        if (!g.worktree_matches(rel, text)) g.write_worktree(rel, *text);
        stage.push_back(rel);
      } else if (unmerged.count(rel) || g.read_index_blob(rel)) {  // tracked, absent on this side
        fs::remove(p, ec);
        stage.push_back(rel);
      }  // untracked files are not the conflict's
    }
    g.stage(stage);
    lock.commit();
  };
  CheckoutResult result;
  finish(ws, req, targets, update_git, result);
  return result;
}

}  // namespace

CheckoutResult checkout(Workspace& ws, const CheckoutRequest& req) {
  if (req.side) return checkout_side(ws, req);
  git::Repo& g = ws.git();
  CheckoutResult result;
  std::vector<Target> targets;
  std::map<std::string, std::vector<std::string>> text_paths;  // form A: commit → paths to check out from it

  std::set<std::string> dirs;
  for (auto& p : req.paths) dirs.insert(g.rel(p));

  // An unmerged model directory is resolved first (--ours/--theirs, or git): a checkout would
  // overwrite its conflict. The pointer form meets it in resolve_version.
  if (!req.rev.empty()) {
    if (req.paths.empty()) {
      if (auto all = model_conflicts(ws); !all.empty()) throw Error(Exit::model, all.front().message());
    } else {
      for (auto& d : dirs) refuse_if_conflicted(ws, normalize_dir(d));
    }
  }

  if (!req.rev.empty()) {
    if (req.paths.empty()) {
      // A whole-tree checkout takes a commit; an alias belongs to a model directory.
      if (!g.try_resolve_commit(req.rev))
        if (auto has = alias_dirs(ws, req.rev); !has.empty()) {
          std::string list;
          for (auto& d : has) list += (list.empty() ? "" : ", ") + (d.empty() ? std::string(".") : d);
          throw Error(Exit::usage, "'" + req.rev + "' is an alias of " + list +
                                       ", not a commit: name the model (mvc checkout " + req.rev + " -- " +
                                       (has[0].empty() ? std::string(".") : has[0]) + ")");
        }
      result.commit = g.resolve_commit(req.rev);
      g.check_switch(req.rev);  // a branch another worktree has: refused before anything
      std::vector<std::string> at = model_dirs_at(ws, result.commit);
      dirs.insert(at.begin(), at.end());
    }
    // Each directory's version (REV may be an alias, which names a commit per directory).
    for (auto& d : dirs) {
      Target t;
      t.version = resolve_version(ws, req.rev, d);  // throws "unknown revision", "not a model directory"
      t.dir = d;
      t.pointer = t.version.require_pointer();
      if (result.commit.empty()) result.commit = t.version.commit;
      targets.push_back(std::move(t));
    }
  } else {
    if (dirs.empty()) {
      auto all = workspace_model_dirs(ws);
      dirs.insert(all.begin(), all.end());
    }
    for (auto& d : dirs) {
      Target t;
      t.version = resolve_version(ws, "", d);
      if (!t.version.pointer && req.paths.empty()) continue;  // not committed yet: nothing to restore
      t.dir = d;
      t.pointer = t.version.require_pointer();
      targets.push_back(std::move(t));
    }
  }

  // Local changes that the checkout would overwrite (form A: the text files; all forms: weights).
  if (!req.rev.empty() && !req.paths.empty()) {
    for (auto& t : targets) {
      std::set<std::string> files;
      for (auto& n : g.list_dir_at(t.version.commit, t.dir)) files.insert(join(t.dir, n));
      for (const char* f : {kArchFile, kHparamsFile, kMetricsFile, kOptimizerFile}) files.insert(join(t.dir, f));
      // The work tree's pointer, by name only: it may be invalid (conflict markers committed),
      // which is what this checkout repairs; and its shard index, which belongs to the version
      // replaced (a version without one removes it, as its shards are removed).
      std::error_code ec;
      for (auto& e : fs::directory_iterator(ws.root() / t.dir, ec)) {
        std::string n = e.path().filename().string();
        if ((n.size() > 4 && n.compare(n.size() - 4, 4, kPointerSuffix) == 0) || is_shard_index_name(n))
          files.insert(join(t.dir, n));
      }
      for (auto& f : files) {
        auto target_text = g.read_blob_at(t.version.commit, f);
        auto staged = g.read_index_blob(f);
        if (!target_text && !staged) continue;  // untracked, not touched
        text_paths[t.version.commit].push_back(f);
        if (req.force) continue;
        std::optional<std::string> now = g.read_worktree_clean(f);  // as git compares it (its filters)
        if (now != staged && now != target_text)
          throw Error(Exit::failure, f + ": local changes would be overwritten; commit them or use --force");
      }
    }
  }

  auto update_git = [&] {
    if (req.rev.empty()) return;
    if (req.paths.empty()) {
      g.switch_to(req.rev);
      result.moved_head = true;
    } else {
      for (auto& [commit, paths] : text_paths) g.checkout_paths(commit, paths);
    }
  };
  finish(ws, req, targets, update_git, result);
  return result;
}

}  // namespace mvc::core
