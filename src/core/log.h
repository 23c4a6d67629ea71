// `mvc log` and mvc.log (Python): the versions of a model, newest first. One implementation of
// what a version is (commit, tags, pointer, hparams, metrics), formatted as text by the CLI and
// as JSON here, for `mvc log --json` and the Python package alike (docs/user-guide.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/workspace.h"
#include "git/repo.h"

namespace mvc::core {

/// One commit in which a model directory changed.
struct LoggedVersion {
  git::CommitInfo commit;
  std::vector<std::string> tags;       ///< the tags that point at the commit, sorted
  std::vector<std::string> aliases;    ///< this model's aliases (.mvc/aliases.toml) naming the commit
  std::optional<PointerFile> pointer;  ///< nullopt: no pointer at that commit (no weights)
  /// The model's hparams.toml and metrics.toml at that commit (nullopt: absent), and the names
  /// messages give them ("models/clf/metrics.toml at 1a2b3c4").
  std::optional<std::string> hparams_text, metrics_text;
  std::string hparams_name, metrics_name;
};

struct ModelLog {
  std::string dir;  ///< repo-relative model directory ("" is the root)
  std::vector<LoggedVersion> versions;
};

struct LogResult {
  bool shallow = false;  ///< a shallow clone: the walk stopped at its boundary
  std::vector<ModelLog> models;
};

/// The versions of the model directory `dir` (repo-relative), or of every model directory at
/// HEAD when `dir` is nullopt: the commits reachable from HEAD in which the directory changed,
/// newest first, as `git log -- DIR` lists them. An unborn HEAD gives no models. `all`: the
/// commits reachable from HEAD, every branch and every tag (`git log --branches --remotes
/// --tags HEAD -- DIR`), each once. `from`: a commit id to walk from instead of HEAD (`mvc report
/// REV PATH`: the history of REV).
LogResult model_log(const Workspace& ws, const std::optional<std::string>& dir, bool all = false,
                    const std::string& from = "");

/// The JSON of `mvc log --json` (docs/user-guide.md): {"models": [{"path", "versions": [...]}],
/// "shallow"}; each version holds path, commit, short, tags, date, timestamp, author, email,
/// message, aliases, weights (the pointer's fields, or null), hparams and metrics as typed values in
/// file order (nested tables as objects; an invalid file gives null and a "hparams_error" /
/// "metrics_error" message). `indent` < 0: one line.
std::string log_json(const LogResult& log, int indent);

/// "2026-11-29 09:30:12 +0000": a commit's author time in its own time zone.
std::string format_time(std::int64_t seconds, int offset_minutes);

}  // namespace mvc::core
