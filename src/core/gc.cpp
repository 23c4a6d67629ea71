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

#include "core/alias.h"
#include "core/remote_lock.h"
#include "mvc/error.h"
#include "store/manifest.h"
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

/// The objects a pointer names: each weights file's, and its [example] objects.
std::vector<std::string> pointer_objects(const Pointer& p) {
  std::vector<std::string> out;
  for (const auto& f : p.stored_files()) out.push_back(f.sha256);
  if (p.example)
    for (const std::string* e : {&p.example->input, &p.example->output})
      if (util::is_sha256_hex(*e)) out.push_back(*e);
  return out;
}

/// Adds the objects a pointer's text names (a text that is not a pointer names none).
void add_live(std::set<std::string>& live, const std::string& text) {
  try {
    for (auto& sha : pointer_objects(parse_pointer(text, ""))) live.insert(sha);
  } catch (const Error&) {
  }
}

/// The commits aliases name: the work tree's `.mvc/aliases.toml` and the file at each of `tips`
/// (a file that does not parse names none); commits this repository lacks are skipped.
std::set<std::string> alias_commits(Workspace& ws, const std::vector<std::string>& tips) {
  std::set<std::string> out;
  auto add = [&](const AliasMap& m) {
    for (const auto& [dir, names] : m)
      for (const auto& [name, commit] : names)
        if (auto c = ws.git().try_resolve_commit(commit)) out.insert(*c);
  };
  try {
    add(read_aliases(ws));
  } catch (const Error&) {
  }
  for (const std::string& tip : tips) {
    try {
      if (auto text = ws.git().read_blob_at(tip, kAliasFile)) add(parse_aliases(*text, kAliasFile));
    } catch (const Error&) {
    }
  }
  return out;
}

/// `keep_last`: the objects of the versions that tags and aliases name (the pointers at their
/// commits), and of the `n` newest other versions of each pointer file on each branch.
void add_keep_last(Workspace& ws, int n, const std::set<std::string>& named_commits, std::set<std::string>& keep) {
  git::Repo& g = ws.git();
  std::set<std::string> named;  // pointer texts' objects, joined, that a tag or alias names
  auto key_of = [](const std::vector<std::string>& objs) {
    std::string k;
    for (auto& o : objs) k += o + " ";
    return k;
  };
  for (auto& b : g.blobs_with_suffix({named_commits.begin(), named_commits.end()}, kPointerSuffix, false)) {
    try {
      auto objs = pointer_objects(parse_pointer(b.content, b.path));
      named.insert(key_of(objs));
      keep.insert(objs.begin(), objs.end());
    } catch (const Error&) {
    }
  }
  std::vector<std::string> tips;
  for (auto& [ref, commit] : g.branch_tips()) tips.push_back(commit);
  if (auto head = g.try_resolve_commit("HEAD")) tips.push_back(*head);  // a detached HEAD is a branch too
  std::sort(tips.begin(), tips.end());
  tips.erase(std::unique(tips.begin(), tips.end()), tips.end());
  std::set<std::string> paths;
  for (auto& b : g.blobs_with_suffix(tips, kPointerSuffix, true)) paths.insert(b.path);
  for (const std::string& tip : tips) {
    for (const std::string& path : paths) {
      std::set<std::string> seen;
      int kept = 0;
      for (const auto& c : g.log(tip, path)) {
        if (kept >= n) break;
        auto text = g.read_blob_at(c.id, path);
        if (!text) continue;
        try {
          auto objs = pointer_objects(parse_pointer(*text, path));
          std::string k = key_of(objs);
          if (named.count(k) || !seen.insert(k).second) continue;
          ++kept;
          keep.insert(objs.begin(), objs.end());
        } catch (const Error&) {
        }
      }
    }
  }
}

