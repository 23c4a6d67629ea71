// Git hooks (docs/user-guide.md, hooks): installing mvc's hooks beside the user's, the checks and updates
// they run (`mvc hook NAME`), and running the repository's own hooks from `mvc commit`
// (libgit2 runs none).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "core/transfer.h"
#include "core/workspace.h"

namespace mvc::core {

/// The hooks mvc installs.
const std::vector<std::string>& mvc_hook_names();

struct HookInstall {
  std::string name;
  std::string action;  ///< "installed", "installed, chaining the existing hook", "already installed", "removed", ...
};

/// Installs mvc's hooks into the directory git uses (core.hooksPath honoured; worktrees share
/// the common directory's hooks). An existing hook that is not mvc's is kept as
/// `<name>.pre-mvc` and run first by mvc's hook. Installing twice changes nothing; `force`
/// rewrites mvc's hooks (e.g. after mvc moved). `mvc_path` is recorded in the hooks for when
/// mvc is not on PATH. Throws Exit::failure on I/O errors (nothing half-installed per hook).
std::vector<HookInstall> install_hooks(const git::Repo& repo, const std::filesystem::path& mvc_path, bool force);

/// Removes only what install_hooks wrote and puts a chained original hook back.
std::vector<HookInstall> uninstall_hooks(const git::Repo& repo);
/// install_hooks / uninstall_hooks on the hooks directory `dir` (a template's hooks/ too).
std::vector<HookInstall> install_hooks_in(const std::filesystem::path& dir, const std::filesystem::path& mvc_path,
                                          bool force);
std::vector<HookInstall> uninstall_hooks_in(const std::filesystem::path& dir);

/// pre-commit and pre-merge-commit: refuses (Exit::model or Exit::missing, with what to run) a
/// commit that stages a model conflicted as a whole (one side's weights, the other side's
/// arch.toml: ModelConflict::mixed), a metrics.toml that does not parse, a pointer whose object
/// is not in the cache, a model directory whose weights file differs
/// from its staged pointer, or a staged arch.toml that does not parse or does not fit the
/// staged pointer's weights (checked from the header, without LibTorch).
void hook_pre_commit(Workspace& ws);

/// post-checkout / post-merge: make the work tree's weights match the pointers (hash-checked,
/// header-checked against arch.toml, not rebuilt). Skipped for file checkouts (flag 0) and
/// while a merge, rebase, cherry-pick, revert or bisect is in progress. Returns the lines to
/// print; never throws for a problem with the weights (it warns with the fixing command).
/// `during_operation`: also while an operation is in progress (post-rewrite at the end of a
/// rebase, post-commit of a cherry-pick: the work tree is the operation's result).
std::vector<std::string> hook_update_weights(Workspace& ws, const std::string& hook, bool branch_checkout,
                                             bool during_operation = false);

/// The commits a push sends (`pre_push_input` as for objects_of_push), newest first.
std::vector<std::string> pushed_commits(Workspace& ws, const std::string& remote, const std::string& pre_push_input);
/// The model directories whose files `commit` changed against its first parent (every model
/// directory of a root commit).
std::vector<std::string> changed_model_dirs(Workspace& ws, const std::string& commit);
/// Why model directory `dir` at `commit` is not a usable version, "" when it is (or cannot be
/// checked here: its object is not in the cache): an arch.toml, hparams.toml, metrics.toml or
/// pointer that does not parse, weights that do not fit arch.toml (check_fit's message, each
/// file named "... at 1a2b3c4").
std::string model_problem_at(Workspace& ws, const std::string& commit, const std::string& dir);
/// post-rewrite (rebase, amend) and a cherry-pick's post-commit: for each (old, new) commit, the
/// model directories `new` changed that do not fit (model_problem_at), or whose change now sits
/// on another version of the rest of the model (weights changed over another arch.toml than
/// `old` had, or an arch.toml change over other weights): one warning line each, naming the
/// model and both commits.
std::vector<std::string> rewrite_warnings(Workspace& ws, const std::string& hook,
                                          const std::vector<std::pair<std::string, std::string>>& rewritten);

/// The objects referenced by the pointers of the commits a push sends: `pre_push_input` is
/// git's pre-push standard input ("<local ref> <local sha> <remote ref> <remote sha>" lines);
/// commits already on `remote` (its remote-tracking refs, or the remote sha) are left out.
std::vector<ObjectRef> objects_of_push(Workspace& ws, const std::string& remote, const std::string& pre_push_input);

/// pre-push: refuses (returns non-zero, naming the commit) a pushed commit with a model whose
/// files do not parse or whose weights do not fit its arch.toml (model_problem_at); sends the
/// objects of the pushed commits (weights, and the --example input and output objects) that
/// the default mvc remote lacks; blocks
/// (returns non-zero, with a message on `err` that names `git push --no-verify`) when they
/// reference weights and there is no mvc remote, an object is in neither the cache nor the
/// remote, or an upload fails. `remote`/`url` are git's remote, as git passes them.
int hook_pre_push(Workspace& ws, const std::string& remote, const std::string& url, const std::string& input,
                  std::ostream& err);

/// Runs the repository's own hook `name` (if present and executable) in the work tree, as git
/// would, with `args`, `stdin_data` and the extra environment `env` (GIT_INDEX_FILE for the
/// hooks of a commit). Returns its exit status (0 when there is no hook).
int run_repo_hook(const git::Repo& repo, const std::string& name, const std::vector<std::string>& args,
                  const std::string& stdin_data = {}, const std::map<std::string, std::string>& env = {});

}  // namespace mvc::core
