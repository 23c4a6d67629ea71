#include "core/status.h"

#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <set>

#include "core/model_version.h"
#include "core/toml_view.h"
#include "mvc/error.h"
#include "util/fs.h"
#include "util/sha256.h"

namespace mvc::core {

namespace {

/// True when object `sha` is in the cache with `size` bytes.
bool object_has_size(const Workspace& ws, const std::string& sha, std::uint64_t size) {
  auto n = ws.store().file_size(sha);
  return n && *n == size;
}

/// The weights files in the work-tree model directory `dir` that `mvc commit` would take (as
/// choose_weights_files chooses them) and that `recorded` does not name: new shards. Only for
/// sharded weights, or when the recorded file is gone (the weights were re-split): a pointer of
/// one file may have been committed with --weights beside other weights files.
std::vector<std::string> added_weights_files(const Workspace& ws, const std::string& dir, const Pointer& recorded) {
  std::set<std::string> names;
  for (const auto& f : recorded.files()) names.insert(f.path);
  if (!recorded.sharded() && fs::exists(ws.root() / dir / recorded.path)) return {};
  std::vector<std::string> out;
  try {
    for (auto& n : choose_weights_files(ws.root() / dir, dir.empty() ? "." : dir))
      if (!names.count(n)) out.push_back(n);
  } catch (const Error&) {
    // Several weights files that are not all safetensors: commit would ask which one; nothing
    // here is a shard.
  }
  return out;
}

/// How status names a stored file of pointer `p` in its changes: {what, suffix} -- {"weights",
/// ""} for one weights file, {"weights", ": <name>"} for a shard, {"optimizer state", ""} for
/// the optimizer state's tensors file (docs/repository-format.md, "Optimizer state").
std::pair<std::string, std::string> stored_file_label(const Pointer& p, const WeightsFileRecord& f) {
  if (p.optimizer && f.path == p.optimizer->path) return {"optimizer state", ""};
  return {"weights", p.sharded() ? ": " + f.path : ""};
}

}  // namespace

std::vector<ModelStatus> model_status(Workspace& ws) {
  git::Repo& g = ws.git();
  std::string head = g.head_unborn() ? "" : g.resolve_commit("HEAD");
  std::set<std::string> dirs;
  for (auto& d : workspace_model_dirs(ws)) dirs.insert(d);
  std::set<std::string> head_dirs;
  if (!head.empty())
    for (auto& d : model_dirs_at(ws, head)) head_dirs.insert(d);
  dirs.insert(head_dirs.begin(), head_dirs.end());
  std::map<std::string, ModelConflict> conflicts;
  for (auto& c : model_conflicts(ws)) {
    dirs.insert(c.dir);
    conflicts.emplace(c.dir, std::move(c));
  }

  std::vector<ModelStatus> out;
  // Weights to hash (index into out, repo-relative path), after the cheap checks; hashed
  // together below (stat cache first, misses in parallel).
  struct Hash {
    std::size_t model;       // index into out
    std::string rel;         // repo-relative weights file
    WeightsFileRecord file;  // what the pointer records for it
    std::string suffix;      // "" for one file, ": <name>" for a shard
    std::string what;        // "weights" or "optimizer state" (stored_file_label)
  };
  std::vector<Hash> to_hash;
  for (const auto& dir : dirs) {
    ModelStatus s;
    s.dir = dir;
    if (auto c = conflicts.find(dir); c != conflicts.end()) {
      s.changes.push_back("unmerged");
      for (Side side : {Side::ours, Side::theirs}) {
        ConflictSideStatus& st = side == Side::ours ? s.ours : s.theirs;
        if (side == Side::ours)
          st.commit = head;
        else
          st.commit = g.their_commit().value_or("");
        try {
          auto files = side_files(ws, c->second, side);
          if (auto m = files[join(dir, kMetricsFile)]) {
            try {
              st.metrics = flatten_toml(*m, join(dir, kMetricsFile) + " (" + side_name(side) + ")");
            } catch (const Error&) {
              st.metrics = {{"(invalid metrics.toml)", ""}};
            }
          }
          st.pointer = side_pointer(files, c->second, side);
        } catch (const Error& e) {
          st.error = e.what();
        }
      }
      s.conflict = std::move(c->second);
      out.push_back(std::move(s));
      continue;
    }
    if (!fs::is_regular_file(ws.root() / dir / kArchFile)) {
      s.changes.push_back("deleted");
      out.push_back(std::move(s));
      continue;
    }
    std::optional<PointerFile> committed = head.empty() ? std::nullopt : pointer_at(ws, head, dir);
    s.pointer = workspace_pointer(ws, dir);
    if (!head_dirs.count(dir) || !committed) s.changes.push_back("not committed");
    if (s.pointer) {
      // Each weights file (sharded weights: each shard, named after the change), and the
      // optimizer state's file.
      for (const auto& f : s.pointer->pointer.stored_files()) {
        const std::string rel = join(dir, f.path);
        const auto [what, suffix] = stored_file_label(s.pointer->pointer, f);
        fs::path w = ws.root() / rel;
        struct stat st {};
        if (::lstat(w.c_str(), &st) != 0) {
          s.changes.push_back(what + " missing" + suffix);
        } else if (S_ISREG(st.st_mode) && static_cast<std::uint64_t>(st.st_size) != f.size &&
                   !object_has_size(ws, f.sha256, static_cast<std::uint64_t>(st.st_size))) {
          s.changes.push_back(what + " modified" + suffix);  // another size: no need to read it
        } else {
          // The recorded size, or that of the pointer's object in the cache (then the pointer's
          // size may be what is wrong: the hash settles it below).
          to_hash.push_back({out.size(), rel, f, suffix, what});
          s.changes.push_back(what + " modified" + suffix);  // placeholder, settled below
        }
        if (!ws.store().contains(f.sha256)) s.changes.push_back("object not in cache" + suffix);
      }
      for (const auto& n : added_weights_files(ws, dir, s.pointer->pointer)) s.changes.push_back("weights added: " + n);
    }
    if (!head.empty() && head_dirs.count(dir)) {
      // Through git's filters (git::Repo::worktree_matches), as git status compares them: a
      // clone with core.autocrlf=true holds CRLF copies of LF blobs, and they are unchanged.
      for (const char* f : {kArchFile, kHparamsFile, kMetricsFile, kOptimizerFile}) {
        std::string rel = join(dir, f);
        if (!g.worktree_matches(rel, g.read_blob_at(head, rel))) s.changes.push_back(std::string(f) + " modified");
      }
      // The shard index (a git file, as arch.toml): committed or in the work tree.
      std::set<std::string> indexes;
      for (const auto& n : g.list_dir_at(head, dir))
        if (is_shard_index_name(n)) indexes.insert(n);
      if (std::string n = find_shard_index(ws.root() / dir, dir.empty() ? "." : dir); !n.empty()) indexes.insert(n);
      for (const auto& n : indexes) {
        std::optional<std::string> blob = g.read_blob_at(head, join(dir, n));
        if (!blob)
          s.changes.push_back(n + " added");
        else if (!fs::is_regular_file(ws.root() / dir / n))
          s.changes.push_back(n + " removed");
        else if (!g.worktree_matches(join(dir, n), blob))
          s.changes.push_back(n + " modified");
      }
      if (committed && s.pointer) {
        if (committed->rel != s.pointer->rel ||
            !g.worktree_matches(s.pointer->rel, g.read_blob_at(head, committed->rel)))
          s.changes.push_back("pointer modified");
      }
    }
    out.push_back(std::move(s));
  }
  std::vector<std::string> rels;
  for (auto& h : to_hash) rels.push_back(h.rel);
  std::vector<std::uint64_t> sizes;
  std::vector<std::string> shas = ws.hash_files(rels, &sizes);
  for (std::size_t k = 0; k < to_hash.size(); ++k) {
    ModelStatus& s = out[to_hash[k].model];
    const Hash& h = to_hash[k];
    if (h.file.path == s.pointer->pointer.path) s.weights_sha256 = shas[k];
    if (shas[k] == h.file.sha256) {
      auto it = std::find(s.changes.begin(), s.changes.end(), h.what + " modified" + h.suffix);
      // The weights are the object the pointer names, of another size: the pointer is wrong.
      if (sizes[k] != h.file.size)
        *it = "pointer size wrong" + h.suffix;
      else
        s.changes.erase(it);
    }
  }
  ws.save_state();
  return out;
}

}  // namespace mvc::core
