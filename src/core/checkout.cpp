#include "core/checkout.h"
#include "core/example.h"

#include <sys/stat.h>

#include <map>
#include <optional>
#include <set>

#include "arch/arch.h"
#include "core/model_check.h"
#include "core/transfer.h"
#include "mvc/error.h"
#include "util/fs.h"
#include "util/sha256.h"

namespace mvc::core {

namespace {

std::string dir_display(const std::string& dir) { return dir.empty() ? "." : dir; }

struct Target {
  std::string dir;
  PointerFile pointer;
  std::string arch_text, hparams_text;  // of the version being restored
  std::optional<util::TempFile> temp;   // verified copy, renamed into place last
  RestoredModel result;
};

bool is_regular_nolink(const fs::path& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

/// Refuses to overwrite weights that exist nowhere else (not in the cache).
void check_weights_safe(const Workspace& ws, const Target& t, std::string* current_sha) {
  fs::path w = ws.root() / t.pointer.weights_rel();
  if (!is_regular_nolink(w)) return;
  *current_sha = util::sha256_file(w);
  if (*current_sha == t.pointer.pointer.sha256) return;
  if (!ws.store().contains(*current_sha))
    throw Error(Exit::failure, t.pointer.weights_rel() +
                                   ": local weights are not committed and would be lost; run 'mvc commit " +
                                   dir_display(t.dir) + "' first, or use --force");
}

std::string text_or_empty(const std::optional<std::string>& s) { return s ? *s : std::string(); }

}  // namespace

CheckoutResult checkout(Workspace& ws, const CheckoutRequest& req) {
  git::Repo& g = ws.git();
  CheckoutResult result;
  std::vector<Target> targets;
  std::vector<std::string> text_paths;  // form A: paths to check out from REV

  std::set<std::string> dirs;
  for (auto& p : req.paths) dirs.insert(g.rel(p));

  if (!req.rev.empty()) {
    result.commit = g.resolve_commit(req.rev);
    std::vector<std::string> at = model_dirs_at(ws, result.commit);
    std::set<std::string> at_set(at.begin(), at.end());
    if (req.paths.empty()) {
      dirs.insert(at.begin(), at.end());
    } else {
      for (auto& d : dirs)
        if (!at_set.count(d))
          throw Error(Exit::failure, dir_display(d) + ": not a model directory at '" + req.rev + "' (no arch.toml)");
    }
    for (auto& d : dirs) {
      auto ptr = pointer_at(ws, result.commit, d);
      if (!ptr) throw Error(Exit::failure, dir_display(d) + ": no weights pointer at '" + req.rev + "'; nothing to restore");
      Target t;
      t.dir = d;
      t.pointer = *ptr;
      t.arch_text = text_or_empty(g.read_blob_at(result.commit, join(d, kArchFile)));
      t.hparams_text = text_or_empty(g.read_blob_at(result.commit, join(d, kHparamsFile)));
      targets.push_back(std::move(t));
    }
  } else {
    if (dirs.empty()) {
      auto all = workspace_model_dirs(ws);
      dirs.insert(all.begin(), all.end());
    }
    for (auto& d : dirs) {
      if (!fs::is_regular_file(ws.root() / d / kArchFile))
        throw Error(Exit::failure, dir_display(d) + ": not a model directory (no arch.toml)");
      auto ptr = workspace_pointer(ws, d);
      if (!ptr) {
        if (!req.paths.empty()) throw Error(Exit::failure, dir_display(d) + ": no weights pointer; run 'mvc commit' first");
        continue;  // not committed yet: nothing to restore
      }
      Target t;
      t.dir = d;
      t.pointer = *ptr;
      t.arch_text = util::read_file(ws.root() / d / kArchFile);
      fs::path hp = ws.root() / d / kHparamsFile;
      t.hparams_text = fs::exists(hp) ? util::read_file(hp) : "";
      targets.push_back(std::move(t));
    }
  }

  // Local changes that the checkout would overwrite (form A: the text files; all forms: weights).
  if (!req.rev.empty() && !req.paths.empty()) {
    for (auto& t : targets) {
      std::set<std::string> files;
      for (auto& n : g.list_dir_at(result.commit, t.dir)) files.insert(join(t.dir, n));
      for (const char* f : {kArchFile, kHparamsFile, kMetricsFile}) files.insert(join(t.dir, f));
      if (auto cur = workspace_pointer(ws, t.dir)) files.insert(cur->rel);
      for (auto& f : files) {
        auto target_text = g.read_blob_at(result.commit, f);
        auto staged = g.read_index_blob(f);
        if (!target_text && !staged) continue;  // untracked, not touched
        text_paths.push_back(f);
        if (req.force) continue;
        std::optional<std::string> now;
        if (fs::is_regular_file(ws.root() / f)) now = util::read_file(ws.root() / f);
        if (now != staged && now != target_text)
          throw Error(Exit::failure, f + ": local changes would be overwritten; commit them or use --force");
      }
    }
  }

  // Fetch objects the cache lacks from the default remote (when one is configured), then
  // verify objects into temp files beside their targets. Nothing in the work tree changes yet.
  std::vector<ObjectRef> to_fetch;
  for (auto& t : targets) {
    const Pointer& p = t.pointer.pointer;
    if (ws.store().contains(p.sha256)) continue;
    fs::path w = ws.root() / t.pointer.weights_rel();
    if (is_regular_nolink(w) && util::sha256_file(w) == p.sha256) continue;  // the work tree has it
    to_fetch.push_back({p.sha256, t.pointer.rel});
  }
  if (!to_fetch.empty() && !ws.config().default_remote.empty()) {
    auto remote = open_remote(ws, "");
    TransferResult fr = fetch(ws, *remote, to_fetch, default_jobs());
    if (!fr.missing.empty())
      throw Error(Exit::missing, "object " + fr.missing[0].sha256 + " (" + fr.missing[0].where +
                                     ") is neither in the cache nor on remote " + remote->describe());
  }
  for (auto& t : targets) {
    std::string current;
    if (!req.force) check_weights_safe(ws, t, &current);
    const Pointer& p = t.pointer.pointer;
    fs::path w = ws.root() / t.pointer.weights_rel();
    t.result.dir = t.dir;
    t.result.weights_rel = t.pointer.weights_rel();
    t.result.sha256 = p.sha256;
    t.result.size = p.size;
    bool matches = is_regular_nolink(w) && (current.empty() ? util::sha256_file(w) : current) == p.sha256;
    if (matches && ws.store().contains(p.sha256)) continue;
    if (matches && !ws.store().contains(p.sha256)) continue;  // the work tree is the only copy; it is right
    std::error_code ec;
    fs::create_directories(w.parent_path(), ec);
    t.temp.emplace(ws.store().copy_out_verified(p.sha256, p.size, w.parent_path(), w.filename().string()));
    ::fchmod(t.temp->fd().get(), 0644);
  }

  // Without a rebuild, still check the weights' header against the architecture (torch-free).
  if (!req.load) {
    for (auto& t : targets) {
      fs::path weights = t.temp ? t.temp->path() : ws.root() / t.pointer.weights_rel();
      std::string arch_name = join(t.dir, kArchFile);
      arch::Architecture a = arch::parse_architecture(t.arch_text, arch_name, t.hparams_text, join(t.dir, kHparamsFile));
      const LoadOptions& lo = t.pointer.pointer.load;
      check_fit(a, inspect_weights(weights, t.pointer.weights_rel(), lo), t.pointer.weights_rel(), arch_name, lo.cast);
    }
  }

  // Rebuild and load strictly, from the verified bytes.
  if (req.load) {
    for (auto& t : targets) {
      fs::path weights = t.temp ? t.temp->path() : ws.root() / t.pointer.weights_rel();
      t.result.load = torch_load_check(t.arch_text, join(t.dir, kArchFile), t.hparams_text, join(t.dir, kHparamsFile), weights,
                                       t.pointer.pointer.load);
      t.result.loaded = true;
      // The reproducibility record: the restored version must still compute its example.
      if (t.pointer.pointer.example) {
        verify_example(ws, t.dir, t.pointer.pointer, t.arch_text, t.hparams_text, weights);
        t.result.example_verified = true;
      }
    }
  }

  // Touch the work tree: git files first, then the weights.
  if (!req.rev.empty()) {
    if (req.paths.empty()) {
      g.switch_to(req.rev);
      result.moved_head = true;
    } else {
      g.checkout_paths(result.commit, text_paths);
    }
  }
  for (auto& t : targets) {
    if (t.temp) {
      t.temp->commit_to(ws.root() / t.pointer.weights_rel());
      t.temp.reset();
      t.result.written = true;
    }
    result.models.push_back(t.result);
  }
  return result;
}

}  // namespace mvc::core
