#include "core/gc.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "mvc/error.h"
#include "util/fs.h"
#include "util/lock.h"
#include "util/sha256.h"

namespace mvc::core {

namespace {

RefScope gc_scope() {
  RefScope s;
  s.workspace = true;
  s.history = true;
  s.all_refs = true;
  s.reflogs = true;
  return s;
}

/// Seconds since the file's last modification (0 if it cannot be read).
double age_seconds(const fs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) return 0;
  struct timespec now {};
  ::clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<double>(now.tv_sec - st.st_mtim.tv_sec) + (now.tv_nsec - st.st_mtim.tv_nsec) / 1e9;
}

void run_threads(int jobs, const std::function<void()>& worker) {
  std::vector<std::thread> ts;
  for (int k = 1; k < std::max(1, jobs); ++k) ts.emplace_back(worker);
  worker();
  for (auto& t : ts) t.join();
}

/// Adds the object a pointer's text names (a text that is not a pointer names none).
void add_live(std::set<std::string>& live, const std::string& text) {
  try {
    for (const auto& f : parse_pointer(text, "").files()) live.insert(f.sha256);
  } catch (const Error&) {
  }
}

}  // namespace

std::chrono::seconds parse_duration(const std::string& s) {
  std::size_t i = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  if (i == 0 || i + 1 < s.size())
    throw Error(Exit::usage, "invalid duration '" + s + "' (a number with s, m, h, d or w: 30m, 1h, 2d)");
  long long n = std::stoll(s.substr(0, i));
  char u = i < s.size() ? s[i] : 's';
  long long mult = u == 's' ? 1 : u == 'm' ? 60 : u == 'h' ? 3600 : u == 'd' ? 86400 : u == 'w' ? 604800 : 0;
  if (!mult) throw Error(Exit::usage, "invalid duration '" + s + "' (a number with s, m, h, d or w: 30m, 1h, 2d)");
  return std::chrono::seconds(n * mult);
}

