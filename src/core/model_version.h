// "A model version at REV": the one place that resolves a model directory, at a revision or in
// the work tree, into its files (arch.toml, hparams.toml, metrics.toml), its pointer and a
// verified weights file. Every command that reads a version (show, run, verify, checkout, the
// C++ API's Repository::source, and later diff and the Python package) goes through it, so
// each condition it meets has one exit code and one message shape wherever it is met
// (docs/conventions.md, "Errors and exit codes").
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/transfer.h"
#include "core/workspace.h"
#include "mvc/source.h"
#include "store/stored_file.h"
#include "util/fs.h"
#include "util/progress.h"

namespace mvc::core {

/// A model directory as it is at one revision, or in the work tree.
/// The `rev` of resolve_version that names the index (the staged files), as `git diff --cached`
/// compares them; not a revision git could resolve to a commit.
inline constexpr const char* kIndexRev = ":index";

struct ModelVersion {
  std::string dir;           ///< repository-relative model directory ("" = the root; never "." or a trailing '/')
  std::string rev;           ///< the revision as the user wrote it ("" = the work tree, kIndexRev = the index)
  std::string commit;        ///< its full commit id ("" = the work tree or the index)
  std::string arch_name;     ///< "models/clf/arch.toml" (names the file in errors)
  std::string arch_text;     ///< its bytes
  std::string hparams_name;  ///< "models/clf/hparams.toml"
  std::optional<std::string> hparams_text;    ///< nullopt when the version has none
  std::string metrics_name;                   ///< "models/clf/metrics.toml"
  std::optional<std::string> metrics_text;    ///< nullopt when the version has none
  std::string optimizer_name;                 ///< "models/clf/optimizer.toml" (the optimizer's param groups)
  std::optional<std::string> optimizer_text;  ///< nullopt when the version has none
  std::optional<PointerFile> pointer;         ///< nullopt when the weights were never committed