/// A remote entry's name from its key ("objects/sha256/ab/cdef..." → "abcdef..."), "" if none.
std::string entry_sha(const std::string& key, const std::string& prefix) {
  if (key.size() != prefix.size() + 65 || key.rfind(prefix, 0) != 0 || key[prefix.size() + 2] != '/') return "";
  std::string sha = key.substr(prefix.size(), 2) + key.substr(prefix.size() + 3);
  return util::is_sha256_hex(sha) ? sha : "";
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

std::set<std::string> kept_files(Workspace& ws, const KeepScope& scope) {
  git::Repo& g = ws.git();
  std::set<std::string> live;
  RefScope refs;
  refs.workspace = true;
  refs.history = true;
  refs.all_refs = true;
  refs.reflogs = scope.local;
  std::set<std::string> named = alias_commits(ws, g.branch_and_tag_commits());
  if (!scope.local && scope.keep_last > 0) {
    // Only the work tree, the index and what tags and aliases name, then the newest of each branch.
    refs.history = false;
    refs.all_refs = false;
    for (auto& r : referenced_objects(ws, refs)) live.insert(r.sha256);
    for (auto& [name, commit] : g.tags()) named.insert(commit);
    add_keep_last(ws, scope.keep_last, named, live);
    return live;
  }
  refs.revs.assign(named.begin(), named.end());
  for (auto& r : referenced_objects(ws, refs)) live.insert(r.sha256);
  if (!scope.local) return live;
  // The cache is shared by every worktree (docs/repository-format.md): what another one's HEAD,
  // HEAD reflog, index or work tree references is live too -- a locked worktree whose directory
  // is gone included (its git dir still says), as git gc keeps their commits.
  for (const auto& w : g.other_worktrees()) {
    for (auto& b : g.blobs_with_suffix(w.commits, kPointerSuffix, true)) add_live(live, b.content);
    if (!w.index.empty())
      for (auto& b : g.index_file_blobs_with_suffix(w.index, kPointerSuffix)) add_live(live, b.content);
    if (w.workdir.empty() || !fs::exists(w.workdir / ".mvc" / "config.toml")) continue;  // no mvc files there
    try {
      Workspace other = Workspace::open(w.workdir);
      for (const auto& d : workspace_model_dirs(other))
        if (auto pf = workspace_pointer(other, d))
          for (auto& sha : pointer_objects(pf->pointer)) live.insert(sha);
    } catch (const Error& e) {
      if (scope.force) continue;
      throw Error(Exit::failure, "gc: cannot read the worktree " + w.workdir.string() + " (" + e.what() +
                                     "), so the objects its work tree references are unknown; fix it, 'git worktree "
                                     "remove' it, or use --force to collect without it");
    }
  }
  return live;
}

RemoteGcResult gc_remote(Workspace& ws, store::Remote& remote, const RemoteGcOptions& opts, util::Progress& progress) {
  RemoteGcResult res;
  if (opts.keep_last < 0) throw Error(Exit::usage, "--keep-last must be at least 1");
  if (opts.fetch_git) res.git_fetched = ws.git().fetch_all_remotes();
  if (ws.git().is_shallow() && !opts.force)
    throw Error(Exit::failure,
                "gc --remote: this is a shallow clone: commits beyond its boundary are not here, and the objects "
                "they reference cannot be told from garbage; run 'git fetch --unshallow' first, or use "
                "--force to keep only what this clone references");
  KeepScope scope;
  scope.local = false;
  scope.keep_last = opts.keep_last;
  std::set<std::string> keep = kept_files(ws, scope);
  res.versions_kept = keep.size();
  std::optional<RemoteLock> lock;
  if (!opts.dry_run) {
    lock.emplace(remote, RemoteLock::Kind::exclusive, "gc", std::chrono::milliseconds(0));
    res.locks_removed = lock->stale_removed();
  }
  const std::string kObj = "objects/sha256/", kMan = "manifests/sha256/";
  std::vector<store::RemoteEntry> manifests = remote.list_entries(kMan);
  std::vector<store::RemoteEntry> objects = remote.list_entries(kObj);
  // Test hook (tests/cli/test_gc_remote.cpp): hold here, lock taken and listing done, until the
  // file $MVC_TEST_GC_PAUSE names exists; "<it>.paused" says gc got here.
  if (const char* pause = std::getenv("MVC_TEST_GC_PAUSE"); pause && *pause) {
    util::write_file_atomic(fs::path(std::string(pause) + ".paused"), "");
    while (!fs::exists(pause)) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  progress.start(0, manifests.size() + objects.size());
  auto now = std::chrono::system_clock::now();
  auto young = [&](const store::RemoteEntry& e) { return now - e.modified < opts.grace; };
  std::set<std::string> segments;
  std::vector<RemoteGcResult::Item> dead_manifests, dead_objects;
  for (const store::RemoteEntry& e : manifests) {
    progress.item_done();
    std::string sha = entry_sha(e.key, kMan);
    if (sha.empty()) continue;
    bool kept = keep.count(sha) > 0;
    if (!kept && !young(e)) {
      dead_manifests.push_back({"manifest", sha, e.size});
      continue;
    }
    ++res.kept_manifests;
    res.kept_bytes += e.size;
    if (!kept) ++res.kept_young;
    auto text = remote.get_key(e.key);
    if (!text) continue;  // gone since listed (nothing but gc deletes: another gc -- not while we hold the lock)
    try {
      for (const auto& g : store::parse_manifest(*text, sha, sha + " on remote " + remote.describe()).segments)
        segments.insert(g.sha256);
    } catch (const Error& e2) {
      throw Error(e2.code(), std::string(e2.what()) +
                                 "; gc deleted nothing (the segments it names cannot be told from garbage): push "
                                 "the version again from a clone that has it, or delete the manifest by hand");
    }
  }
  for (const store::RemoteEntry& e : objects) {
    progress.advance(e.size);
    progress.item_done();
    std::string sha = entry_sha(e.key, kObj);
    if (sha.empty()) continue;
    bool kept = keep.count(sha) || segments.count(sha);
    if (!kept && !young(e)) {
      dead_objects.push_back({"object", sha, e.size});
      continue;
    }
    ++res.kept_objects;
    res.kept_bytes += e.size;
    if (!kept) ++res.kept_young;
  }
  auto by_sha = [](auto& a, auto& b) { return a.sha256 < b.sha256; };
  std::sort(dead_manifests.begin(), dead_manifests.end(), by_sha);
  std::sort(dead_objects.begin(), dead_objects.end(), by_sha);
  // Manifests first: a remote never holds a manifest whose segments are gone.
  for (auto* list : {&dead_manifests, &dead_objects})
    for (auto& it : *list) {
      if (!opts.dry_run) {
        if (it.kind == "manifest")
          remote.remove_key(store::manifest_key(it.sha256));
        else
          remote.remove(it.sha256);
      }
      res.bytes += it.size;
      res.deleted.push_back(it);
    }
  return res;
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
  KeepScope scope;
  scope.force = opts.force;
  std::set<std::string> live = kept_files(ws, scope);
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
    ++res.kept;
    ++res.kept_manifests;
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
    // The remote's manifests: each must parse and name only segments the remote holds intact.
    const std::string kMan = "manifests/sha256/";
    std::vector<store::RemoteEntry> rmans = remote->list_entries(kMan);
    std::sort(rmans.begin(), rmans.end(), [](auto& a, auto& b) { return a.key < b.key; });
    for (const store::RemoteEntry& e : rmans) {
      std::string sha = entry_sha(e.key, kMan);
      if (sha.empty()) continue;
      auto text = remote->get_key(e.key);
      if (!text) continue;
      ++res.remote_manifests_checked;
      try {
        store::Manifest mf = store::parse_manifest(*text, sha, sha + " on remote " + remote->describe());
        bool whole = true;
        for (const auto& g : mf.segments)
          if (!on_remote.count(g.sha256)) {
            res.remote_missing_segments.push_back({sha, g.sha256});
            whole = false;
          }
        if (whole) on_remote.insert(sha);
      } catch (const Error& e2) {
        if (e2.code() != Exit::integrity) throw;
        res.remote_corrupt.push_back({sha, "", "(a damaged manifest)"});
      }
    }
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
