#include "core/transfer.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "core/conflict.h"
#include "mvc/error.h"
#include "util/fs.h"
#include "util/sha256.h"

namespace mvc::core {

namespace {

void add_pointer(std::map<std::string, ObjectRef>& out, const Pointer& p, const std::string& where) {
  for (const auto& f : p.files())  // every weights file (sharded weights: each shard)
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

/// What happened to one object: sent/received (with its size), already there, or missing.
struct Outcome {
  enum Kind { moved, present, missing } kind = present;
  std::uint64_t size = 0;
};

/// Runs `step` on every object, `jobs` at a time, and tallies the outcomes (push and fetch
/// differ only in their step).
TransferResult tally_transfers(const std::vector<ObjectRef>& objects, int jobs, TransferProgress& progress,
                               const std::function<Outcome(const ObjectRef&)>& step) {
  auto start = std::chrono::steady_clock::now();
  TransferResult res;
  std::mutex m;
  std::uint64_t total = 0;
  for (const ObjectRef& o : objects)
    if (!o.sizes.empty()) total += o.sizes.begin()->first;
  progress.start(total, objects.size());
  parallel_for(objects.size(), jobs, [&](std::size_t i) {
    Outcome out = step(objects[i]);
    std::lock_guard<std::mutex> l(m);
    if (out.kind == Outcome::moved) {
      ++res.transferred;
      res.bytes += out.size;
      res.moved.emplace_back(objects[i], out.size);
    } else if (out.kind == Outcome::missing) {
      res.missing.push_back(objects[i]);
    } else {
      ++res.present;
    }
    progress.item_done();
  });
  std::sort(res.moved.begin(), res.moved.end(),
            [](const auto& a, const auto& b) { return a.first.sha256 < b.first.sha256; });
  res.seconds = since(start);
  return res;
}

}  // namespace

TransferResult push(Workspace& ws, store::Remote& remote, const std::vector<ObjectRef>& objects, int jobs,
                    TransferProgress& progress) {
  remote.reclaim(store::kStaleUploadAge);  // what earlier interrupted pushes left behind
  return tally_transfers(objects, jobs, progress, [&](const ObjectRef& o) {
    std::uint64_t recorded = o.sizes.empty() ? 0 : o.sizes.begin()->first;
    if (remote.stat(o.sha256)) {
      progress.advance(recorded);
      return Outcome{Outcome::present, 0};
    }
    if (!ws.store().contains(o.sha256)) return Outcome{Outcome::missing, 0};
    fs::path p = ws.store().object_path(o.sha256);
    std::uint64_t size = fs::file_size(p);
    progress.item(o.where);
    // The bytes as they go out (a retry that starts over is not counted twice).
    std::mutex m;
    std::uint64_t reported = 0;
    remote.put_reporting(o.sha256, p, size, [&](std::uint64_t so_far) {
      std::lock_guard<std::mutex> l(m);
      if (so_far > reported) progress.advance(so_far - reported);
      reported = std::max(reported, so_far);
    });
    if (size > reported) progress.advance(size - reported);
    return Outcome{Outcome::moved, size};
  });
}

TransferResult fetch(Workspace& ws, store::Remote& remote, const std::vector<ObjectRef>& objects, int jobs,
                     TransferProgress& progress) {
  return tally_transfers(objects, jobs, progress, [&](const ObjectRef& o) {
    if (ws.store().contains(o.sha256)) {
      progress.advance(o.sizes.empty() ? 0 : o.sizes.begin()->first);
      return Outcome{Outcome::present, 0};
    }
    try {
      progress.item(o.where);
      auto st = ws.store().put_verified(
          o.sha256,
          [&](const store::Sink& sink, const std::function<void()>& restart) {
            remote.get(
                o.sha256,
                [&](const char* data, std::size_t n) {
                  sink(data, n);
                  progress.advance(n);
                },
                restart);
          },
          "remote " + remote.describe());
      return st.existed ? Outcome{Outcome::present, 0} : Outcome{Outcome::moved, st.size};
    } catch (const Error& e) {
      if (e.code() != Exit::missing) throw;
      return Outcome{Outcome::missing, 0};
    }
  });
}

}  // namespace mvc::core
