// `mvc migrate`: a model directory whose weights DVC (a `.dvc` file) or Git LFS (a pointer in
// git's index) tracks becomes an mvc version in one git commit (docs/user-guide.md, "Coming from
// DVC or Git LFS"). mvc reads both tools' files itself and never runs `dvc` or `git lfs`; the
// weights come from DVC's cache, LFS's object store or the work tree (never downloaded), are
// verified against the hash the tool recorded, and are then committed by core::commit_models,
// which also removes the old tracking in the same commit. Torch-free.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/commit.h"
#include "core/workspace.h"
#include "util/progress.h"

namespace mvc::core {

// --- the tools' formats (exposed for tests) ------------------------------------------------

/// One entry of a `.dvc` file's `outs` list (https://dvc.org/doc/user-guide/project-structure/dvc-files).
struct DvcOut {
  std::string path;  ///< relative to the .dvc file's directory (and its `wdir`)
  std::string md5;   ///< "" when absent; a directory's ends in ".dir"
  std::string hash;  ///< "md5" (DVC 3) or "" (DVC 2: the legacy md5-dos2unix)
  std::optional<std::uint64_t> size;
  bool cache = true;  ///< `cache: false`: DVC keeps no copy
  int line = 0;       ///< where the entry starts, for messages
};
struct DvcFile {
  std::string wdir;  ///< "" = the file's own directory
  std::vector<DvcOut> outs;
};
/// Parses the YAML subset DVC writes in a `.dvc` file: a top-level mapping whose `outs` is a
/// block sequence of mappings (keys md5, size, hash, path, cache; other keys and nested
/// values skipped), `wdir`, plain, single- and double-quoted scalars, comments. Throws
/// mvc::Error(Exit::model) "<name>:<line>: <why>" for anything else (tabs, flow style, a
/// missing path, a size that is not a number).
DvcFile parse_dvc_file(const std::string& text, const std::string& name);

/// MD5 of a file's bytes as DVC computes it for its cache: `legacy` false (DVC 3, `hash: md5`)
/// the plain MD5; true (DVC 2's entries, no `hash` key: md5-dos2unix) the MD5 after CRLF → LF
/// in every 1 MiB chunk that looks like text (dvc-data's Dos2UnixHashStreamFile and
/// istextblock). `progress` gets the bytes read so far.
std::string dvc_md5(const std::filesystem::path& file, bool legacy,
                    const std::function<void(std::uint64_t)>& progress = {});

/// A Git LFS pointer (https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md): "version
/// https://git-lfs.github.com/spec/v1", "oid sha256:<64 hex>", "size N". nullopt when `text` is
/// not one (extensions included, which mvc does not read).
struct LfsPointer {
  std::string oid;  ///< 64 lowercase hex
  std::uint64_t size = 0;
};
std::optional<LfsPointer> parse_lfs_pointer(const std::string& text);

/// Whether a .gitattributes / .gitignore pattern matches `path` (relative to the file's
/// directory), by gitignore(5)'s rules: a pattern without a '/' (but a trailing one) matches
/// the last component at any depth; otherwise the whole path, '*' and '?' not crossing '/',
/// "**/", "/**/" and "/**" spanning directories; [...] classes; backslash escapes.
bool git_pattern_matches(const std::string& pattern, const std::string& path);

// --- the migration -------------------------------------------------------------------------

struct MigrateRequest {
  std::filesystem::path path;     ///< the model directory
  std::string message;            ///< "" = "Migrate DIR from DVC|Git LFS to mvc"
  std::filesystem::path weights;  ///< --weights: which tracked file, when the directory has several
  bool dry_run = false;
  util::Progress* progress = nullptr;
};

struct MigratePlan {
  std::string dir;          ///< repo-relative model directory
  std::string tool;         ///< "DVC" or "Git LFS"
  std::string tracking;     ///< the .dvc file, or the LFS pointer's path in the index
  std::string weights_rel;  ///< the weights file
  std::string digest;       ///< "md5:<hex>" (DVC) or "sha256:<hex>" (LFS), as the tool recorded it
  std::uint64_t size = 0;
  std::string source;           ///< where the bytes come from (repo-relative, or absolute outside the work tree)
  bool from_work_tree = false;  ///< the work-tree file already holds the verified bytes
  bool write_work_tree =
      false;  ///< the work-tree file is (re)written from `source` (absent, a pointer, a link into the cache)
  std::vector<std::string> remove;  ///< files git rm'd
  struct Edit {
    std::string rel;                 ///< .gitignore or .gitattributes
    std::vector<std::string> lines;  ///< the lines removed
    std::string text;                ///< its new clean text
  };
  std::vector<Edit> edits;
  std::vector<std::string> notes;  ///< what is left alone, and why
  std::string message;             ///< the commit message
};

struct MigrateResult {
  MigratePlan plan;
  std::optional<CommitResult> commit;  ///< nullopt with dry_run
};

/// Plans, verifies and (unless dry_run) performs the migration of one model directory. Throws
/// mvc::Error, changing nothing:
///   Exit::usage    the directory is not a model directory (no arch.toml: resolve_version), no
///                  .dvc file nor LFS pointer tracks a weights file in it, several do (without
///                  --weights), a .dvc file tracks a directory or several outputs;
///   Exit::model    a .dvc file or pointer mvc cannot read (naming file and line), weights that
///                  do not fit arch.toml (commit's check);
///   Exit::failure  local changes in the way: a tracking file, .gitignore or .gitattributes
///                  that differs from the index, other staged changes, a work-tree weights
///                  file that is not what the tool recorded;
///   Exit::integrity the cache's bytes do not hash to what the tool recorded (naming the file);
///   Exit::missing  the bytes are in none of the places mvc looks (naming them).
MigrateResult migrate(Workspace& ws, const MigrateRequest& req);

}  // namespace mvc::core