GcResult gc(Workspace& ws, const GcOptions& opts, util::Progress& progress) {
  if (ws.cache_configured() && !opts.force)
    throw Error(Exit::failure, "gc: the cache " + ws.store().root().string() +
                                   " is set by [cache] dir and may be shared by other repositories, whose references "
                                   "this one cannot see; use --force to collect it anyway");
  if (ws.git().is_shallow() && !opts.force)
    throw Error(Exit::failure,
                "gc: this is a shallow clone: commits beyond its boundary are not here, and the objects "
                "they reference cannot be told from garbage; run 'git fetch --unshallow' first, or use "
                "--force to keep only what this clone references");
  GcResult res;
  std::set<std::string> live;
  for (auto& r : referenced_objects(ws, gc_scope())) live.insert(r.sha256);
  // The cache is shared by every worktree (docs/repository-format.md): what another one's HEAD,
  // HEAD reflog, index or work tree references is live too -- a locked worktree whose directory
  // is gone included (its git dir still says), as git gc keeps their commits.
  for (const auto& w : ws.git().other_worktrees()) {
    for (auto& b : ws.git().blobs_with_suffix(w.commits, kPointerSuffix, true)) add_live(live, b.content);
    if (!w.index.empty())
      for (auto& b : ws.git().index_file_blobs_with_suffix(w.index, kPointerSuffix)) add_live(live, b.content);
    if (w.workdir.empty() || !fs::exists(w.workdir / ".mvc" / "config.toml")) continue;  // no mvc files there
    try {
      Workspace other = Workspace::open(w.workdir);
      for (const auto& d : workspace_model_dirs(other))
        if (auto pf = workspace_pointer(other, d))
          for (const auto& f : pf->pointer.files()) live.insert(f.sha256);
    } catch (const Error& e) {
      if (opts.force) continue;
      throw Error(Exit::failure, "gc: cannot read the worktree " + w.workdir.string() + " (" + e.what() +
                                     "), so the objects its work tree references are unknown; fix it, 'git worktree "
                                     "remove' it, or use --force to collect without it");
    }
  }
  res.referenced = live.size();
  double grace = static_cast<double>(opts.grace.count());
  // Manifests: one that is live, or younger than the grace period (a commit or fetch writing
  // it), keeps every segment it names (dvc#7496: a gc that loses a manifest's pieces leaves
  // nothing restorable). A damaged manifest stops gc: its segments cannot be told from garbage.
  std::set<std::string> segments;
  std::vector<std::string> dead_manifests;
  for (const std::string& sha : ws.store().list_manifests()) {
    fs::path mp = ws.store().manifest_path(sha);
    if (!live.count(sha) && age_seconds(mp) >= grace) {
      dead_manifests.push_back(sha);
      continue;
    }
    std::optional<store::Manifest> m;
    try {
      m = ws.store().manifest(sha);
    } catch (const Error& e) {
      throw Error(Exit::integrity, std::string(e.what()) +
                                       "; gc deleted nothing (the objects it names cannot be told from garbage): "
                                       "run 'mvc fsck', which moves it to quarantine, then 'mvc fetch' it again");
    }
    if (m)
      for (const auto& g : m->segments) segments.insert(g.sha256);
  }
  std::sort(dead_manifests.begin(), dead_manifests.end());
  for (const std::string& sha : dead_manifests) {  // first: a manifest never outlives its segments
    res.deleted.push_back(sha);
    if (!opts.dry_run) ws.store().remove_manifest(sha);
  }
  std::vector<std::string> objects = ws.store().list();
  progress.start(0, objects.size());
  for (auto& sha : objects) {
    fs::path p = ws.store().object_path(sha);
    std::error_code ec;
    std::uint64_t size = fs::file_size(p, ec);
    progress.advance(ec ? 0 : size);
    progress.item_done();
    if (live.count(sha) || segments.count(sha)) {
      ++res.kept;
      continue;
    }
    if (age_seconds(p) < grace) {
      ++res.kept;
      ++res.kept_young;
      continue;
    }
    res.bytes += ec ? 0 : size;
    res.deleted.push_back(sha);
    if (!opts.dry_run) ws.store().remove(sha);
  }
  std::sort(res.deleted.begin(), res.deleted.end());
  // Stale temp files of interrupted writes (a killed writer's at once, util::stale_temp): in the
  // cache and in every model directory of the work tree.
  res.temps_removed += util::reclaim_temps(ws.store().root() / "tmp", opts.grace, opts.dry_run);
  for (const auto& dir : workspace_model_dirs(ws))
    res.temps_removed += util::reclaim_temps(ws.root() / dir, opts.grace, opts.dry_run);
  // Replaced work-tree files that a checkout linked aside and whose detached removal did not
  // happen (a crash): garbage at any age.
  std::error_code ec2;
  for (auto& e : fs::directory_iterator(ws.mvc_dir() / "tmp", ec2)) {
    if (e.path().filename().string().rfind("replaced.", 0) != 0) continue;
    ++res.temps_removed;
    if (!opts.dry_run) ::unlink(e.path().c_str());
  }
  return res;
}

