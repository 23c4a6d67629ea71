#include "core/commit.h"

#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "arch/arch.h"
#include "core/hooks.h"
#include "core/model_check.h"
#include "core/model_version.h"
#include "core/torch_bridge.h"
#include "mvc/error.h"
#include "util/fs.h"
#include "util/parallel.h"

namespace mvc::core {

namespace {

std::string base_name(const std::string& rel) {
  auto s = rel.rfind('/');
  return s == std::string::npos ? rel : rel.substr(s + 1);
}

/// The .gitignore line that ignores exactly the file `name` in the .gitignore's directory:
/// anchored with "/", and escaped by the pattern rules of gitignore(5): a backslash before each
/// '\', '*', '?' and '[' (else globs) and before each trailing space (else trimmed). '#' and
/// '!' need none after the "/". A name with a line feed, or ending in a carriage return, has no
/// such line; find_weights_file refuses it.
std::string gitignore_line(const std::string& name) {
  std::size_t trailing = name.size();
  while (trailing > 0 && name[trailing - 1] == ' ') --trailing;
  std::string line = "/";
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c == '\\' || c == '*' || c == '?' || c == '[' || (c == ' ' && i >= trailing)) line += '\\';
    line += c;
  }
  return line;
}

/// What a .gitignore line says about the file `name` in its directory: +1 ignores it, -1
/// re-includes it ("!..."), 0 neither — or, for a negated glob, "maybe re-includes it", taken as
/// -1. A literal line (no unescaped glob character) names the file when, unescaped and with
/// trailing spaces trimmed as git trims them, it is the name with or without a leading "/".
/// Other glob lines count as 0: the caller then writes its own line, which is harmless.
int gitignore_says(std::string line, const std::string& name) {
  if (!line.empty() && line.back() == '\r') line.pop_back();  // git reads CRLF files so
  if (line.empty() || line[0] == '#') return 0;
  bool negated = line[0] == '!';
  if (negated) line.erase(0, 1);
  std::string literal;
  std::size_t keep = 0;  // length of `literal` without the trailing unescaped spaces
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (c == '\\') {
      if (++i == line.size()) return 0;  // a trailing backslash: git matches nothing
      literal += line[i];
      keep = literal.size();
    } else if (c == '*' || c == '?' || c == '[') {
      return negated ? -1 : 0;
    } else {
      literal += c;
      if (c != ' ') keep = literal.size();
    }
  }
  literal.resize(keep);
  if (!literal.empty() && literal[0] == '/') literal.erase(0, 1);
  if (literal != name) return 0;
  return negated ? -1 : 1;
}

/// Ensures the .gitignore `rel` ignores `/<weights name>`; returns its new clean text (for
/// git::Repo::write_worktree), or nullopt when its lines already do (judged by their meaning,
/// not their spelling). The file is read through git's filters, as git reads it into a blob;
/// lines may still end in CRLF (no filter converts them), and the new line then does too.
std::optional<std::string> gitignore_with(const git::Repo& g, const std::string& rel,
                                          const std::vector<std::string>& weights_names,
                                          const std::string& pointer_name) {
  std::string text = g.read_worktree_clean(rel).value_or("");
  const std::string eol = text.find("\r\n") != std::string::npos ? "\r\n" : "\n";
  bool changed = false;
  for (const auto& weights_name : weights_names) {
    bool ignored = false;
    std::size_t pos = 0;
    while (pos < text.size()) {
      std::size_t end = text.find('\n', pos);
      if (end == std::string::npos) end = text.size();
      if (int says = gitignore_says(text.substr(pos, end - pos), weights_name); says != 0) ignored = says > 0;
      pos = end + 1;
    }
    if (ignored) continue;
    if (!text.empty() && text.back() != '\n') text += eol;
    if (text.empty())
      text += "# mvc: the weights live in the cache; git keeps the pointer (" + pointer_name + ")" + eol;
    text += gitignore_line(weights_name) + eol;
    changed = true;
  }
  if (!changed) return std::nullopt;
  return text;
}

