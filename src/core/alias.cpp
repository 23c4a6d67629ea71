#include "core/alias.h"

#include <algorithm>

#include "core/conflict.h"
#include "core/model_version.h"
#include "core/toml_parse.h"
#include "core/transfer.h"
#include "mvc/error.h"

namespace mvc::core {

namespace {

std::string shown(const std::string& dir) { return dir.empty() ? "." : dir; }

bool is_full_id(const std::string& s) {
  return s.size() == 40 &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

/// A TOML key: bare when it may be, else a basic string (ref names hold no control characters
/// and no backslash; '"' is escaped).
std::string toml_key(const std::string& k) {
  bool bare = !k.empty() && std::all_of(k.begin(), k.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
  if (bare) return k;
  std::string out = "\"";
  for (char c : k) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

/// The parsed file at `commit` (empty when absent or unreadable: history is shown as it is).
AliasMap aliases_at(const git::Repo& g, const std::string& commit) {
  auto text = g.read_blob_at(commit, kAliasFile);
  if (!text) return {};
  try {
    return parse_aliases(*text, std::string(kAliasFile) + " at " + commit.substr(0, 7));
  } catch (const Error&) {
    return {};
  }
}

std::string lookup(const AliasMap& m, const std::string& dir, const std::string& name) {
  auto d = m.find(dir);
  if (d == m.end()) return {};
  auto a = d->second.find(name);
  return a == d->second.end() ? std::string() : a->second;
}

/// Under git's index lock: reads the work tree's aliases file, lets `change` edit it (returning
/// the commit message, or "" for no change), writes it and commits that file alone. Reading
/// under the lock means two concurrent moves never lose one another. The work-tree file is put
/// back when the commit fails.
template <typename F>
std::string commit_aliases(Workspace& ws, F change) {
  git::Repo& g = ws.git();
  git::IndexLock lock(g);
  AliasMap m = read_aliases(ws);
  std::string message = change(m);
  if (message.empty()) return {};
  std::optional<std::string> before;
  std::error_code ec;
  if (fs::is_regular_file(ws.root() / kAliasFile, ec)) before = util::read_file(ws.root() / kAliasFile);
  try {
    g.write_worktree(kAliasFile, aliases_to_toml(m));
    g.stage({kAliasFile});
    auto c = g.commit_only({kAliasFile}, message);
    lock.commit();
    return c.value_or("");
  } catch (...) {
    if (before)
      util::write_file_atomic(ws.root() / kAliasFile, *before);
    else
      fs::remove(ws.root() / kAliasFile, ec);
    throw;
  }
}

}  // namespace

AliasMap parse_aliases(const std::string& text, const std::string& name) {
  toml::table t = parse_toml(text, name, Exit::model);
  AliasMap out;
  if (auto* f = t.get("format")) {
    auto v = f->value<std::int64_t>();
    if (!v || *v < 1) throw Error(Exit::model, name + ": format must be a positive integer");
    if (*v > kAliasFormat)
      throw Error(Exit::not_repo, name + ": aliases format " + std::to_string(*v) +
                                      " needs a newer mvc (this one reads format " + std::to_string(kAliasFormat) +
                                      ")");
  }
  for (auto&& [k, node] : t) {
    std::string dir(k.str());
    if (dir == "format") continue;
    auto* tbl = node.as_table();
    if (!tbl) throw Error(Exit::model, name + ": '" + dir + "' must be a table of aliases of that model directory");
    std::string d = normalize_dir(dir);
    auto& entries = out[d];
    for (auto&& [ak, av] : *tbl) {
      auto id = av.value<std::string>();
      if (!id || !is_full_id(*id))
        throw Error(Exit::model, name + ": [\"" + dir + "\"] " + std::string(ak.str()) +
                                     ": must be a full commit id (40 hex digits)");
      entries[std::string(ak.str())] = *id;
    }
  }
  return out;
}

std::string aliases_to_toml(const AliasMap& m) {
  std::string out =
      "# mvc aliases (docs/repository-format.md, \"Aliases\"): one table per model directory,\n"
      "# alias = the commit of the version it names. Changed by 'mvc alias set' and 'mvc alias rm'.\n"
      "format = " +
      std::to_string(kAliasFormat) + "\n";
  for (auto& [dir, entries] : m) {
    if (entries.empty()) continue;
    out += "\n[" + std::string("\"") + shown(dir) + "\"]\n";
    for (auto& [name, id] : entries) out += toml_key(name) + " = \"" + id + "\"\n";
  }
  return out;
}

AliasMap read_aliases(const Workspace& ws) {
  auto text = ws.git().read_worktree_clean(kAliasFile);
  if (!text) return {};
  return parse_aliases(*text, kAliasFile);
}

std::optional<std::string> alias_commit(const Workspace& ws, const std::string& name, const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(ws.root() / kAliasFile, ec)) return std::nullopt;
  std::string id = lookup(read_aliases(ws), normalize_dir(dir), name);
  if (id.empty()) return std::nullopt;
  return id;
}

std::vector<std::string> alias_dirs(const Workspace& ws, const std::string& name) {
  std::error_code ec;
  if (!fs::exists(ws.root() / kAliasFile, ec)) return {};
  std::vector<std::string> out;
  for (auto& [dir, entries] : read_aliases(ws))
    if (entries.count(name)) out.push_back(dir);
  return out;
}

AliasMove set_alias(Workspace& ws, const std::string& name, const std::string& rev, const std::string& dir_in) {
  git::Repo& g = ws.git();
  refuse_if_file_conflicted(ws, kAliasFile);
  const std::string dir = normalize_dir(dir_in);
  if (!git::Repo::valid_tag_name(name))
    throw Error(Exit::usage, "alias '" + name + "': not a valid ref name (see git check-ref-format)");
  if (g.try_resolve_commit("refs/heads/" + name))
    throw Error(Exit::usage, "alias '" + name + "': already a branch (branch, tag and commit names win over aliases)");
  if (g.try_resolve_commit("refs/tags/" + name))
    throw Error(Exit::usage, "alias '" + name + "': already a tag (branch, tag and commit names win over aliases)");
  if (auto c = g.try_resolve_commit(name))
    throw Error(Exit::usage, "alias '" + name + "': already names commit " + c->substr(0, 7) +
                                 " (branch, tag and commit names win over aliases)");
  if (dir == "format")
    throw Error(Exit::usage, "format: a model directory named 'format' cannot have aliases (" +
                                 std::string(kAliasFile) + " keeps its format version under that key)");
  read_aliases(ws);  // a file mvc cannot read (too new, invalid) is refused before anything else

  ModelVersion v = resolve_version(ws, rev, dir);
  if (v.in_work_tree()) throw Error(Exit::usage, "alias set: name a revision (mvc alias set NAME REV -- PATH)");
  const PointerFile& pf = v.require_pointer();
  // An alias never names a version whose weights were never stored.
  const std::string& sha = pf.pointer.sha256;
  if (!ws.store().contains(sha)) {
    const std::string where = pf.weights_rel() + " at " + rev;
    if (ws.config().default_remote.empty())
      throw Error(Exit::missing,
                  "object " + sha + " (" + where + ") is not in the cache and no default remote is configured");
    auto remote = open_remote(ws, "");
    if (!remote->stat(sha))
      throw Error(Exit::missing,
                  "object " + sha + " (" + where + ") is neither in the cache nor on remote " + remote->describe());
  }
  // The version: the newest commit at or before REV that changed the directory.
  std::string version = v.commit;
  auto history = g.log(v.commit, dir);
  if (!history.empty()) version = history.front().id;

  AliasMove mv;
  mv.to = version;
  mv.commit = commit_aliases(ws, [&](AliasMap& m) -> std::string {
    mv.from = lookup(m, dir, name);
    if (mv.from == version) return {};  // already there: nothing to commit
    m[dir][name] = version;
    return "alias " + name + " -> " + version.substr(0, 7) + " (" + shown(dir) + ")";
  });
  return mv;
}

AliasMove remove_alias(Workspace& ws, const std::string& name, const std::string& dir_in) {
  refuse_if_file_conflicted(ws, kAliasFile);
  const std::string dir = normalize_dir(dir_in);
  AliasMove mv;
  mv.commit = commit_aliases(ws, [&](AliasMap& m) -> std::string {
    mv.from = lookup(m, dir, name);
    if (mv.from.empty()) throw Error(Exit::usage, shown(dir) + ": no alias '" + name + "'");
    m[dir].erase(name);
    if (m[dir].empty()) m.erase(dir);
    return "alias " + name + " removed (" + shown(dir) + ", was " + mv.from.substr(0, 7) + ")";
  });
  return mv;
}

std::vector<AliasEvent> alias_log(const Workspace& ws, const std::string& name, const std::string& dir_in) {
  const git::Repo& g = ws.git();
  const std::string dir = normalize_dir(dir_in);
  std::vector<AliasEvent> out;
  if (g.head_unborn()) return out;
  for (auto& c : g.log(g.resolve_commit("HEAD"), kAliasFile)) {
    std::string now = lookup(aliases_at(g, c.id), dir, name);
    std::string before = c.parents.empty() ? "" : lookup(aliases_at(g, c.parents[0]), dir, name);
    if (now == before) continue;
    AliasEvent e;
    e.commit = c.id;
    e.author = c.author_name;
    e.email = c.author_email;
    e.time = c.time;
    e.offset_minutes = c.offset_minutes;
    e.from = before;
    e.to = now;
    e.message = c.summary;
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace mvc::core
