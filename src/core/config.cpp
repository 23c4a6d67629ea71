#include "core/config.h"

#include <toml++/toml.h>
#include <algorithm>
#include <functional>
#include <sstream>
#include <tuple>

#include "core/toml_edit.h"
#include "core/toml_parse.h"
#include "mvc/error.h"
#include "store/remote_registry.h"
#include "util/fs.h"
#include "util/lock.h"
#include "util/text.h"

namespace mvc::core {

namespace {

std::string str_key(const toml::table& t, const char* key, const std::string& where) {
  const toml::node* n = t.get(key);
  if (!n) return {};
  if (auto s = n->value<std::string>()) return *s;
  throw Error(Exit::failure, where + ": '" + key + "' must be a string");
}

/// The backend's key `key` of [remote.NAME] (a table in `file`) into `r`: the backend decides
/// which keys exist, their types and values (store/remote_registry.h).
void apply_option(store::RemoteSpec& r, const store::RemoteBackend& b, const std::string& key, const toml::node& n,
                  const std::string& where, bool local) {
  const store::RemoteKey* k = store::find_key(b, key);
  if (!k)
    throw Error(Exit::failure, where + ": unknown key '" + key + "' for this " + b.name +
                                   " remote (valid keys: " + store::valid_keys(b) + ")");
  if (k->credential && !local)
    throw Error(Exit::failure,
                where + ": '" + key +
                    "' is a credential: it belongs in .mvc/config.local.toml (never committed), not in config.toml");
  std::string text;
  if (k->type == store::RemoteKey::Type::size) {
    auto v = n.value<int64_t>();
    if (!v || *v <= 0 || !n.is_integer())
      throw Error(Exit::failure, where + ": '" + key + "' must be a positive integer (bytes)");
    text = std::to_string(*v);
  } else {
    auto v = n.value<std::string>();
    if (!v) throw Error(Exit::failure, where + ": '" + key + "' must be a string");
    text = *v;
    if (text.empty()) return;  // "" = unset, as before
  }
  if (std::string why = store::check_option(*k, text); !why.empty()) throw Error(Exit::failure, where + ": " + why);
  r.options[key] = text;
}

/// Refuses a key of [`section`] (core, cache) that config_keys() does not list.
void check_section(const toml::table& t, const std::string& section, const fs::path& file) {
  std::vector<std::string> valid;
  for (const ConfigKey& k : config_keys())
    if (k.name.compare(0, section.size() + 1, section + ".") == 0) valid.push_back(k.name.substr(section.size() + 1));
  for (auto& [k, v] : t) {
    std::string key(k.str());
    if (std::find(valid.begin(), valid.end(), key) != valid.end()) continue;
    std::string guess = util::closest(key, valid), list;
    for (const std::string& n : valid) list += (list.empty() ? "" : ", ") + n;
    throw Error(Exit::failure, file.string() + ": [" + section + "]: unknown key '" + util::printable(key, 64) + "'" +
                                   (guess.empty() ? "" : " (did you mean " + guess + "?)") + " (valid keys: " + list +
                                   ")");
  }
}

/// [core], [cache] and the remotes' urls of `t` (read from `file`) into `c`.
void apply(Config& c, const toml::table& t, const fs::path& file) {
  if (auto core = t["core"].as_table()) check_section(*core, "core", file);
  if (auto cache = t["cache"].as_table()) check_section(*cache, "cache", file);
  if (auto core = t["core"].as_table()) {
    std::string r = str_key(*core, "remote", file.string() + ": [core]");
    if (!r.empty()) c.default_remote = r;
  }
  if (auto cache = t["cache"].as_table()) {
    std::string d = str_key(*cache, "dir", file.string() + ": [cache]");
    if (!d.empty()) c.cache_dir = d;
  }
  if (auto remotes = t["remote"].as_table()) {
    for (auto& [k, v] : *remotes) {
      std::string name(k.str());
      auto* rt = v.as_table();
      if (!rt) throw Error(Exit::failure, file.string() + ": [remote." + name + "] must be a table");
      RemoteConfig& r = c.remotes[name];
      r.name = name;
      std::string url = str_key(*rt, "url", file.string() + ": [remote." + name + "]");
      if (!url.empty()) r.url = url;
    }
  }
}

/// The remotes' other keys of `t`, once every url is known (config.local.toml may set the url
/// of a remote whose keys config.toml holds, or the other way round).
void apply_options(Config& c, const toml::table& t, const fs::path& file, bool local) {
  auto remotes = t["remote"].as_table();
  if (!remotes) return;
  for (auto& [k, v] : *remotes) {
    std::string name(k.str());
    RemoteConfig& r = c.remotes[name];
    // An unsupported URL is reported when the remote is used (open_remote), as before.
    const store::RemoteBackend* b = store::find_backend(r.url);
    if (!b) continue;
    for (auto& [key, node] : *v.as_table())
      if (key.str() != "url")
        apply_option(r, *b, std::string(key.str()), node, file.string() + ": [remote." + name + "]", local);
  }
}

/// The configuration of config.toml's text `shared` and config.local.toml's `local` (if any).
Config load_texts(const std::string& shared, const fs::path& committed, const std::optional<std::string>& local,
                  const fs::path& local_path) {
  Config c;
  toml::table t = parse_toml(shared, committed.string(), Exit::not_repo);
  std::optional<toml::table> lt;
  if (local) lt = parse_toml(*local, local_path.string(), Exit::failure);
  apply(c, t, committed);
  if (lt) apply(c, *lt, local_path);
  for (auto& [name, r] : c.remotes)
    if (r.url.empty()) throw Error(Exit::failure, committed.string() + ": [remote." + name + "] has no url");
  apply_options(c, t, committed, false);
  if (lt) apply_options(c, *lt, local_path, true);
  return c;
}

std::optional<std::string> read_if_exists(const fs::path& p) {
  if (!fs::exists(p)) return std::nullopt;
  return util::read_file(p);
}

ConfigKey::Type key_type(store::RemoteKey::Type t) {
  switch (t) {
    case store::RemoteKey::Type::size:
      return ConfigKey::Type::size;
    case store::RemoteKey::Type::choice:
      return ConfigKey::Type::choice;
    case store::RemoteKey::Type::string:
      break;
  }
  return ConfigKey::Type::string;
}

/// A key of the command line, resolved against the table and the configuration.
struct KeyRef {
  TomlEditor::Path path;           ///< in the file
  const ConfigKey* def = nullptr;  ///< nullptr for `format`
};

std::vector<std::string> split_dots(const std::string& key) {
  std::vector<std::string> parts;
  std::size_t b = 0;
  while (true) {
    std::size_t e = key.find('.', b);
    parts.push_back(key.substr(b, e == std::string::npos ? std::string::npos : e - b));
    if (e == std::string::npos) return parts;
    b = e + 1;
  }
}

[[noreturn]] void unknown_key(const Config& c, const std::string& key, const std::string& remote,
                              const std::string& why) {
  // Candidates: the fixed keys, and each remote's (the one named in `key` too) with its backend's keys.
  std::vector<std::string> candidates{"format"};
  std::vector<std::string> remotes;
  for (auto& [n, r] : c.remotes) remotes.push_back(n);
  if (!remote.empty() && !c.remotes.count(remote)) remotes.push_back(remote);
  for (const ConfigKey& k : config_keys()) {
    if (k.name.compare(0, 12, "remote.NAME.") != 0) {
      candidates.push_back(k.name);
      continue;
    }
    for (const std::string& n : remotes) {
      auto it = c.remotes.find(n);
      const store::RemoteBackend* b = it == c.remotes.end() ? nullptr : store::find_backend(it->second.url);
      if (!k.backend.empty() && b && b->name != k.backend) continue;
      candidates.push_back("remote." + n + "." + k.name.substr(12));
    }
  }
  std::string guess = util::closest(key, candidates);
  throw Error(
      Exit::usage,
      "config: unknown key '" + util::printable(key, 100) + "'" + why +
          (guess.empty() ? "" : "; did you mean " + guess + "?") +
          (why.empty() ? " (keys: core.remote, cache.dir, remote.NAME.url and the remote's own; see mvc config list)"
                       : ""));
}

KeyRef resolve_key(const Config& c, const std::string& key) {
  KeyRef r;
  std::vector<std::string> parts = split_dots(key);
  if (key == "format") {
    r.path = {"format"};
    return r;
  }
  if (parts.size() >= 3 && parts[0] == "remote") {
    std::string name = key.substr(7, key.size() - 7 - parts.back().size() - 1), k = parts.back();
    if (!valid_remote_name(name))
      throw Error(Exit::usage, "config: '" + util::printable(key, 100) + "': invalid remote name '" +
                                   util::printable(name, 64) + "' (letters, digits, '-', '_', '.')");
    r.path = {"remote", name, k};
    auto it = c.remotes.find(name);
    const store::RemoteBackend* b = it == c.remotes.end() ? nullptr : store::find_backend(it->second.url);
    for (const ConfigKey& d : config_keys())
      if (d.name == "remote.NAME." + k && (k == "url" || !b || d.backend == b->name)) r.def = &d;
    if (!r.def)
      unknown_key(c, key, name,
                  b ? " for this " + b->name + " remote (valid keys: " + store::valid_keys(*b) + ")" : "");
    return r;
  }
  for (const ConfigKey& d : config_keys())
    if (d.name == key && parts.size() == 2) {
      r.path = {parts[0], parts[1]};
      r.def = &d;
      return r;
    }
  unknown_key(c, key, "", "");
}

/// `value` of `k` as it goes into the file; Exit::usage naming the key when it is not one.
TomlEditor::Value check_value(const Config& c, const KeyRef& k, const std::string& key, const std::string& value,
                              ConfigScope scope) {
  if (!k.def)
    throw Error(Exit::usage, "config: 'format' is the repository's format, written by mvc init; not set by hand");
  if (k.def->credential && scope != ConfigScope::local)
    throw Error(
        Exit::usage,
        "config: " + key + " is a credential: it belongs in .mvc/config.local.toml, never committed (use --local)");
  std::string bad;
  switch (k.def->type) {
    case ConfigKey::Type::remote_name:
      if (!c.remotes.count(value)) bad = "no remote named '" + util::printable(value, 64) + "' (see mvc remote list)";
      break;
    case ConfigKey::Type::url:
      if (std::string why = store::check_url(value); !why.empty())
        bad = "unsupported URL '" + util::printable(value, 100) + "' (" + why + ")";
      break;
    case ConfigKey::Type::size: {
      bool digits = !value.empty() && value.size() < 19 && value.find_first_not_of("0123456789") == std::string::npos;
      if (!digits || std::stoll(value) <= 0)
        bad = "must be a positive integer (bytes), not '" + util::printable(value, 64) + "'";
      else
        return TomlEditor::Value(static_cast<std::int64_t>(std::stoll(value)));
      break;
    }
    case ConfigKey::Type::choice: {
      if (std::find(k.def->choices.begin(), k.def->choices.end(), value) == k.def->choices.end()) {
        for (const std::string& ch : k.def->choices) bad += (bad.empty() ? "must be \"" : " or \"") + ch + "\"";
        bad += ", not \"" + util::printable(value, 64) + "\"";
      }
      break;
    }
    case ConfigKey::Type::string:
      break;
  }
  if (!bad.empty()) throw Error(Exit::usage, "config: " + key + ": " + bad);
  return value;
}

using Edit = std::function<void(TomlEditor&)>;

/// Edits config.toml with `shared` and config.local.toml with `local` (either may be empty;
/// config.local.toml is created when absent) in place (core/toml_edit.h) under their locks,
/// checks that the whole configuration still loads (Exit::usage naming `what` otherwise), and
/// renames each changed file into place.
void edit_configs(const fs::path& mvc_dir, const std::string& what, const Edit& shared, const Edit& local) {
  fs::path committed = mvc_dir / "config.toml", local_path = mvc_dir / "config.local.toml";
  std::optional<util::FileLock> shared_lock, local_lock;
  if (shared) shared_lock.emplace(committed);
  if (local) local_lock.emplace(local_path);
  std::optional<std::string> shared_text = read_if_exists(committed), local_text = read_if_exists(local_path);
  if (!shared_text) throw Error(Exit::not_repo, committed.string() + ": missing (run mvc init)");
  std::optional<std::string> new_shared, new_local;
  if (shared) {
    TomlEditor ed(*shared_text, committed.string(), static_cast<int>(Exit::not_repo));
    shared(ed);
    new_shared = ed.text();
  }
  if (local) {
    TomlEditor ed(local_text.value_or("# mvc local configuration (never committed: credentials go here)\n"),
                  local_path.string(), static_cast<int>(Exit::failure));
    local(ed);
    new_local = ed.text();
  }
  try {
    load_texts(new_shared.value_or(*shared_text), committed, new_local ? new_local : local_text, local_path);
  } catch (const Error& e) {
    throw Error(Exit::usage, what + " would make the configuration invalid, so nothing was changed: " + e.what());
  }
  if (new_shared && new_shared != shared_text) shared_lock->commit(*new_shared);
  if (new_local && new_local != local_text) local_lock->commit(*new_local);
}

void flatten(const toml::table& t, const std::string& prefix, const std::string& file,
             std::vector<std::tuple<std::uint32_t, ConfigEntry>>& out) {
  for (auto& [k, v] : t) {
    std::string key = prefix + std::string(k.str());
    if (auto* sub = v.as_table()) {
      flatten(*sub, key + ".", file, out);
      continue;
    }
    ConfigEntry e;
    e.key = key;
    e.file = file;
    if (auto s = v.value_exact<std::string>())
      e.value = *s;
    else if (auto i = v.value_exact<std::int64_t>())
      e.value = std::to_string(*i);
    else if (auto b = v.value_exact<bool>())
      e.value = *b ? "true" : "false";
    else
      v.visit([&](auto&& n) {
        std::ostringstream o;
        o << n;
        e.value = o.str();
      });
    out.emplace_back(v.source().begin.line, std::move(e));
  }
}

std::vector<ConfigEntry> entries_of(const std::string& text, const fs::path& file) {
  std::vector<std::tuple<std::uint32_t, ConfigEntry>> all;
  flatten(toml::parse(text, file.string()), "", file.filename().string(), all);
  std::stable_sort(all.begin(), all.end(), [](auto& a, auto& b) { return std::get<0>(a) < std::get<0>(b); });
  std::vector<ConfigEntry> out;
  for (auto& [line, e] : all) {
    for (const ConfigKey& k : config_keys())
      if (k.credential && e.key.size() > k.name.size() - 11 &&
          e.key.compare(e.key.size() - (k.name.size() - 11), std::string::npos, k.name.substr(11)) == 0 &&
          e.key.compare(0, 7, "remote.") == 0)
        e.credential = true;
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace

bool valid_remote_name(const std::string& name) {
  if (name.empty() || name[0] == '.' || name[0] == '-' || name.size() > 100) return false;
  for (char ch : name)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.')) return false;
  return true;
}

const std::vector<ConfigKey>& config_keys() {
  static const std::vector<ConfigKey> kKeys = [] {
    using T = ConfigKey::Type;
    std::vector<ConfigKey> keys{
        {"core.remote", T::remote_name, {}, false, ""},
        {"cache.dir", T::string, {}, false, ""},
        {"remote.NAME.url", T::url, {}, false, ""},
    };
    for (const store::RemoteBackend* b : store::remote_backends())
      for (const store::RemoteKey& k : b->keys)
        keys.push_back({"remote.NAME." + k.name, key_type(k.type), k.choices, k.credential, b->name});
    return keys;
  }();
  return kKeys;
}

Config load_config(const fs::path& mvc_dir) {
  fs::path committed = mvc_dir / "config.toml", local = mvc_dir / "config.local.toml";
  return load_texts(util::read_file(committed), committed, read_if_exists(local), local);
}

std::vector<ConfigEntry> config_list(const fs::path& mvc_dir, ConfigScope scope) {
  load_config(mvc_dir);  // a configuration that does not load is reported as such
  fs::path committed = mvc_dir / "config.toml", local = mvc_dir / "config.local.toml";
  std::vector<ConfigEntry> out;
  if (scope != ConfigScope::local) out = entries_of(util::read_file(committed), committed);
  std::optional<std::string> lt = scope == ConfigScope::shared ? std::nullopt : read_if_exists(local);
  if (lt)
    for (ConfigEntry& e : entries_of(*lt, local)) {
      auto it = std::find_if(out.begin(), out.end(), [&](const ConfigEntry& o) { return o.key == e.key; });
      if (it != out.end())
        *it = std::move(e);
      else
        out.push_back(std::move(e));
    }
  return out;
}

void config_check_key(const fs::path& mvc_dir, const std::string& key) { resolve_key(load_config(mvc_dir), key); }

void config_set(const fs::path& mvc_dir, const std::string& key, const std::string& value, ConfigScope scope) {
  Config c = load_config(mvc_dir);
  KeyRef k = resolve_key(c, key);
  TomlEditor::Value v = check_value(c, k, key, value, scope);
  Edit edit = [&](TomlEditor& ed) { ed.set(k.path, v); };
  bool local = scope == ConfigScope::local;
  edit_configs(mvc_dir, "config: setting " + key, local ? Edit() : edit, local ? edit : Edit());
}

void config_unset(const fs::path& mvc_dir, const std::string& key, ConfigScope scope) {
  Config c = load_config(mvc_dir);
  KeyRef k = resolve_key(c, key);
  if (!k.def) throw Error(Exit::usage, "config: 'format' is the repository's format, written by mvc init; not unset");
  if (k.def->type == ConfigKey::Type::url)
    throw Error(Exit::usage, "config: " + key + ": a remote is its url; remove the remote with 'mvc remote remove " +
                                 k.path[1] + "'");
  bool local = scope == ConfigScope::local;
  Edit edit = [&](TomlEditor& ed) {
    if (ed.unset(k.path)) return;
    std::string other = local ? "config.toml" : "config.local.toml";
    bool there = false;
    for (const ConfigEntry& e : config_list(mvc_dir, local ? ConfigScope::shared : ConfigScope::local))
      there = there || e.key == key;
    throw Error(Exit::usage, "config: " + key + " is not set in " + (local ? "config.local.toml" : "config.toml") +
                                 (there ? " (it is set in " + other + (local ? "" : ": use --local") + ")" : ""));
  };
  edit_configs(mvc_dir, "config: unsetting " + key, local ? Edit() : edit, local ? edit : Edit());
}

void config_add_remote(const fs::path& mvc_dir, const std::string& name, const std::string& url, bool make_default) {
  if (!valid_remote_name(name))
    throw Error(Exit::usage, "remote add: invalid remote name '" + name + "' (letters, digits, '-', '_', '.')");
  if (std::string why = store::check_url(url); !why.empty())
    throw Error(Exit::usage, "remote add: unsupported URL '" + url + "' (" + why + ")");
  edit_configs(
      mvc_dir, "remote add " + name,
      [&](TomlEditor& ed) {
        const toml::node* remotes = ed.table().get("remote");
        if (remotes && !remotes->is_table())
          throw Error(Exit::failure, (mvc_dir / "config.toml").string() + ": 'remote' must be a table");
        if (remotes && remotes->as_table()->contains(name))
          throw Error(Exit::failure, "remote add: remote '" + name + "' already exists");
        ed.set({"remote", name, "url"}, url);
        if (make_default) ed.set({"core", "remote"}, name);
      },
      Edit());
}

void config_remove_remote(const fs::path& mvc_dir, const std::string& name) {
  // From both files: config.local.toml's keys of a remote gone from config.toml (its
  // credentials) would leave a remote without a url.
  auto drop = [&](TomlEditor& ed) {
    ed.remove_table({"remote", name});
    const toml::node* def = ed.table().at_path("core.remote").node();
    if (def && def->value<std::string>() == name) ed.unset({"core", "remote"});
    const toml::node* remotes = ed.table().get("remote");
    if (remotes && remotes->as_table() && remotes->as_table()->empty()) ed.remove_table({"remote"});
  };
  Config c = load_config(mvc_dir);
  if (!c.remotes.count(name)) throw Error(Exit::usage, "remote remove: no remote named '" + name + "'");
  Edit local;
  if (fs::exists(mvc_dir / "config.local.toml")) local = drop;
  edit_configs(mvc_dir, "remote remove " + name, drop, local);
}

}  // namespace mvc::core