  bool in_work_tree() const { return rev.empty(); }
  bool in_index() const { return rev == kIndexRev; }
  /// How messages name this version: "models/clf", "models/clf at clf-v1" or "models/clf in
  /// the index" ("." for the root).
  std::string describe() const;
  /// The pointer. Throws mvc::Error(Exit::model) "<describe()>: no weights pointer (the weights
  /// were never committed; run mvc commit <dir>)" when there is none.
  const PointerFile& require_pointer() const;
  /// The version as the LibTorch side takes it (texts, names, [load] options); `weights` is the
  /// file to read and `weights_name` the repository-relative work-tree name used in errors.
  ModelSource source(const std::filesystem::path& weights) const;
};

/// Normalises a repository-relative model directory: "models/clf/" and "./models/clf" →
/// "models/clf", "." → "".
std::string normalize_dir(const std::string& dir);

/// Resolves `dir` (repository-relative) at `rev` ("" = the work tree's files as they are,
/// kIndexRev = the files staged in the index; the weights object of either is the pointer's).
/// Otherwise `rev` is a branch, tag or commit name (these win), else an alias of `dir` in the
/// work tree's `.mvc/aliases.toml` (core/alias.h). Throws mvc::Error:
///   Exit::usage    "unknown revision 'REV'" (git::Repo::resolve_commit),
///   Exit::not_repo / Exit::model for an aliases file too new or invalid (core/alias.h),
///   Exit::usage    "<dir>[ at REV| in the index]: not a model directory (no arch.toml)",
///   Exit::model    for a pointer, arch or hparams file that cannot be read as one (naming it),
///   Exit::model    ModelConflict::message() for a work-tree or index directory with unmerged files
///                  (core/conflict.h).
/// The architecture is not parsed here (callers that need it parse `arch_text`).
ModelVersion resolve_version(const Workspace& ws, const std::string& rev, const std::string& dir);

/// The model directories of a version side: the work tree's ("" ), the index's (kIndexRev) or
/// a revision's (throws Exit::usage "unknown revision 'REV'"), repository-relative, sorted.
std::vector<std::string> model_dirs_of(const Workspace& ws, const std::string& rev);

/// The weights file to read for a committed version, with its bytes verified against the
/// pointer's SHA-256 and size: the cache object itself (objects are immutable and read-only),
/// else the work-tree file when it holds exactly those bytes (stat cache, else hashed), else
/// the object fetched from the default remote. Throws mvc::Error: Exit::model without a
/// pointer (require_pointer) or with a size that is not its intact object's
/// (check_pointer_size), Exit::integrity naming the object when the cache's copy is
/// corrupt, Exit::missing "object <sha> (<weights_rel>[ at REV]) is not in the cache, not in
/// the work tree[ and not on remote R]".
/// `progress` sees the bytes fetched and verified.
std::filesystem::path verified_weights(Workspace& ws, const ModelVersion& v,
                                       util::Progress& progress = util::no_progress());

/// Every weights file of the version (several for sharded weights, in the pointer's order),
/// each verified as verified_weights verifies one; the missing ones fetched together.
std::vector<std::filesystem::path> verified_weights_files(Workspace& ws, const ModelVersion& v,
                                                          util::Progress& progress = util::no_progress());

/// The optimizer state's tensors file of a committed version (docs/repository-format.md,
/// "Optimizer state"), verified as verified_weights verifies weights files. Throws
/// Exit::model "<describe()>: no optimizer state (...)" when its pointer records none (or
/// require_pointer's when it has no pointer), and what verified_weights throws.
std::filesystem::path verified_optimizer_state(Workspace& ws, const ModelVersion& v,
                                               util::Progress& progress = util::no_progress());

/// Every weights file of the version (in the pointer's order) for reading in place, NOT
/// verified (store/stored_file.h; docs/repository-format.md, "Reading in place"): what diff,
/// and nothing that writes or loads the bytes, reads. Each from the store when it is complete
/// there (its object, or its manifest's segment objects: nothing is rebuilt), else from the
/// work-tree file when it holds those bytes, else fetched as verified_weights_files fetches.
/// Errors as verified_weights_files, but nothing is hashed.
std::vector<std::unique_ptr<store::StoredFile>> stored_weights_files(Workspace& ws, const ModelVersion& v,
                                                                     util::Progress& progress = util::no_progress());

/// v.source() over verified_weights_files: what run, verify and Repository::source load.
ModelSource verified_source(Workspace& ws, const ModelVersion& v, util::Progress& progress = util::no_progress());

/// The files to load for `v`, every shard included (ModelSource::extra_weights): for a
/// revision, verified_source; for the work tree, its files as they are (uncommitted weights are
/// not verified): those the pointer names, else those `mvc commit` would take. What
/// Repository::source and the Python package's mvc.load read.
ModelSource model_source(Workspace& ws, const ModelVersion& v);

/// Fetches from the default remote every object of `refs` that the cache lacks (the one place
/// that does, for checkout, run, verify and the API). Throws Exit::missing "object <sha>
/// (<where>) is not in the cache and no default remote is configured" / "... is neither in the
/// cache nor on remote R", and what the remote throws. Objects the caller found elsewhere (the
/// work tree) must not be passed.
void fetch_missing(Workspace& ws, const std::vector<ObjectRef>& refs, util::Progress& progress = util::no_progress());

/// The weights file of the work-tree model directory `dir` (repository-relative), as `mvc
/// commit` chooses it: `explicit_file` when given (it must be inside the directory: else
/// Exit::usage), else `weights.safetensors`, else the only `*.safetensors`, `*.pt` or `*.pth`
/// file. Throws Exit::model "no weights file" when there is none and Exit::usage "several
/// weights files (a, b); choose one with --weights FILE" when the choice is ambiguous.
std::string find_weights_file(const Workspace& ws, const std::string& dir, const std::filesystem::path& explicit_file);

/// The weights files of the work-tree model directory `dir`, as `mvc commit` chooses them
/// (repository-relative, sorted): `explicit_file` alone when given, else `weights.safetensors`
/// alone, else the only `*.safetensors`, `*.pt` or `*.pth` file, else -- when every candidate
/// is a `*.safetensors` file -- all of them: a sharded weights set (one version). Throws as
/// find_weights_file, and Exit::usage "several weights files" only when a `.pt`/`.pth` file is
/// among several candidates.
std::vector<std::string> find_weights_files(const Workspace& ws, const std::string& dir,
                                            const std::filesystem::path& explicit_file);

/// The same choice in any directory: the names in `dir` ({} when there is none).
std::vector<std::string> choose_weights_files(const std::filesystem::path& dir, const std::string& shown_dir);

/// True for a shard index's file name (`*.safetensors.index.json`).
bool is_shard_index_name(const std::string& name);

/// The Hugging Face index of sharded weights in `dir` (`*.safetensors.index.json`, e.g.
/// `model.safetensors.index.json`): its name, "" when there is none. Exit::model when there are several.
std::string find_shard_index(const std::filesystem::path& dir, const std::string& shown_dir);

/// The name of the pointer file of the weights files `names` (in one directory): `<name>.mvc` for one file;
/// for shards named as Hugging Face names them (`STEM-00001-of-00003.safetensors`)
/// `STEM.safetensors.mvc`, so that the name does not change with the number of shards; else
/// `<first name>.mvc`.
std::string pointer_name_for(const std::vector<std::string>& names);

/// The same choice in any directory (also `ModelSource::from_directory`, outside a
/// repository): the chosen file's name in `dir`, "" when there is none; Exit::usage "several
/// weights files" naming `shown_dir` when the choice is ambiguous.
std::string choose_weights_file(const std::filesystem::path& dir, const std::string& shown_dir);

}  // namespace mvc::core