/// The bytes (and mode) of the work-tree files a commit writes or removes, as they were before:
/// put back, unless keep() was called, when the commit fails before it exists. The index is
/// git::IndexLock's to restore.
class WorkTreeUndo {
 public:
  WorkTreeUndo() = default;
  WorkTreeUndo(const WorkTreeUndo&) = delete;
  WorkTreeUndo& operator=(const WorkTreeUndo&) = delete;
  /// Records `p` as it is now; call before changing it (later calls for `p` do nothing).
  void save(const fs::path& p) {
    for (auto& s : saved_)
      if (s.path == p) return;
    Saved s{p, std::nullopt, 0};
    struct stat st {};
    if (::lstat(p.c_str(), &st) == 0) {
      s.bytes = util::read_file(p);
      s.mode = st.st_mode & 07777;
    }
    saved_.push_back(std::move(s));
  }
  void keep() { saved_.clear(); }
  ~WorkTreeUndo() {
    for (auto& s : saved_) {
      try {
        std::error_code ec;
        if (!s.bytes) {
          fs::remove(s.path, ec);
        } else if (!fs::is_regular_file(s.path, ec) || util::read_file(s.path) != *s.bytes) {
          util::write_file_atomic(s.path, *s.bytes);
          ::chmod(s.path.c_str(), s.mode);
        }
      } catch (...) {  // best effort: the error being reported is the commit's
      }
    }
  }

 private:
  struct Saved {
    fs::path path;
    std::optional<std::string> bytes;  ///< nullopt: did not exist
    mode_t mode;
  };
  std::vector<Saved> saved_;
};

struct Plan {
  std::optional<util::TempFile> example_output;  ///< the model's output on --example
  std::string dir;
  std::string weights_rel;                ///< the first (or only) weights file
  std::vector<std::string> weights_rels;  ///< every weights file (several: shards)
  std::vector<std::uint64_t> file_tensors;
  std::string index_rel;      ///< the shard index (*.safetensors.index.json), "" = none
  std::string optimizer_rel;  ///< the optimizer state's tensors (optimizer.safetensors), "" = none
  std::uint64_t optimizer_tensors = 0;
  std::string pointer_rel;  ///< the pointer to write
  std::string arch_name;
  WeightsInfo info;
  Fit fit;
  LoadOptions load;
  std::optional<PointerFile> old;  ///< the model's pointer before this commit
};

/// `rel` when a .gitignore line can name its file (see gitignore_line); else Exit::usage.
std::string shown_dir(const std::string& dir) { return dir.empty() ? "." : dir; }

std::string ignorable(const std::string& rel) {
  std::string name = base_name(rel);
  if (name.find('\n') != std::string::npos || name.back() == '\r')
    throw Error(Exit::usage,
                rel + ": a weights file name with a line break cannot be written to .gitignore; rename the file");
  return rel;
}

}  // namespace