FsckResult fsck(Workspace& ws, store::Remote* remote, int jobs, util::Progress& progress) {
  FsckResult res;
  std::vector<std::string> objs = ws.store().list();
  std::sort(objs.begin(), objs.end());
  {
    std::uint64_t total = 0;
    for (const std::string& sha : objs) {
      std::error_code ec;
      std::uint64_t n = fs::file_size(ws.store().object_path(sha), ec);
      if (!ec) total += n;
    }
    progress.start(total, objs.size());
  }
  std::mutex m;
  std::atomic<std::size_t> next{0};
  std::exception_ptr err;
  run_threads(jobs, [&] {
    for (;;) {
      std::size_t i = next++;
      if (i >= objs.size()) return;
      try {
        const std::string& sha = objs[i];
        std::string got = ws.store().rehash(sha);
        std::error_code ec;
        std::uint64_t n = fs::file_size(ws.store().object_path(sha), ec);
        progress.advance(ec ? 0 : n);
        progress.item_done();
        std::lock_guard<std::mutex> l(m);
        ++res.checked;
        if (got != sha) res.corrupt.push_back({sha, ws.store().quarantine(sha).string(), got});
      } catch (...) {
        std::lock_guard<std::mutex> l(m);
        if (!err) err = std::current_exception();
      }
    }
  });
  if (err) std::rethrow_exception(err);
  std::set<std::string> on_remote;
  if (remote) {
    std::vector<std::string> robjs = remote->list();
    std::sort(robjs.begin(), robjs.end());
    progress.start(0, robjs.size());  // the second phase; the remote's sizes are known as they arrive
    next = 0;
    run_threads(jobs, [&] {
      for (;;) {
        std::size_t i = next++;
        if (i >= robjs.size()) return;
        try {
          const std::string& sha = robjs[i];
          auto h = std::make_unique<util::Sha256>();
          remote->get(
              sha,
              [&](const char* d, std::size_t n) {
                h->update(d, n);
                progress.advance(n);
              },
              [&] { h = std::make_unique<util::Sha256>(); });
          std::string got = h->hex_digest();
          progress.item_done();
          std::lock_guard<std::mutex> l(m);
          ++res.remote_checked;
          if (got == sha)
            on_remote.insert(sha);
          else
            res.remote_corrupt.push_back({sha, "", got});
        } catch (...) {
          std::lock_guard<std::mutex> l(m);
          if (!err) err = std::current_exception();
        }
      }
    });
    if (err) std::rethrow_exception(err);
  }
  // Manifests: each must parse (a damaged one goes to quarantine) and name only segments that are here.
  std::map<std::string, store::Manifest> manifests;
  for (const std::string& sha : ws.store().list_manifests()) {
    try {
      if (auto mf = ws.store().manifest(sha)) manifests.emplace(sha, std::move(*mf));
      ++res.manifests_checked;
    } catch (const Error& e) {
      if (e.code() != Exit::integrity) throw;
      ++res.manifests_checked;
      res.corrupt.push_back({sha, ws.store().quarantine_manifest(sha).string(), "(a damaged manifest)"});
    }
  }
  std::sort(res.corrupt.begin(), res.corrupt.end(), [](auto& a, auto& b) { return a.sha256 < b.sha256; });
  std::sort(res.remote_corrupt.begin(), res.remote_corrupt.end(), [](auto& a, auto& b) { return a.sha256 < b.sha256; });
  for (auto& r : referenced_objects(ws, gc_scope())) {
    struct stat st {};
    fs::path obj = ws.store().object_path(r.sha256);
    auto mf = manifests.find(r.sha256);
    if (::stat(obj.c_str(), &st) != 0 && mf != manifests.end()) {
      // Stored as segments: each must be here (corrupt ones were moved to quarantine above).
      auto lacking = ws.store().missing_segments(mf->second);
      if (!lacking.empty() && !on_remote.count(r.sha256)) {
        ObjectRef m = r;
        m.where += ": its segment object " + lacking[0].sha256 + " is missing" +
                   (lacking.size() > 1 ? " (and " + std::to_string(lacking.size() - 1) + " more)" : "");
        res.missing.push_back(m);
      }
      for (const auto& [recorded, where] : r.sizes)
        if (recorded != mf->second.size) res.wrong_size.push_back({r.sha256, where, recorded, mf->second.size});
    } else if (::stat(obj.c_str(), &st) != 0) {
      if (!on_remote.count(r.sha256)) res.missing.push_back(r);
    } else {
      const auto actual = static_cast<std::uint64_t>(st.st_size);  // re-hashed above: intact
      for (const auto& [recorded, where] : r.sizes)
        if (recorded != actual) res.wrong_size.push_back({r.sha256, where, recorded, actual});
    }
  }
  return res;
}

}  // namespace mvc::core
