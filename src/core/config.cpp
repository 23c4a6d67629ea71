#include "core/config.h"

#include <toml++/toml.h>
#include <sstream>

#include "core/toml_parse.h"
#include "mvc/error.h"
#include "store/remote_registry.h"
#include "util/fs.h"
#include "util/lock.h"

namespace mvc::core {

namespace {

toml::table parse_file(const fs::path& p, Exit code) { return parse_toml(util::read_file(p), p.string(), code); }

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

/// [core], [cache] and the remotes' urls of `t` (read from `file`) into `c`.
void apply(Config& c, const toml::table& t, const fs::path& file) {
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

std::string render(const toml::table& t) {
  std::ostringstream out;
  out << "# mvc repository configuration (committed; credentials go in config.local.toml)\n";
  out << toml::toml_formatter(t, toml::toml_formatter::default_flags & ~toml::format_flags::indentation &
                                     ~toml::format_flags::allow_literal_strings &
                                     ~toml::format_flags::allow_multi_line_strings)
      << "\n";
  return out.str();
}

}  // namespace

bool valid_remote_name(const std::string& name) {
  if (name.empty() || name[0] == '.' || name[0] == '-' || name.size() > 100) return false;
  for (char ch : name)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.')) return false;
  return true;
}

Config load_config(const fs::path& mvc_dir) {
  Config c;
  fs::path committed = mvc_dir / "config.toml", local = mvc_dir / "config.local.toml";
  toml::table t = parse_file(committed, Exit::not_repo);
  std::optional<toml::table> lt;
  if (fs::exists(local)) lt = parse_file(local, Exit::failure);
  apply(c, t, committed);
  if (lt) apply(c, *lt, local);
  for (auto& [name, r] : c.remotes)
    if (r.url.empty()) throw Error(Exit::failure, committed.string() + ": [remote." + name + "] has no url");
  apply_options(c, t, committed, false);
  if (lt) apply_options(c, *lt, local, true);
  return c;
}

void config_add_remote(const fs::path& mvc_dir, const std::string& name, const std::string& url, bool make_default) {
  if (!valid_remote_name(name))
    throw Error(Exit::usage, "remote add: invalid remote name '" + name + "' (letters, digits, '-', '_', '.')");
  if (std::string why = store::check_url(url); !why.empty())
    throw Error(Exit::usage, "remote add: unsupported URL '" + url + "' (" + why + ")");
  fs::path cfg = mvc_dir / "config.toml";
  util::FileLock lock(cfg);
  toml::table t = parse_file(cfg, Exit::not_repo);
  if (!t.contains("remote")) t.insert("remote", toml::table{});
  toml::table* remotes = t["remote"].as_table();
  if (!remotes) throw Error(Exit::failure, cfg.string() + ": 'remote' must be a table");
  if (remotes->contains(name)) throw Error(Exit::failure, "remote add: remote '" + name + "' already exists");
  toml::table r;
  r.insert("url", url);
  remotes->insert(name, std::move(r));
  if (make_default) {
    if (!t.contains("core")) t.insert("core", toml::table{});
    toml::table* core = t["core"].as_table();
    if (!core) throw Error(Exit::failure, cfg.string() + ": 'core' must be a table");
    core->insert_or_assign("remote", name);
  }
  lock.commit(render(t));
}

void config_remove_remote(const fs::path& mvc_dir, const std::string& name) {
  fs::path cfg = mvc_dir / "config.toml";
  util::FileLock lock(cfg);
  toml::table t = parse_file(cfg, Exit::not_repo);
  toml::table* remotes = t["remote"].as_table();
  if (!remotes || !remotes->contains(name)) throw Error(Exit::usage, "remote remove: no remote named '" + name + "'");
  remotes->erase(name);
  if (remotes->empty()) t.erase("remote");
  if (toml::table* core = t["core"].as_table()) {
    if (core->get("remote") && core->get("remote")->value<std::string>() == name) core->erase("remote");
    if (core->empty()) t.erase("core");
  }
  lock.commit(render(t));
}

}  // namespace mvc::core