CommitResult commit_models(Workspace& ws, const CommitRequest& req) {
  if (req.paths.empty()) throw Error(Exit::usage, "commit: name at least one model directory");
  if (req.message.empty()) throw Error(Exit::usage, "commit: a message is required (-m MESSAGE)");
  if (!req.weights.empty() && req.paths.size() != 1)
    throw Error(Exit::usage, "commit: --weights goes with exactly one model directory");
  if (!req.example.empty() && req.paths.size() != 1)
    throw Error(Exit::usage, "commit: --example goes with exactly one model directory");
  if (!req.example.empty() && !fs::is_regular_file(req.example))
    throw Error(Exit::failure, req.example.string() + ": no such file");
  git::Repo& g = ws.git();

  // 1. Validate everything before writing anything.
  std::vector<Plan> plans;
  std::set<std::string> dirs_seen;
  for (const auto& p : req.paths) {
    std::string dir = g.rel(p);
    if (!dirs_seen.insert(dir).second) continue;
    ModelVersion v = resolve_version(ws, "", dir);
    Plan plan;
    plan.dir = dir;
    plan.arch_name = v.arch_name;
    const std::string& arch_text = v.arch_text;
    const std::string& hp_name = v.hparams_name;
    std::string hp_text = v.hparams_text.value_or("");
    arch::Architecture a = arch::parse_architecture(arch_text, plan.arch_name, hp_text, hp_name);
    plan.weights_rels = find_weights_files(ws, dir, req.weights);
    std::vector<std::string> names;
    for (auto& r : plan.weights_rels) names.push_back(base_name(ignorable(r)));
    plan.weights_rel = plan.weights_rels[0];
    plan.pointer_rel = join(dir, pointer_name_for(names));
    if (req.weights.empty())
      if (std::string index = find_shard_index(ws.root() / dir, shown_dir(dir)); !index.empty())
        plan.index_rel = join(dir, index);
    for (const auto& r : plan.weights_rels)
      if (base_name(r) == kOptimizerStateFile)
        throw Error(Exit::usage, r + ": optimizer state, not weights (it is committed with the weights it belongs to)");
    // Optimizer state (docs/repository-format.md, "Optimizer state"): its tensors file is stored
    // like weights, its param groups (optimizer.toml) are committed like hparams.toml.
    if (std::error_code ec; fs::is_regular_file(ws.root() / dir / kOptimizerStateFile, ec)) {
      plan.optimizer_rel = join(dir, kOptimizerStateFile);
      if (!fs::is_regular_file(ws.root() / dir / kOptimizerFile, ec))
        throw Error(Exit::model, plan.optimizer_rel + ": optimizer state without its " + join(dir, kOptimizerFile) +
                                     " (write both with mvc.save(..., optimizer=opt), or remove it)");
      WeightsInfo oi = inspect_weights(ws.root() / plan.optimizer_rel, plan.optimizer_rel);
      if (oi.kind != "safetensors")
        throw Error(Exit::model, plan.optimizer_rel + ": not a safetensors file (kind " + oi.kind + ")");
      plan.optimizer_tensors = oi.tensors.size();
    } else if (fs::is_regular_file(ws.root() / dir / kOptimizerFile, ec)) {
      throw Error(Exit::model, join(dir, kOptimizerFile) + ": param groups without the optimizer state's tensors (" +
                                   join(dir, kOptimizerStateFile) + "); write both with mvc.save(..., optimizer=opt)");
    }
    plan.old = v.pointer;
    if (plan.old && plan.old->rel == plan.pointer_rel) plan.load = plan.old->pointer.load;
    if (req.key) plan.load.key = *req.key;
    if (req.strip_prefix) plan.load.strip_prefix = *req.strip_prefix;
    if (req.cast) plan.load.cast = *req.cast;
    if (!plan.load.cast.empty())
      plan.load.cast = std::string(weights::torch_name(*parse_cast(plan.load.cast, "--cast", Exit::usage)));
    if (plan.weights_rels.size() == 1 && plan.index_rel.empty()) {
      plan.info = inspect_weights(ws.root() / plan.weights_rel, plan.weights_rel, plan.load);
      if (!plan.info.detected_key.empty()) plan.load.key = plan.info.detected_key;
      plan.fit = check_fit(a, plan.info, plan.weights_rel, plan.arch_name, plan.load.cast);
      plan.file_tensors = {plan.fit.tensors};
    } else {
      // Sharded weights (or one file with a shard index): the union of the files is the
      // state dict, checked strictly as one (docs/repository-format.md, "Weights files").
      plan.info = inspect_shards(ws.root(), plan.weights_rels, plan.index_rel, plan.load, &plan.file_tensors);
      plan.fit = check_fit(a, plan.info, shards_display(dir, plan.weights_rels), plan.arch_name, plan.load.cast);
    }
    if (!req.example.empty()) {
      fs::path tmp = ws.mvc_dir() / "tmp";
      fs::create_directories(tmp);
      plan.example_output.emplace(tmp, "example-out");
      ModelSource src = with_load(v.source(ws.root() / plan.weights_rel), plan.load);
      src.weights_name = plan.weights_rel;
      src.extra_weights.clear();
      src.extra_weights_names.clear();
      for (std::size_t k = 1; k < plan.weights_rels.size(); ++k) {
        src.extra_weights.push_back(ws.root() / plan.weights_rels[k]);
        src.extra_weights_names.push_back(plan.weights_rels[k]);
      }
      torch_run(src, req.example, plan.example_output->path());
    }
    plans.push_back(std::move(plan));
  }
  if (!req.tag.empty()) {
    if (!git::Repo::valid_tag_name(req.tag)) throw Error(Exit::usage, "'" + req.tag + "' is not a valid tag name");
    if (g.tag_exists(req.tag)) throw Error(Exit::usage, "tag '" + req.tag + "' already exists");
  }

  // 2. Store the objects (immutable: one left behind by a failure below is harmless).
  {
    std::vector<std::string> dirs;
    for (auto& p : plans) dirs.push_back(p.dir);
    ws.prepare_writes(dirs);  // git ignores temps; a killed writer's are reclaimed
  }
  CommitResult result;
  std::vector<std::string> to_stage;
  std::vector<std::string> to_unstage;
  // Store the weights: a file whose stat data the stat cache vouches for and whose object is
  // in the store is not read again; the others are stored in parallel (one streaming pass each).
  // Every weights file of every model is one job: shards hash and copy in parallel too.
  std::vector<std::string> files;  // repository-relative, one per job
  std::vector<std::size_t> first_file(plans.size());
  for (std::size_t i = 0; i < plans.size(); ++i) {
    first_file[i] = files.size();
    files.insert(files.end(), plans[i].weights_rels.begin(), plans[i].weights_rels.end());
    if (!plans[i].optimizer_rel.empty()) files.push_back(plans[i].optimizer_rel);  // last of the model's jobs
  }
  std::vector<store::ObjectStore::Stored> stored_all(files.size());
  std::vector<std::size_t> to_store;
  util::StatCache& cache = ws.stat_cache();
  for (std::size_t i = 0; i < files.size(); ++i) {
    struct stat st {};
    fs::path w = ws.root() / files[i];
    if (::lstat(w.c_str(), &st) == 0)
      if (auto hit = cache.lookup(files[i], st); hit && ws.store().contains(*hit)) {
        stored_all[i].sha256 = *hit;
        stored_all[i].size = static_cast<std::uint64_t>(st.st_size);
        stored_all[i].existed = true;
        continue;
      }
    to_store.push_back(i);
  }
  util::Progress& progress = req.progress ? *req.progress : util::no_progress();
  if (!to_store.empty()) {
    std::uint64_t total = 0;
    for (std::size_t i : to_store) {
      std::error_code ec;
      std::uintmax_t n = fs::file_size(ws.root() / files[i], ec);
      if (!ec) total += n;
    }
    progress.start(total, to_store.size());
  }
  util::parallel_for(to_store.size(), [&](std::size_t k) {
    std::size_t i = to_store[k];
    progress.item(files[i]);
    stored_all[i] = ws.store().put_file(ws.root() / files[i], util::ProgressDelta(progress));
    progress.item_done();
  });
  for (std::size_t i : to_store)
    cache.record(files[i], stored_all[i].st, stored_all[i].sha256, stored_all[i].hashed_at_ns);
  ws.save_state();

  // 3. Git's index lock, held from reading the index to writing the commit (as git commit
  // holds it), serialises concurrent commits, git's included. It is taken before anything in
  // the work tree changes, so failing to get it (exit 6), or an index mvc cannot use, changes
  // nothing; from here on, a failure before the commit exists puts back the previous bytes of
  // every pointer and .gitignore written, and leaves the index as it was.
  git::IndexLock index_lock(g);
  WorkTreeUndo undo;
  for (const auto& [rel, text] : req.also_write) {
    undo.save(ws.root() / rel);
    g.write_worktree(rel, text);
    to_stage.push_back(rel);
  }
  for (const auto& rel : req.also_remove) {
    undo.save(ws.root() / rel);
    std::error_code ec;
    fs::remove(ws.root() / rel, ec);
    to_stage.push_back(rel);  // staging a file that is gone removes it from the index
  }
  for (std::size_t pi = 0; pi < plans.size(); ++pi) {
    Plan& plan = plans[pi];
    PointerFile pf;
    pf.rel = plan.pointer_rel;
    std::vector<WeightsFileRecord> records;
    std::vector<std::string> weights_names;
    bool existed = true;
    std::size_t segments = 0;
    std::uint64_t written = 0;
    for (std::size_t k = 0; k < plan.weights_rels.size(); ++k) {
      const store::ObjectStore::Stored& stored = stored_all[first_file[pi] + k];
      WeightsFileRecord r;
      r.path = base_name(plan.weights_rels[k]);
      r.sha256 = stored.sha256;
      r.size = stored.size;
      r.kind = plan.info.kind;
      r.tensors = k < plan.file_tensors.size() ? plan.file_tensors[k] : 0;
      weights_names.push_back(r.path);
      existed = existed && stored.existed;
      segments += stored.segments;
      written += stored.written;
      records.push_back(std::move(r));
    }
    pf.pointer.set_files(std::move(records));
    if (!plan.optimizer_rel.empty()) {
      const store::ObjectStore::Stored& stored = stored_all[first_file[pi] + plan.weights_rels.size()];
      pf.pointer.optimizer =
          WeightsFileRecord{kOptimizerStateFile, stored.sha256, stored.size, "safetensors", plan.optimizer_tensors};
      weights_names.push_back(kOptimizerStateFile);  // ignored by git, as the weights
      existed = existed && stored.existed;
      segments += stored.segments;
      written += stored.written;
    }
    pf.pointer.format = pf.pointer.optimizer ? 3 : pf.pointer.sharded() ? 2 : 1;
    pf.pointer.tensors = plan.fit.tensors;
    pf.pointer.parameters = plan.fit.parameters;
    pf.pointer.load = plan.load;
    // Keep the [example] record of an existing pointer for the same bytes.
    if (auto& old = plan.old; old && old->rel == pf.rel) {
      if (old->pointer.files().size() == pf.pointer.files().size() &&
          std::equal(old->pointer.shards.begin(), old->pointer.shards.end(), pf.pointer.shards.begin(),
                     [](const auto& x, const auto& y) { return x.sha256 == y.sha256 && x.path == y.path; }))
        pf.pointer.example = old->pointer.example;
    }
    if (plan.example_output) {
      ExampleRecord ex;
      ex.input = ws.store().put_file(req.example).sha256;
      ex.output = ws.store().put_file(plan.example_output->path()).sha256;
      pf.pointer.example = ex;
    }
    if (auto old = workspace_pointer(ws, plan.dir); old && old->rel != pf.rel) {
      // The model switched weights files: drop the old pointer.
      std::error_code ec;
      undo.save(ws.root() / old->rel);
      fs::remove(ws.root() / old->rel, ec);
      to_stage.push_back(old->rel);
    }
    // The pointer and the .gitignore are written as git checkout would write their blobs
    // (its filters: CRLF under core.autocrlf=true), and left alone when they already hold them.
    std::string text = pf.pointer.to_toml();
    if (!g.worktree_matches(pf.rel, text)) {
      undo.save(ws.root() / pf.rel);
      g.write_worktree(pf.rel, text);
    }
    std::string ign_rel = join(plan.dir, ".gitignore");
    if (auto ign = gitignore_with(g, ign_rel, weights_names, base_name(pf.rel))) {
      undo.save(ws.root() / ign_rel);
      g.write_worktree(ign_rel, *ign);
    }

    for (const char* f : {kArchFile, kHparamsFile, kMetricsFile, kOptimizerFile}) to_stage.push_back(join(plan.dir, f));
    to_stage.push_back(pf.rel);
    to_stage.push_back(ign_rel);
    // The shard index is a git file, as arch.toml is; one that went away is unstaged.
    if (!plan.index_rel.empty()) to_stage.push_back(plan.index_rel);
    for (const auto& p : g.index_paths())
      if (p.rfind(plan.dir.empty() ? "" : plan.dir + "/", 0) == 0 &&
          p.find('/', plan.dir.empty() ? 0 : plan.dir.size() + 1) == std::string::npos &&
          is_shard_index_name(base_name(p)) && p != plan.index_rel)
        to_stage.push_back(p);
    for (const auto& w : plan.weights_rels)
      if (g.read_index_blob(w)) to_unstage.push_back(w);  // never in git
    if (!plan.optimizer_rel.empty() && g.read_index_blob(plan.optimizer_rel)) to_unstage.push_back(plan.optimizer_rel);

    ModelCommitted mc;
    mc.dir = plan.dir;
    mc.pointer = pf;
    mc.object_existed = existed;
    mc.segments = segments;
    mc.written = written;
    result.models.push_back(std::move(mc));
  }
  if (!to_unstage.empty()) g.unstage_remove(to_unstage);
  // Stage only files that exist or are tracked (hparams/metrics are optional).
  std::vector<std::string> stage;
  for (auto& s : to_stage)
    if (fs::exists(ws.root() / s) || g.read_index_blob(s)) stage.push_back(s);
  g.stage(stage);

  // 4. Which models changed against HEAD?
  bool unborn = g.head_unborn();
  std::string head = unborn ? "" : g.resolve_commit("HEAD");
  for (auto& m : result.models) {
    if (unborn) {
      m.changed = true;
      continue;
    }
    for (const char* f : {kArchFile, kHparamsFile, kMetricsFile, kOptimizerFile, ".gitignore"}) {
      std::string rel = join(m.dir, f);
      if (g.read_blob_at(head, rel) != g.read_index_blob(rel)) m.changed = true;
    }
    if (g.read_blob_at(head, m.pointer.rel) != g.read_index_blob(m.pointer.rel)) m.changed = true;
    for (const auto& p : g.index_paths())
      if (is_shard_index_name(base_name(p)) && p.rfind(m.dir.empty() ? "" : m.dir + "/", 0) == 0 &&
          g.read_blob_at(head, p) != g.read_index_blob(p))
        m.changed = true;
  }

  // 5. The repository's hooks, as git commit runs them (GIT_INDEX_FILE names the locked index
  // they see, and which the pre-commit hook may change); commit the index; tag. COMMIT_EDITMSG
  // is written under the index lock, so concurrent commits never read each other's message.
  std::string message = req.message;
  if (!req.no_verify) {
    std::map<std::string, std::string> env{{"GIT_INDEX_FILE", index_lock.lock_path().string()}};
    if (int rc = run_repo_hook(g, "pre-commit", {}, {}, env); rc != 0)
      throw Error(Exit::failure, "pre-commit hook failed (exit " + std::to_string(rc) +
                                     "); nothing committed, nothing changed (--no-verify skips hooks)");
    index_lock.reload();
    fs::path msg_file = g.gitdir() / "COMMIT_EDITMSG";
    util::write_file_atomic(msg_file, message + (message.empty() || message.back() != '\n' ? "\n" : ""));
    if (int rc = run_repo_hook(g, "commit-msg", {msg_file.string()}, {}, env); rc != 0)
      throw Error(Exit::failure,
                  "commit-msg hook failed (exit " + std::to_string(rc) + "); nothing committed, nothing changed");
    message = util::read_file(msg_file);
  }
  result.commit = g.commit_index(message);
  undo.keep();  // the commit (or HEAD, when nothing changed) holds the pointers now
  index_lock.commit();
  if (result.commit) run_repo_hook(g, "post-commit", {});
  result.branch = g.head_branch().value_or("HEAD");
  if (!req.tag.empty()) {
    std::string target = result.commit ? *result.commit : (unborn ? "" : head);
    if (!target.empty()) {
      g.create_tag(req.tag, target, req.message);
      result.tagged = true;
    }
  }
  return result;
}

}  // namespace mvc::core
