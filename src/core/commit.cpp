#include "core/commit.h"

#include <sys/stat.h>

#include <algorithm>
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

std::string dir_display(const std::string& dir) { return dir.empty() ? "." : dir; }

std::string base_name(const std::string& rel) {
  auto s = rel.rfind('/');
  return s == std::string::npos ? rel : rel.substr(s + 1);
}

/// Ensures `<dir>/.gitignore` ignores `/<weights name>`; returns the new text or nullopt.
std::optional<std::string> gitignore_with(const fs::path& file, const std::string& weights_name) {
  std::string text;
  if (fs::exists(file)) text = util::read_file(file);
  std::string line = "/" + weights_name;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string l = text.substr(pos, end - pos);
    if (l == line || l == weights_name) return std::nullopt;
    pos = end + 1;
  }
  if (!text.empty() && text.back() != '\n') text += '\n';
  if (text.empty()) text += "# mvc: the weights live in the cache; git keeps the pointer (" + weights_name + ".mvc)\n";
  text += line + "\n";
  return text;
}

struct Plan {
  std::optional<util::TempFile> example_output;  ///< the model's output on --example
  std::string dir;
  std::string weights_rel;
  std::string arch_name;
  WeightsInfo info;
  Fit fit;
  LoadOptions load;
  std::optional<PointerFile> old;  ///< the model's pointer before this commit
};

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
    plan.weights_rel = find_weights_file(ws, dir, req.weights);
    plan.old = v.pointer;
    if (plan.old && plan.old->rel == plan.weights_rel + kPointerSuffix) plan.load = plan.old->pointer.load;
    if (req.key) plan.load.key = *req.key;
    if (req.strip_prefix) plan.load.strip_prefix = *req.strip_prefix;
    if (req.cast) plan.load.cast = *req.cast;
    if (!plan.load.cast.empty())
      plan.load.cast = std::string(weights::torch_name(*parse_cast(plan.load.cast, "--cast", Exit::usage)));
    plan.info = inspect_weights(ws.root() / plan.weights_rel, plan.weights_rel, plan.load);
    if (!plan.info.detected_key.empty()) plan.load.key = plan.info.detected_key;
    plan.fit = check_fit(a, plan.info, plan.weights_rel, plan.arch_name, plan.load.cast);
    if (!req.example.empty()) {
      fs::path tmp = ws.mvc_dir() / "tmp";
      fs::create_directories(tmp);
      plan.example_output.emplace(tmp, "example-out");
      ModelSource src = with_load(v.source(ws.root() / plan.weights_rel), plan.load);
      src.weights_name = plan.weights_rel;
      torch_run(src, req.example, plan.example_output->path());
    }
    plans.push_back(std::move(plan));
  }
  if (!req.tag.empty()) {
    if (!git::Repo::valid_tag_name(req.tag)) throw Error(Exit::usage, "'" + req.tag + "' is not a valid tag name");
    if (g.tag_exists(req.tag)) throw Error(Exit::usage, "tag '" + req.tag + "' already exists");
  }

  // 2. Store objects, write pointers and .gitignore files, stage.
  CommitResult result;
  std::vector<std::string> to_stage;
  std::vector<std::string> to_unstage;
  // Store the weights: a file whose stat data the stat cache vouches for and whose object is
  // in the store is not read again; the others are stored in parallel (one streaming pass each).
  std::vector<store::ObjectStore::Stored> stored_all(plans.size());
  std::vector<std::size_t> to_store;
  util::StatCache& cache = ws.stat_cache();
  for (std::size_t i = 0; i < plans.size(); ++i) {
    struct stat st {};
    fs::path w = ws.root() / plans[i].weights_rel;
    if (::lstat(w.c_str(), &st) == 0)
      if (auto hit = cache.lookup(plans[i].weights_rel, st); hit && ws.store().contains(*hit)) {
        stored_all[i].sha256 = *hit;
        stored_all[i].size = static_cast<std::uint64_t>(st.st_size);
        stored_all[i].existed = true;
        continue;
      }
    to_store.push_back(i);
  }
  util::parallel_for(to_store.size(), [&](std::size_t k) {
    std::size_t i = to_store[k];
    stored_all[i] = ws.store().put_file(ws.root() / plans[i].weights_rel);
  });
  for (std::size_t i : to_store)
    cache.record(plans[i].weights_rel, stored_all[i].st, stored_all[i].sha256, stored_all[i].hashed_at_ns);
  ws.save_state();
  for (std::size_t pi = 0; pi < plans.size(); ++pi) {
    Plan& plan = plans[pi];
    const store::ObjectStore::Stored& stored = stored_all[pi];
    std::string weights_name = base_name(plan.weights_rel);
    PointerFile pf;
    pf.rel = plan.weights_rel + kPointerSuffix;
    pf.pointer.path = weights_name;
    pf.pointer.sha256 = stored.sha256;
    pf.pointer.size = stored.size;
    pf.pointer.kind = plan.info.kind;
    pf.pointer.tensors = plan.fit.tensors;
    pf.pointer.parameters = plan.fit.parameters;
    pf.pointer.load = plan.load;
    // Keep the [example] record of an existing pointer for the same bytes.
    if (auto& old = plan.old; old && old->rel == pf.rel) {
      if (old->pointer.sha256 == pf.pointer.sha256) pf.pointer.example = old->pointer.example;
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
      fs::remove(ws.root() / old->rel, ec);
      to_stage.push_back(old->rel);
    }
    std::string text = pf.pointer.to_toml();
    fs::path ptr_path = ws.root() / pf.rel;
    if (!fs::exists(ptr_path) || util::read_file(ptr_path) != text) util::write_file_atomic(ptr_path, text);
    std::string ign_rel = join(plan.dir, ".gitignore");
    if (auto ign = gitignore_with(ws.root() / ign_rel, weights_name)) util::write_file_atomic(ws.root() / ign_rel, *ign);

    for (const char* f : {kArchFile, kHparamsFile, kMetricsFile}) to_stage.push_back(join(plan.dir, f));
    to_stage.push_back(pf.rel);
    to_stage.push_back(ign_rel);
    if (g.read_index_blob(plan.weights_rel)) to_unstage.push_back(plan.weights_rel);  // never in git

    ModelCommitted mc;
    mc.dir = plan.dir;
    mc.pointer = pf;
    mc.object_existed = stored.existed;
    result.models.push_back(std::move(mc));
  }
  if (!to_unstage.empty()) g.unstage_remove(to_unstage);
  // Stage only files that exist or are tracked (hparams/metrics are optional).
  std::vector<std::string> stage;
  for (auto& s : to_stage)
    if (fs::exists(ws.root() / s) || g.read_index_blob(s)) stage.push_back(s);
  g.stage(stage);

  // 3. Which models changed against HEAD?
  bool unborn = g.head_unborn();
  std::string head = unborn ? "" : g.resolve_commit("HEAD");
  for (auto& m : result.models) {
    if (unborn) {
      m.changed = true;
      continue;
    }
    for (const char* f : {kArchFile, kHparamsFile, kMetricsFile, ".gitignore"}) {
      std::string rel = join(m.dir, f);
      if (g.read_blob_at(head, rel) != g.read_index_blob(rel)) m.changed = true;
    }
    if (g.read_blob_at(head, m.pointer.rel) != g.read_index_blob(m.pointer.rel)) m.changed = true;
  }

  // 4. The repository's hooks, as git commit runs them; commit the index; tag.
  std::string message = req.message;
  if (!req.no_verify) {
    if (int rc = run_repo_hook(g, "pre-commit", {}); rc != 0)
      throw Error(Exit::failure, "pre-commit hook failed (exit " + std::to_string(rc) +
                                     "); nothing committed (the model files stay staged; --no-verify skips hooks)");
    fs::path msg_file = g.gitdir() / "COMMIT_EDITMSG";
    util::write_file_atomic(msg_file, message + (message.empty() || message.back() != '\n' ? "\n" : ""));
    if (int rc = run_repo_hook(g, "commit-msg", {msg_file.string()}); rc != 0)
      throw Error(Exit::failure, "commit-msg hook failed (exit " + std::to_string(rc) + "); nothing committed");
    message = util::read_file(msg_file);
  }
  result.commit = g.commit_index(message);
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
