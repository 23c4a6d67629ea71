#include "core/hooks.h"

#include <sys/stat.h>
#include <unistd.h>

#include <set>

#include "arch/arch.h"
#include "core/checkout.h"
#include "core/conflict.h"
#include "core/model_check.h"
#include "core/toml_view.h"
#include "mvc/error.h"
#include "mvc/hook_script.h"
#include "util/fs.h"
#include "util/process.h"
#include "util/sha256.h"

namespace mvc::core {

namespace {

/// Checks the cache objects of every weights file `pf` names (sharded weights: their union)
/// against `a`, torch-free; errors name the work-tree files followed by `at`.
/// `work_tree`: read a weights file from the work tree when it is there (the caller found it
/// identical), rather than from the store (which may rebuild a file kept as tensor objects).
void check_pointer_fit(Workspace& ws, const arch::Architecture& a, const PointerFile& pf, const std::string& at,
                       const std::string& arch_name, bool work_tree) {
  const Pointer& pt = pf.pointer;
  const std::string dir = pf.rel.rfind('/') == std::string::npos ? "" : pf.rel.substr(0, pf.rel.rfind('/'));
  WeightsInfo all;
  std::vector<std::string> rels;
  for (const auto& f : pt.files()) {
    const std::string rel = join(dir, f.path);
    rels.push_back(rel);
    fs::path in_tree = ws.root() / rel;
    // Read in place (a file stored as segments: its header segment), not verified: the check reads
    // only the header and writes nothing (docs/repository-format.md, "Reading in place").
    WeightsInfo w = work_tree && util::lexists(in_tree)
                        ? inspect_weights(in_tree, rel + at, pt.load)
                        : inspect_weights(store::StoredFile(ws.store(), f.sha256), rel + at, pt.load);
    all.kind = w.kind;
    for (auto& t : w.tensors) all.tensors.push_back(std::move(t));
  }
  const std::string name = rels.size() == 1 ? rels[0] + at : shards_display(dir, rels) + at;
  check_fit(a, all, name, arch_name, pt.load.cast);
}

}  // namespace

namespace {

constexpr const char* kMarker = "installed by `mvc install-hooks`";
constexpr const char* kChainedSuffix = ".pre-mvc";

std::string script_for(const std::string& name, const fs::path& mvc_path) {
  std::string s = kMvcHookScript;
  auto replace_all = [&](const std::string& from, const std::string& to) {
    for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
      s.replace(at, from.size(), to);
  };
  std::string path = mvc_path.string();
  std::string quoted;  // inside single quotes
  for (char c : path) quoted += (c == '\'') ? std::string("'\\''") : std::string(1, c);
  replace_all("__MVC_HOOK__", name);
  replace_all("__MVC_PATH__", quoted);
  return s;
}

bool is_mvc_hook(const fs::path& p) {
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) return false;
  return util::read_file(p).find(kMarker) != std::string::npos;
}

void write_executable(const fs::path& p, const std::string& text) {
  util::write_file_atomic(p, text);
  // Executable as git makes its own (0777 & ~umask): 0755 under umask 022, 0700 under 077.
  if (::chmod(p.c_str(), util::with_umask(0777)) != 0)
    throw Error(Exit::failure, util::errno_message(p, "chmod failed"));
}

std::string dir_of(const std::string& rel) {
  auto s = rel.rfind('/');
  return s == std::string::npos ? "" : rel.substr(0, s);
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

const std::vector<std::string>& mvc_hook_names() {
  static const std::vector<std::string> names = {"pre-commit", "pre-merge-commit", "post-commit", "post-checkout",
                                                 "post-merge", "post-rewrite",     "pre-push"};
  return names;
}

std::vector<HookInstall> install_hooks(const git::Repo& repo, const fs::path& mvc_path, bool force) {
  return install_hooks_in(repo.hooks_dir(), mvc_path, force);
}

std::vector<HookInstall> uninstall_hooks(const git::Repo& repo) { return uninstall_hooks_in(repo.hooks_dir()); }

std::vector<HookInstall> install_hooks_in(const fs::path& dir, const fs::path& mvc_path, bool force) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(Exit::failure, dir.string() + ": cannot create: " + ec.message());
  std::vector<HookInstall> out;
  for (const auto& name : mvc_hook_names()) {
    fs::path hook = dir / name;
    fs::path chained = dir / (name + kChainedSuffix);
    std::string text = script_for(name, mvc_path);
    HookInstall r{name, ""};
    if (is_mvc_hook(hook)) {
      if (util::read_file(hook) == text) {
        r.action = "already installed";
      } else if (force) {
        write_executable(hook, text);
        r.action = "reinstalled";
      } else {
        r.action = "already installed (an older mvc hook; --force rewrites it)";
      }
    } else if (util::lexists(hook)) {
      if (util::lexists(chained))
        throw Error(Exit::failure,
                    chained.string() + " exists already; move it away before installing mvc's " + name + " hook");
      if (::rename(hook.c_str(), chained.c_str()) != 0)
        throw Error(Exit::failure, util::errno_message(hook, "cannot keep the existing hook"));
      try {
        write_executable(hook, text);
      } catch (...) {
        ::rename(chained.c_str(), hook.c_str());
        throw;
      }
      r.action = "installed, chaining the existing hook (kept as " + name + kChainedSuffix + ")";
    } else {
      write_executable(hook, text);
      r.action = "installed";
    }
    out.push_back(r);
  }
  return out;
}

std::vector<HookInstall> uninstall_hooks_in(const fs::path& dir) {
  std::vector<HookInstall> out;
  for (const auto& name : mvc_hook_names()) {
    fs::path hook = dir / name;
    fs::path chained = dir / (name + kChainedSuffix);
    HookInstall r{name, "not installed"};
    if (is_mvc_hook(hook)) {
      if (util::lexists(chained)) {
        if (::rename(chained.c_str(), hook.c_str()) != 0)
          throw Error(Exit::failure, util::errno_message(chained, "cannot restore the original hook"));
        r.action = "removed, original hook restored";
      } else {
        if (::unlink(hook.c_str()) != 0) throw Error(Exit::failure, util::errno_message(hook, "cannot remove"));
        r.action = "removed";
      }
    }
    out.push_back(r);
  }
  return out;
}

void hook_pre_commit(Workspace& ws) {
  git::Repo& g = ws.git();
  // A merge that pairs one side's weights with the other side's arch.toml (core/conflict.h).
  for (const auto& c : model_conflicts(ws))
    if (!c.mixed.empty()) throw Error(Exit::model, c.message());
  std::string head = g.head_unborn() ? "" : g.resolve_commit("HEAD");
  // Model directories whose model files are staged differently from HEAD.
  std::set<std::string> dirs;
  for (const auto& p : g.index_paths()) {
    std::string dir = dir_of(p);
    std::string base = dir.empty() ? p : p.substr(dir.size() + 1);
    bool model_file =
        base == kArchFile || base == kHparamsFile || base == kMetricsFile || ends_with(base, kPointerSuffix);
    if (!model_file) continue;
    if (!head.empty() && g.read_blob_at(head, p) == g.read_index_blob(p)) continue;
    dirs.insert(dir);
  }
  for (const auto& dir : dirs) {
    std::string d = dir.empty() ? "." : dir;
    if (auto metrics = g.read_index_blob(join(dir, kMetricsFile)))
      flatten_toml(*metrics, join(dir, kMetricsFile));  // throws Exit::model naming line and column
    auto arch_text = g.read_index_blob(join(dir, kArchFile));
    std::optional<PointerFile> ptr;
    for (const auto& p : g.index_paths()) {
      if (dir_of(p) != dir || !ends_with(p, kPointerSuffix)) continue;
      if (ptr)
        throw Error(Exit::model, d + ": several pointer files are staged; a model directory has one weights file");
      PointerFile pf;
      pf.rel = p;
      pf.pointer = parse_pointer(*g.read_index_blob(p), p + " (staged)");
      ptr = pf;
    }
    if (!ptr) continue;  // a model without committed weights: nothing of mvc's to check
    const Pointer& pt = ptr->pointer;
    for (const auto& f : pt.stored_files()) {  // every weights file (sharded weights: each shard)
      if (!ws.store().contains(f.sha256))
        throw Error(Exit::missing, ptr->rel + ": its object " + f.sha256.substr(0, 12) + " (" + f.path +
                                       ") is not in the cache; run 'mvc commit " + d + "'");
      fs::path w = ws.root() / join(dir, f.path);
      if (util::lexists(w) && util::sha256_file(w) != f.sha256)
        throw Error(Exit::failure,
                    join(dir, f.path) + " changed after its pointer was staged; run 'mvc commit " + d + "'");
    }
    if (!arch_text) throw Error(Exit::model, d + ": a pointer is staged but no arch.toml");
    std::string hp = g.read_index_blob(join(dir, kHparamsFile)).value_or("");
    arch::Architecture a = arch::parse_architecture(*arch_text, join(dir, kArchFile), hp, join(dir, kHparamsFile));
    check_pointer_fit(ws, a, *ptr, "", join(dir, kArchFile), true);
  }
}

std::vector<std::string> hook_update_weights(Workspace& ws, const std::string& hook, bool branch_checkout,
                                             bool during_operation) {
  std::vector<std::string> lines;
  if (!branch_checkout) return lines;
  if (!during_operation && ws.git().state() != git::RepoState::none) return lines;
  for (const auto& dir : workspace_model_dirs(ws)) {
    std::string d = dir.empty() ? "." : dir;
    CheckoutRequest req;
    req.paths.push_back(ws.root() / dir);
    req.load = false;
    try {
      if (!workspace_pointer(ws, dir)) continue;
      CheckoutResult r = checkout(ws, req);
      for (auto& m : r.models)
        if (m.written)
          lines.push_back("mvc: " + m.weights_rel + " updated to sha256:" + m.sha256.substr(0, 8) + " (hash verified)");
    } catch (const Error& e) {
      std::string fix = e.code() == Exit::missing ? "mvc pull" : "mvc checkout -- " + d;
      lines.push_back("mvc " + hook + " warning: " + d + " weights not updated: " + e.what() + " (then run '" + fix +
                      "')");
    }
  }
  return lines;
}

std::vector<std::string> pushed_commits(Workspace& ws, const std::string& remote, const std::string& input) {
  git::Repo& g = ws.git();
  const std::string zeros(40, '0');
  std::vector<std::string> from, hide;
  std::size_t pos = 0;
  while (pos < input.size()) {
    std::size_t end = input.find('\n', pos);
    if (end == std::string::npos) end = input.size();
    std::string line = input.substr(pos, end - pos);
    pos = end + 1;
    std::vector<std::string> f;
    std::size_t a = 0;
    while (a < line.size()) {
      std::size_t b = line.find(' ', a);
      if (b == std::string::npos) b = line.size();
      if (b > a) f.push_back(line.substr(a, b - a));
      a = b + 1;
    }
    if (f.size() != 4) continue;
    if (f[1] != zeros) from.push_back(f[1]);  // zeros: a deletion sends nothing
    if (f[3] != zeros) hide.push_back(f[3]);
  }
  if (from.empty()) return {};
  std::string glob = remote.empty() ? "" : "refs/remotes/" + remote + "/*";
  return g.rev_list(from, hide, glob);
}

std::vector<ObjectRef> objects_of_push(Workspace& ws, const std::string& remote, const std::string& input) {
  std::vector<ObjectRef> out;
  std::set<std::string> seen;
  for (const auto& c : pushed_commits(ws, remote, input)) {
    for (const auto& dir : model_dirs_at(ws, c)) {
      auto ptr = pointer_at(ws, c, dir);
      if (!ptr) continue;
      for (const auto& f :
           ptr->pointer.stored_files())  // every weights file (sharded weights: each shard), the optimizer state
        if (seen.insert(f.sha256).second) out.push_back({f.sha256, ptr->display(), {{f.size, ptr->display()}}});
      if (const auto& ex = ptr->pointer.example)  // the --example input and output objects
        for (const std::string* sha : {&ex->input, &ex->output})
          if (util::is_sha256_hex(*sha) && seen.insert(*sha).second)
            out.push_back({*sha, ptr->display() + " [example]", {}});
    }
  }
  return out;
}

std::vector<std::string> changed_model_dirs(Workspace& ws, const std::string& commit) {
  git::Repo& g = ws.git();
  std::vector<std::string> parents = g.commit_info(commit).parents;
  std::vector<std::string> out;
  for (const auto& dir : model_dirs_at(ws, commit)) {
    if (!parents.empty() && g.entry_id_at(parents.front(), dir) == g.entry_id_at(commit, dir)) continue;
    out.push_back(dir);
  }
  return out;
}

std::string model_problem_at(Workspace& ws, const std::string& commit, const std::string& dir) {
  git::Repo& g = ws.git();
  const std::string at = " at " + commit.substr(0, 7);
  try {
    auto arch_text = g.read_blob_at(commit, join(dir, kArchFile));
    if (!arch_text) return "";
    if (auto metrics = g.read_blob_at(commit, join(dir, kMetricsFile)))
      flatten_toml(*metrics, join(dir, kMetricsFile) + at);
    std::string hp = g.read_blob_at(commit, join(dir, kHparamsFile)).value_or("");
    arch::Architecture a =
        arch::parse_architecture(*arch_text, join(dir, kArchFile) + at, hp, join(dir, kHparamsFile) + at);
    auto ptr = pointer_at(ws, commit, dir);
    if (!ptr) return "";
    for (const auto& f : ptr->pointer.files())
      if (!ws.store().contains(f.sha256)) return "";  // nothing to check here
    check_pointer_fit(ws, a, *ptr, at, join(dir, kArchFile) + at, false);
    return "";
  } catch (const Error& e) {
    return e.what();
  }
}

std::vector<std::string> rewrite_warnings(Workspace& ws, const std::string& hook,
                                          const std::vector<std::pair<std::string, std::string>>& rewritten) {
  git::Repo& g = ws.git();
  std::vector<std::string> lines;
  auto blob = [&](const std::string& c, const std::string& rel) { return g.entry_id_at(c, rel); };
  auto pointer_blob = [&](const std::string& c, const std::string& dir) -> std::optional<std::string> {
    auto p = pointer_at(ws, c, dir);
    return p ? blob(c, p->rel) : std::nullopt;
  };
  for (const auto& [old_c, new_c] : rewritten) {
    if (!g.try_resolve_commit(new_c) || !g.try_resolve_commit(old_c)) continue;
    std::vector<std::string> parents = g.commit_info(new_c).parents;
    const std::string head = " at " + new_c.substr(0, 7) + " (was " + old_c.substr(0, 7) + ")";
    for (const auto& dir : changed_model_dirs(ws, new_c)) {
      const std::string d = dir.empty() ? "." : dir;
      std::string why;
      try {
        why = model_problem_at(ws, new_c, dir);
        if (why.empty() && !parents.empty()) {
          // The commit's own change now sits on another version of the rest of the model.
          const std::string& p = parents.front();
          const std::string arch = join(dir, kArchFile);
          bool weights_changed = pointer_blob(new_c, dir) != pointer_blob(p, dir);
          bool arch_changed = blob(new_c, arch) != blob(p, arch);
          if (weights_changed && blob(new_c, arch) != blob(old_c, arch))
            why = "its weights were trained for the arch.toml of " + old_c.substr(0, 7) +
                  ", and the arch.toml under them is another one now";
          else if (arch_changed && pointer_blob(new_c, dir) != pointer_blob(old_c, dir))
            why = "its arch.toml change now sits on weights that " + old_c.substr(0, 7) + " did not have";
        }
      } catch (const Error& e) {
        why = e.what();
      }
      if (why.empty()) continue;
      lines.push_back("mvc " + hook + " warning: " + d + head + ": " + why +
                      "; commit weights trained for it, or put a version back with 'mvc checkout REV -- " + d + "'");
    }
  }
  return lines;
}

int hook_pre_push(Workspace& ws, const std::string& remote, const std::string& url, const std::string& input,
                  std::ostream& err) {
  const char* bypass = " ('git push --no-verify' bypasses this check)\n";
  for (const auto& c : pushed_commits(ws, remote, input))
    for (const auto& dir : changed_model_dirs(ws, c))
      if (std::string why = model_problem_at(ws, c, dir); !why.empty()) {
        err << "mvc pre-push: commit " << c.substr(0, 7) << " (" << ws.git().commit_info(c).summary << "): " << why
            << "; push blocked" << bypass;
        return 1;
      }
  std::vector<ObjectRef> objects = objects_of_push(ws, remote, input);
  if (objects.empty()) return 0;
  std::unique_ptr<store::Remote> target;
  try {
    target = open_remote(ws, "");
  } catch (const Error& e) {
    err << "mvc pre-push: the pushed commits reference " << objects.size() << " weights object(s) (e.g. "
        << objects.front().where << ") and there is no mvc remote to send them to; push blocked. Add one with "
        << "'mvc remote add NAME URL --default'" << bypass;
    return 1;
  }
  try {
    TransferResult t = push(ws, *target, objects, default_jobs());
    if (!t.missing.empty()) {
      err << "mvc pre-push: " << t.missing.size() << " object(s) are in neither the cache nor " << target->describe()
          << " (e.g. " << t.missing.front().where << "); push blocked" << bypass;
      return 1;
    }
    err << "mvc pre-push: " << t.transferred << " object(s) sent to " << target->describe() << " ("
        << human_bytes(t.bytes) << " sent, " << human_bytes(t.skipped) << " already there), " << t.present
        << " already there\n";
    return 0;
  } catch (const Error& e) {
    err << "mvc pre-push: sending weights to " << target->describe() << " failed: " << e.what() << "; push blocked"
        << bypass;
    return 1;
  }
}

int run_repo_hook(const git::Repo& repo, const std::string& name, const std::vector<std::string>& args,
                  const std::string& stdin_data, const std::map<std::string, std::string>& env) {
  fs::path hook = repo.hooks_dir() / name;
  if (::access(hook.c_str(), X_OK) != 0) return 0;
  std::vector<std::string> argv{hook.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return util::run_process(argv, repo.workdir(), stdin_data, env);
}

}  // namespace mvc::core
