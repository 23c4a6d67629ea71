// Aliases (docs/repository-format.md, "Aliases"): movable names such as `prod` for one version
// of one model directory, kept in the committed file `.mvc/aliases.toml`, so that every move is
// a git commit. The work tree's copy (the checked-out commit's, as for every file) is the one
// that counts. resolve_version (core/model_version.h) looks aliases up after branch, tag and
// commit names; the commands live in src/cli/alias.cpp.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/workspace.h"

namespace mvc::core {

inline constexpr const char* kAliasFile = ".mvc/aliases.toml";
/// The aliases file format this mvc reads and writes (`format = N` in `.mvc/aliases.toml`).
inline constexpr int kAliasFormat = 1;

/// model directory ("" = the root) → alias name → full commit id.
using AliasMap = std::map<std::string, std::map<std::string, std::string>>;

/// Parses an aliases file. `name` names it in errors. Throws mvc::Error: Exit::not_repo
/// "<name>: aliases format N needs a newer mvc (this one reads format 1)"; Exit::model for a
/// syntax error (parse_toml) or an entry that is not `alias = "<40 hex>"` in a table.
AliasMap parse_aliases(const std::string& text, const std::string& name);
/// The file's text: `format = 1`, then one table per model directory (sorted), one line per
/// alias (sorted). Deterministic, so that moves diff and merge as single lines.
std::string aliases_to_toml(const AliasMap& m);
/// The work tree's `.mvc/aliases.toml` (through git's filters), empty when absent.
AliasMap read_aliases(const Workspace& ws);

/// The commit alias `name` of model directory `dir` names in the work tree's aliases file, or
/// nullopt (also when there is no such file).
std::optional<std::string> alias_commit(const Workspace& ws, const std::string& name, const std::string& dir);
/// The model directories that have an alias `name`, sorted.
std::vector<std::string> alias_dirs(const Workspace& ws, const std::string& name);

struct AliasMove {
  std::string commit;  ///< the new commit of the aliases file ("" = nothing changed)
  std::string from;    ///< the version the alias named before ("" = none)
  std::string to;      ///< the version it names now ("" = removed)
};

/// `mvc alias set NAME REV -- DIR`: points alias `name` of `dir` at the version of `dir` at
/// `rev` (the newest commit at or before REV that changed the directory, as `mvc log` lists
/// versions) and commits `.mvc/aliases.toml` alone, under git's index lock, with the message
/// "alias NAME -> SHORT (DIR)". Throws, changing nothing: Exit::model when the aliases file is
/// unmerged; Exit::usage for a name that is not a valid ref name, that is a branch, a tag or
/// a commit, a REV that does not exist or lacks the model directory; Exit::model for a version
/// without weights; Exit::missing when its weights object is neither in the cache nor on the
/// default remote.
AliasMove set_alias(Workspace& ws, const std::string& name, const std::string& rev, const std::string& dir);
/// `mvc alias rm NAME -- DIR`; Exit::usage "<dir>: no alias 'NAME'" when there is none.
AliasMove remove_alias(Workspace& ws, const std::string& name, const std::string& dir);

/// One move of an alias, from the history of `.mvc/aliases.toml` (newest first).
struct AliasEvent {
  std::string commit;  ///< the commit that moved it
  std::string author;
  std::string email;
  std::int64_t time = 0;
  int offset_minutes = 0;
  std::string from, to;  ///< versions ("" = none / removed)
  std::string message;   ///< the commit's summary line
};
/// Every commit reachable from HEAD in which alias `name` of `dir` changed against the
/// commit's first parent (git log -- .mvc/aliases.toml). Versions of the file that cannot be
/// parsed (conflict markers committed) count as holding no aliases.
std::vector<AliasEvent> alias_log(const Workspace& ws, const std::string& name, const std::string& dir);

}  // namespace mvc::core
