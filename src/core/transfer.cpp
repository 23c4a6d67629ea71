#include "core/transfer.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "core/conflict.h"
#include "core/remote_lock.h"
#include "mvc/error.h"
#include "store/manifest.h"
#include "util/fs.h"
#include "util/sha256.h"

namespace mvc::core {

namespace {

void add_pointer(std::map<std::string, ObjectRef>& out, const Pointer& p, const std::string& where) {
  for (const auto& f : p.stored_files())  // every weights file (sharded weights: each shard), the optimizer state
    out.emplace(f.sha256, ObjectRef{f.sha256, where, {}}).first->second.sizes.emplace(f.size, where);
  if (p.example) {
    for (const std::string* s : {&p.example->input, &p.example->output})
      if (util::is_sha256_hex(*s)) out.emplace(*s, ObjectRef{*s, where + " [example]", {}});
  }
}

/// Runs `work(i)` for i in [0, n) on `jobs` threads. The first exception stops the others
/// (they finish the item in hand) and is rethrown; an integrity error wins over others.
void parallel_for(std::size_t n, int jobs, const std::function<void(std::size_t)>& work) {
  std::atomic<std::size_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex m;
  std::exception_ptr first;
  bool first_is_integrity = false;
  auto worker = [&] {
    for (;;) {
      if (stop) return;
      std::size_t i = next++;
      if (i >= n) return;
      try {
        work(i);
      } catch (const Error& e) {
        std::lock_guard<std::mutex> l(m);
        bool integ = e.code() == Exit::integrity;
        if (!first || (integ && !first_is_integrity)) {
          first = std::current_exception();
          first_is_integrity = integ;
        }
        stop = true;
      } catch (...) {
        std::lock_guard<std::mutex> l(m);
        if (!first) first = std::current_exception();
        stop = true;
      }
    }
  };
  int t = std::max(1, std::min<int>(jobs, static_cast<int>(n)));
  std::vector<std::thread> threads;
  for (int k = 1; k < t; ++k) threads.emplace_back(worker);
  worker();
  for (auto& th : threads) th.join();
  if (first) std::rethrow_exception(first);
}

double since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int default_jobs() {
  if (const char* v = std::getenv("MVC_JOBS"); v && *v) {
    int j = std::atoi(v);
    if (j > 0) return j;
  }
  return 4;
}

std::vector<ObjectRef> referenced_objects(Workspace& ws, const RefScope& scope) {
  git::Repo& g = ws.git();
  std::map<std::string, ObjectRef> out;
  const std::set<std::string> only(scope.dirs.begin(), scope.dirs.end());
  auto wanted = [&](const std::string& pointer_rel) {
    if (only.empty()) return true;
    auto s = pointer_rel.rfind('/');
    return only.count(s == std::string::npos ? std::string() : pointer_rel.substr(0, s)) > 0;
  };
  std::vector<std::string> commits;
  for (auto& r : scope.revs) commits.push_back(g.resolve_commit(r));
  if (scope.reflogs) {
    auto roots = g.gc_root_commits();
    commits.insert(commits.end(), roots.begin(), roots.end());
  } else if (scope.all_refs) {
    auto roots = g.ref_commits();
    commits.insert(commits.end(), roots.begin(), roots.end());
  }
  for (auto& b : g.blobs_with_suffix(commits, kPointerSuffix, scope.history)) {
    if (!wanted(b.path)) continue;
    try {
      add_pointer(out, parse_pointer(b.content, b.path), b.path + " (blob " + b.id.substr(0, 7) + ")");
    } catch (const Error&) {
      // Not a pointer (or a broken one in history): it references nothing restorable.
    }
  }
  if (scope.workspace) {
    for (auto& b : g.index_blobs_with_suffix(kPointerSuffix)) {
      if (!wanted(b.path)) continue;
      try {
        add_pointer(out, parse_pointer(b.content, b.path), b.path + " (staged)");
      } catch (const Error&) {
      }
    }
    // An unmerged pointer holds conflict markers; both sides' pointers are staged (above).
    std::set<std::string> unmerged;
    for (auto& c : model_conflicts(ws)) unmerged.insert(c.dir);
    for (auto& d : workspace_model_dirs(ws))
      if (!unmerged.count(d) && (only.empty() || only.count(d)))
        if (auto pf = workspace_pointer(ws, d)) add_pointer(out, pf->pointer, pf->rel);
  }
  std::vector<ObjectRef> v;
  for (auto& [k, r] : out) v.push_back(r);
  return v;
}

std::unique_ptr<store::Remote> open_remote(const Workspace& ws, const std::string& name) {
  const Config& c = ws.config();
  std::string n = name.empty() ? c.default_remote : name;
  if (n.empty())
    throw Error(Exit::failure,
                "no remote given and no default remote; add one with 'mvc remote add NAME URL --default'");
  auto it = c.remotes.find(n);
  if (it == c.remotes.end()) {
    if (name.empty()) throw Error(Exit::failure, ".mvc/config.toml: default remote '" + n + "' is not configured");
    throw Error(Exit::usage, "no remote named '" + n + "' (see 'mvc remote list')");
  }
  store::RemoteSpec spec = it->second;
  spec.base_dir = ws.root();
  return store::open_remote(spec);
}

namespace {

/// How one file moves: already on the other side, missing, as one object, or as a manifest and its segments.
struct FilePlan {
  enum Kind { present, missing, whole, split } kind = present;
  std::uint64_t size = 0;  ///< the file's size (bytes)
  std::optional<store::Manifest> manifest;
  std::uint64_t moved = 0;  ///< bytes of it this run sent / received
};

/// One object to send or receive: a whole file's object or a segment (shared segments once).
struct Move {
  std::string sha256;
  std::uint64_t size = 0;
  std::size_t plan = 0;  ///< the first file that needs it
  bool checked = false;  ///< the other side is known to lack it
};

std::vector<Move> moves_of(const std::vector<FilePlan>& plans, const std::vector<ObjectRef>& objects) {
  std::vector<Move> out;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < plans.size(); ++i) {
    const FilePlan& p = plans[i];
    if (p.kind == FilePlan::whole && seen.insert(objects[i].sha256).second)
      out.push_back({objects[i].sha256, p.size, i, true});
    if (p.kind == FilePlan::split)
      for (const store::Segment& g : p.manifest->segments)
        if (seen.insert(g.sha256).second) out.push_back({g.sha256, g.size, i, false});
  }
  return out;
}

TransferResult finish(const std::vector<ObjectRef>& objects, std::vector<FilePlan>& plans,
                      std::chrono::steady_clock::time_point start) {
  TransferResult res;
  for (std::size_t i = 0; i < plans.size(); ++i) {
    const FilePlan& p = plans[i];
    if (p.kind == FilePlan::missing) {
      res.missing.push_back(objects[i]);
    } else if (p.kind == FilePlan::present) {
      ++res.present;
    } else {
      ++res.transferred;
      res.moved.emplace_back(objects[i], p.moved);
    }
  }
  res.seconds = since(start);
  return res;
}

std::uint64_t recorded_size(const ObjectRef& o) { return o.sizes.empty() ? 0 : o.sizes.begin()->first; }

/// The shared lock push and fetch hold on the remote while they look and transfer (core/remote_lock.h):
/// while `mvc gc --remote` holds its exclusive one, they wait. Fetch goes on without a lock
/// when it cannot write one (read-only credentials): it only reads.
std::unique_ptr<RemoteLock> shared_lock(store::Remote& remote, const char* command) {
  auto waiting = [&](const std::string& holder) {
    std::cerr << "mvc: " << command << ": waiting for remote " << remote.describe() << ": " << holder << "\n";
  };
  try {
    return std::make_unique<RemoteLock>(remote, RemoteLock::Kind::shared, command, remote_lock_wait(), waiting);
  } catch (const Error& e) {
    if (std::string(command) == "fetch" && e.code() == Exit::failure) return nullptr;
    throw;
  }
}

}  // namespace

TransferResult push(Workspace& ws, store::Remote& remote, const std::vector<ObjectRef>& objects, int jobs,
                    TransferProgress& progress) {
  auto start = std::chrono::steady_clock::now();
  auto lock = shared_lock(remote, "push");
  remote.reclaim(store::kStaleUploadAge);  // what earlier interrupted pushes left behind
  store::ObjectStore& st = ws.store();
  std::uint64_t total = 0;
  for (const ObjectRef& o : objects) total += recorded_size(o);
  progress.start(total, objects.size());
  // 1. What the remote lacks, file by file. A manifest on the remote vouches for its segments
  //    (it is pushed last), so they are not checked one by one.
  std::vector<FilePlan> plans(objects.size());
  parallel_for(objects.size(), jobs, [&](std::size_t i) {
    const ObjectRef& o = objects[i];
    FilePlan& p = plans[i];
    if (auto n = remote.stat(o.sha256)) {
      p.size = *n;
    } else if (remote.get_manifest(o.sha256)) {
      p.size = recorded_size(o);
    } else if (st.has_object(o.sha256)) {
      p.kind = FilePlan::whole;
      p.size = fs::file_size(st.object_path(o.sha256));
    } else if ((p.manifest = st.manifest(o.sha256))) {
      p.kind = FilePlan::split;
      p.size = p.manifest->size;
    } else {
      p.kind = FilePlan::missing;
    }
    if (p.kind == FilePlan::present) {
      progress.advance(p.size);
      progress.item_done();
    }
  });
  TransferResult res;
  std::mutex m;
  // 2. The objects: whole files, and the segments the remote lacks (each once).
  std::vector<Move> moves = moves_of(plans, objects);
  std::uint64_t sent = 0, skipped = 0;
  std::size_t objects_sent = 0;
  for (const FilePlan& p : plans)
    if (p.kind == FilePlan::present) skipped += p.size;
  parallel_for(moves.size(), jobs, [&](std::size_t k) {
    const Move& mv = moves[k];
    if (!mv.checked && remote.stat(mv.sha256)) {
      progress.advance(mv.size);
      std::lock_guard<std::mutex> l(m);
      skipped += mv.size;
      return;
    }
    if (!st.has_object(mv.sha256))
      throw Error(Exit::missing, "object " + objects[mv.plan].sha256 + " (" + objects[mv.plan].where +
                                     "): its segment object " + mv.sha256 +
                                     " is not in the cache; nothing of it was "
                                     "pushed ('mvc fsck' checks the cache)");
    progress.item(objects[mv.plan].where);
    // The bytes as they go out (a retry that starts over is not counted twice).
    std::mutex pm;
    std::uint64_t reported = 0;
    remote.put_reporting(mv.sha256, st.object_path(mv.sha256), mv.size, [&](std::uint64_t so_far) {
      std::lock_guard<std::mutex> l(pm);
      if (so_far > reported) progress.advance(so_far - reported);
      reported = std::max(reported, so_far);
    });
    if (mv.size > reported) progress.advance(mv.size - reported);
    std::lock_guard<std::mutex> l(m);
    sent += mv.size;
    ++objects_sent;
    plans[mv.plan].moved += mv.size;
  });
  // 3. The manifests, last: a remote never holds a manifest whose segments are not all there.
  for (std::size_t i = 0; i < plans.size(); ++i) {
    if (plans[i].kind == FilePlan::split)
      remote.put_manifest(objects[i].sha256, store::render_manifest(*plans[i].manifest));
    if (plans[i].kind == FilePlan::whole || plans[i].kind == FilePlan::split) progress.item_done();
  }
  res = finish(objects, plans, start);
  res.bytes = sent;
  res.skipped = skipped;
  res.objects_moved = objects_sent;
  return res;
}

TransferResult fetch(Workspace& ws, store::Remote& remote, const std::vector<ObjectRef>& objects, int jobs,
                     TransferProgress& progress) {
  auto start = std::chrono::steady_clock::now();
  store::ObjectStore& st = ws.store();
  std::uint64_t total = 0;
  for (const ObjectRef& o : objects) total += recorded_size(o);
  // Nothing to read from the remote when the cache has everything: no lock either.
  std::unique_ptr<RemoteLock> lock;
  if (!std::all_of(objects.begin(), objects.end(), [&](const ObjectRef& o) { return st.complete(o.sha256); }))
    lock = shared_lock(remote, "fetch");
  progress.start(total, objects.size());
  // 1. What the cache lacks: a file in the cache (whole, or a manifest with all its segments) is
  //    there; else the remote's manifest names the segments, else the remote's whole object.
  std::vector<FilePlan> plans(objects.size());
  parallel_for(objects.size(), jobs, [&](std::size_t i) {
    const ObjectRef& o = objects[i];
    FilePlan& p = plans[i];
    p.size = recorded_size(o);
    if (st.complete(o.sha256)) {
      progress.advance(p.size);
      progress.item_done();
      return;
    }
    std::optional<store::Manifest> local;
    try {
      local = st.manifest(o.sha256);
    } catch (const Error& e) {  // damaged: the remote's copy decides
      if (e.code() != Exit::integrity) throw;
    }
    if (local) {
      p.kind = FilePlan::split;
      p.manifest = std::move(local);
    } else if (auto text = remote.get_manifest(o.sha256)) {
      p.kind = FilePlan::split;
      p.manifest = store::parse_manifest(*text, o.sha256, o.sha256 + " on remote " + remote.describe());
    } else {
      p.kind = FilePlan::whole;
    }
  });
  std::vector<Move> moves = moves_of(plans, objects);
  std::mutex m;
  std::uint64_t received = 0, skipped = 0;
  std::size_t objects_received = 0;
  for (const FilePlan& p : plans)
    if (p.kind == FilePlan::present) skipped += p.size;
  std::set<std::size_t> lacking;  // plans with an object the remote does not have
  parallel_for(moves.size(), jobs, [&](std::size_t k) {
    const Move& mv = moves[k];
    if (st.has_object(mv.sha256)) {
      progress.advance(mv.size);
      std::lock_guard<std::mutex> l(m);
      skipped += mv.size;
      return;
    }
    try {
      progress.item(objects[mv.plan].where);
      auto got = st.put_verified(
          mv.sha256,
          [&](const store::Sink& sink, const std::function<void()>& restart) {
            remote.get(
                mv.sha256,
                [&](const char* data, std::size_t n) {
                  sink(data, n);
                  progress.advance(n);
                },
                restart);
          },
          "remote " + remote.describe());
      std::lock_guard<std::mutex> l(m);
      if (got.existed) {
        skipped += mv.size;
      } else {
        received += got.size;
        ++objects_received;
        plans[mv.plan].moved += got.size;
      }
    } catch (const Error& e) {
      if (e.code() != Exit::missing) throw;
      std::lock_guard<std::mutex> l(m);
      lacking.insert(mv.plan);
    }
  });
  // A file is missing when an object of it is: its own, or a segment some file shares with it.
  for (std::size_t i = 0; i < plans.size(); ++i) {
    FilePlan& p = plans[i];
    if (p.kind == FilePlan::whole && lacking.count(i)) p.kind = FilePlan::missing;
    if (p.kind == FilePlan::split) {
      if (lacking.count(i) || !st.missing_segments(*p.manifest).empty())
        p.kind = FilePlan::missing;
      else
        st.put_manifest(*p.manifest);  // last: its segments are all in the cache
    }
    if (p.kind != FilePlan::present) progress.item_done();
  }
  TransferResult res = finish(objects, plans, start);
  res.bytes = received;
  res.skipped = skipped;
  res.objects_moved = objects_received;
  return res;
}

}  // namespace mvc::core
