// `mvc commit`: record a model version (docs/repository-format.md).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/workspace.h"
#include "util/progress.h"

namespace mvc::core {

struct CommitRequest {
  std::vector<std::filesystem::path> paths;  ///< model directories (cwd-relative or absolute)
  std::string message;
  std::string tag;                ///< "" = none
  std::filesystem::path weights;  ///< --weights (only with one path)
  bool no_verify = false;         ///< skip the repository's pre-commit and commit-msg hooks
  /// --key, --strip-prefix, --cast: how the weights map onto the architecture. A field left
  /// unset keeps the value of the model's existing pointer for the same file. Recorded in the
  /// pointer's [load] table, with the key mvc found itself in a wrapping checkpoint.
  std::optional<std::string> key, strip_prefix, cast;
  /// --example: a safetensors file of inputs (only with one path). The model is rebuilt and
  /// run on it (LibTorch, through the bridge); input and output are stored as objects and
  /// recorded in the pointer's [example] table.
  std::filesystem::path example;
  /// Where hashing and storing the weights reports progress (util/progress.h).
  util::Progress* progress = nullptr;
  /// Other changes that belong in the same commit (mvc migrate, core/migrate.h): work-tree text
  /// files written (repo-relative path, clean text written through git's filters) and staged,
  /// and files removed from the work tree and the index (`git rm`). Applied under the index
  /// lock before the pointers and .gitignore files are written, and put back with them when
  /// the commit fails.
  std::vector<std::pair<std::string, std::string>> also_write;
  std::vector<std::string> also_remove;
};

struct ModelCommitted {
  std::string dir;  ///< repo-relative model directory
  PointerFile pointer;
  bool object_existed = false;
  bool changed = false;       ///< the model's files differ from HEAD
  std::size_t segments = 0;   ///< stored as a manifest of this many segment objects (0: one object, or not read)
  std::uint64_t written = 0;  ///< bytes of new objects this commit wrote for it
};

struct CommitResult {
  std::optional<std::string> commit;  ///< nullopt: nothing changed, no commit
  std::string branch;                 ///< "main" or "HEAD" when detached
  std::vector<ModelCommitted> models;
  bool tagged = false;
};

/// Validates every model directory first (arch.toml and hparams.toml parse, the weights file
/// is found, readable and fits the architecture strictly, the tag is valid and new), then
/// stores the weights objects, writes pointers and .gitignore files, stages the model files
/// and commits the index (with whatever else the user staged) through libgit2. Nothing is
/// written when validation fails. As `git commit` does (libgit2 runs no hooks), it runs the
/// repository's pre-commit hook after staging, then commit-msg (which may edit the message),
/// then post-commit; a failing pre-commit or commit-msg hook stops the commit (Exit::failure). Throws mvc::Error
/// (Exit::model for invalid model files).
CommitResult commit_models(Workspace& ws, const CommitRequest& req);

}  // namespace mvc::core
