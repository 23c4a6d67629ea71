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

struct Target {
  std::string dir;
  PointerFile pointer;
  ModelVersion version;           // the version being restored (core/model_version.h)
  std::optional<Placement> copy;  // verified copy, renamed into place last
  RestoredModel result;
};

/// Refuses to overwrite weights that exist nowhere else (not in the cache).
/// `current_sha`: of the work tree's weights file, "" when it is absent or not a regular file.
void check_weights_safe(const Workspace& ws, const Target& t, const std::string& current_sha) {
  if (current_sha.empty()) return;
  if (current_sha == t.pointer.pointer.sha256) return;
  if (!ws.store().contains(current_sha))
    throw Error(Exit::failure, t.pointer.weights_rel() +
                                   ": local weights are not committed and would be lost; run 'mvc commit " +
                                   dir_display(t.dir) + "' first, or use --force");
}

/// Verifies objects into temp files beside their targets, checks or loads the models, then
/// calls `update_git` (index, work tree, HEAD) and renames the weights into place (appending to
/// `replaced`, see place()).
void restore_targets(Workspace& ws, const CheckoutRequest& req, std::vector<Target>& targets,
                     std::map<std::string, std::string>& current_sha, std::vector<fs::path>& replaced,
                     const std::function<void()>& update_git) {
  util::Progress& progress = req.progress ? *req.progress : util::no_progress();
  std::vector<Target*> to_copy;
  std::uint64_t total = 0;
  for (auto& t : targets) {
    const std::string rel = t.pointer.weights_rel();
    const Pointer& p = t.pointer.pointer;
    if (current_sha.count(rel) && current_sha[rel] == p.sha256) continue;  // the work tree has it (maybe its only copy)
    to_copy.push_back(&t);
    total += p.size;
  }
  if (!to_copy.empty()) progress.start(total, to_copy.size());
  for (Target* t : to_copy) {
    const std::string rel = t->pointer.weights_rel();
    const Pointer& p = t->pointer.pointer;
    check_pointer_size(ws, t->pointer);
    drop_cached_pages(ws.root() / rel);
    progress.item(rel);
    t->copy.emplace(prepare(ws, p.sha256, p.size, ws.root() / rel, progress));
    progress.item_done();
  }

  // Without a rebuild, still check the weights' header against the architecture (torch-free).
  if (!req.load) {
    for (auto& t : targets) {
      fs::path weights = t.copy ? t.copy->temp.path() : ws.root() / t.pointer.weights_rel();
      std::string arch_name = join(t.dir, kArchFile);
      arch::Architecture a = arch::parse_architecture(t.version.arch_text, arch_name,
                                                      t.version.hparams_text.value_or(""), t.version.hparams_name);
      const LoadOptions& lo = t.pointer.pointer.load;
      check_fit(a, inspect_weights(weights, t.pointer.weights_rel(), lo), t.pointer.weights_rel(), arch_name, lo.cast);
    }
  }

  // Rebuild and load strictly, from the verified bytes.
  if (req.load) {
    for (auto& t : targets) {
      fs::path weights = t.copy ? t.copy->temp.path() : ws.root() / t.pointer.weights_rel();
      // Errors name the work-tree file, not the temp copy that is removed on the way out.
      const ModelSource source = t.version.source(weights);
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
    if (!t.copy) continue;
    place(ws, *t.copy, t.pointer.weights_rel(), t.pointer.pointer.sha256, t.pointer.pointer.size, replaced);
    t.copy.reset();
    t.result.written = true;
  }
}

/// Hashes the work tree's current weights of `targets` (stat cache, then the misses in
/// parallel), fetches the objects the cache lacks from the default remote and refuses to
/// overwrite weights that exist nowhere else (unless `force`); nothing in the work tree changes.
/// Then restore_targets(); appends the restored models to `result`.
void finish(Workspace& ws, const CheckoutRequest& req, std::vector<Target>& targets,
            const std::function<void()>& update_git, CheckoutResult& result) {
  std::map<std::string, std::string> current_sha;  // weights_rel → SHA-256 of the work tree's file
  {
    std::vector<std::string> present;
    for (auto& t : targets) {
      struct stat st {};
      if (::lstat((ws.root() / t.pointer.weights_rel()).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      // With --force only a file that may already be right (same size) is worth reading.
      if (req.force && static_cast<std::uint64_t>(st.st_size) != t.pointer.pointer.size) continue;
      present.push_back(t.pointer.weights_rel());
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
    auto cur = current_sha.find(t.pointer.weights_rel());
    if (cur != current_sha.end() && cur->second == p.sha256) continue;  // the work tree has it
    to_fetch.push_back({p.sha256, t.pointer.rel, {{p.size, t.pointer.display()}}});
    if (p.example && req.load)
      for (const std::string* sha : {&p.example->input, &p.example->output})
        to_fetch.push_back({*sha, t.pointer.rel, {}});
  }
  fetch_missing(ws, to_fetch, req.progress ? *req.progress : util::no_progress());
  for (auto& t : targets) {
    const std::string current = current_sha.count(t.pointer.weights_rel()) ? current_sha[t.pointer.weights_rel()] : "";
    if (!req.force) check_weights_safe(ws, t, current);
    t.result.dir = t.dir;
    t.result.weights_rel = t.pointer.weights_rel();
    t.result.sha256 = t.pointer.pointer.sha256;
    t.result.size = t.pointer.pointer.size;
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
      for (const char* f : {kArchFile, kHparamsFile, kMetricsFile}) files.insert(join(t.dir, f));
      // The work tree's pointer, by name only: it may be invalid (conflict markers committed),
      // which is what this checkout repairs.
      std::error_code ec;
      for (auto& e : fs::directory_iterator(ws.root() / t.dir, ec)) {
        std::string n = e.path().filename().string();
        if (n.size() > 4 && n.compare(n.size() - 4, 4, kPointerSuffix) == 0) files.insert(join(t.dir, n));
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
