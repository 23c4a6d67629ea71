// Model directories in a merge conflict (docs/repository-format.md, "Merge conflicts"). A merge,
// rebase, cherry-pick or revert that stops on a conflict leaves unmerged entries (stages 1-3)
// in the index and files with conflict markers in the work tree. mvc learns of a conflict only
// from the index (git::Repo::conflicts), never by reading markers, and only here: every command
// asks model_conflict() / model_conflicts() before it reads a model directory's work-tree files.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/workspace.h"

namespace mvc::core {

/// A side of a conflict, in git's terms: ours = HEAD's, theirs = the changes brought in.
enum class Side { ours, theirs };
const char* side_name(Side s);  ///< "ours", "theirs"

/// True for the files mvc keeps in a model directory: arch.toml, hparams.toml, metrics.toml,
/// .gitignore and pointers (*.mvc).
bool is_model_file(const std::string& name);

/// How the user concludes the operation in progress once every conflict is staged as resolved:
/// "conclude the merge with 'git commit'", "continue the cherry-pick with 'git cherry-pick
/// --continue'", likewise for a revert and a rebase (git's own advice for each state).
std::string conclude_hint(const Workspace& ws);

struct ModelConflict {
  std::string dir;                     ///< repo-relative model directory ("" = the root)
  std::vector<git::Conflict> entries;  ///< its unmerged model files (paths repo-relative), sorted
  /// Set (entries empty) when git merged the directory's files without a conflict but the
  /// result pairs one side's weights with the other side's arch.toml, which were never trained
  /// together: "weights from ours, arch.toml from theirs". The model is conflicted as a whole.
  std::string mixed;
  /// The unmerged files' names within the directory: "hparams.toml, weights.safetensors.mvc".
  std::string file_list() const;
  /// "conflict in hparams.toml, weights.safetensors.mvc", or for a mixed model "conflicted as a
  /// whole: weights from ours, arch.toml from theirs".
  std::string what() const;
  /// The one-line refusal every command but status and checkout --ours/--theirs gives:
  /// "models/clf: unmerged (conflict in weights.safetensors.mvc); resolve with 'mvc checkout
  /// --ours|--theirs models/clf' or edit and 'git add'".
  std::string message() const;
};

/// Every model directory with an unmerged model file, sorted by directory. A directory counts
/// when it holds arch.toml in the work tree or its arch.toml is itself unmerged. While a merge,
/// rebase or cherry-pick is in progress (git::Repo::their_commit), also every model directory
/// whose staged arch.toml is one side's and staged pointer the other side's, each differing
/// from the other side's (`mixed`): one side changed the weights, the other the architecture.
std::vector<ModelConflict> model_conflicts(const Workspace& ws);
/// The conflict of model directory `dir`, or nullopt.
std::optional<ModelConflict> model_conflict(const Workspace& ws, const std::string& dir);
/// Throws mvc::Error(Exit::model, c.message()) when `dir` is unmerged.
void refuse_if_conflicted(const Workspace& ws, const std::string& dir);
/// Throws mvc::Error(Exit::model) "<rel>: unmerged (a merge conflict); resolve it as text and
/// 'git add <rel>'" when the file `rel` (repo-relative, not a model file: .mvc/aliases.toml) has
/// unmerged entries in the index.
void refuse_if_file_conflicted(const Workspace& ws, const std::string& rel);

/// The model directory's files as `side` has them, repo-relative path → bytes (nullopt: the
/// side has no such file). An unmerged file is its stage 2 (ours) or 3 (theirs) blob; the other
/// model files are taken from that side's commit (HEAD; MERGE_HEAD, CHERRY_PICK_HEAD or
/// REBASE_HEAD) so that the version is whole, not a mix of both sides; when git recorded no
/// such commit (a revert, an octopus merge) they are taken as staged.
std::map<std::string, std::optional<std::string>> side_files(const Workspace& ws, const ModelConflict& c, Side side);

/// The pointer among a side's files (side_files), nullopt when it has none. Throws
/// mvc::Error(Exit::model) for several pointers or an invalid one, naming it "<rel> (theirs)".
std::optional<PointerFile> side_pointer(const std::map<std::string, std::optional<std::string>>& files,
                                        const ModelConflict& c, Side side);

}  // namespace mvc::core

namespace mvc::core {

/// What the merge driver of pointer files decided.
struct PointerMerge {
  bool conflict = false;  ///< true: the model is left unmerged (nothing written)
  std::string message;    ///< the line to print on a conflict
};

/// `mvc merge-driver %O %A %B %P` (merge.mvc.driver, docs/repository-format.md "Git settings"):
/// git runs it only when both sides changed the pointer `path`. Pointers naming the same object
/// with the same options merge to ours (%A, left as it is); anything else is a conflict: nothing
/// is written (no conflict markers in the pointer: git keeps the three stages, the work tree
/// keeps ours) and the model is unmerged until `mvc checkout --ours|--theirs`. Throws
/// mvc::Error(Exit::usage) when a file git passes is not there (run by hand, outside a merge),
/// mvc::Error(Exit::model) when a side is not a valid pointer.
PointerMerge merge_pointers(const std::filesystem::path& base, const std::filesystem::path& ours,
                            const std::filesystem::path& theirs, const std::string& path);

}  // namespace mvc::core
