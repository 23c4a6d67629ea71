#include "core/config.h"

#include <sstream>
#include <toml++/toml.h>

#include "core/toml_parse.h"
#include "mvc/error.h"
#include "util/fs.h"
#include "util/lock.h"

namespace mvc::core {

namespace {

const char* kCredentialKeys[] = {"access_key_id", "secret_access_key", "session_token"};

toml::table parse_file(const fs::path& p, Exit code) {
  return parse_toml(util::read_file(p), p.string(), code);
}

std::string str_key(const toml::table& t, const char* key, const std::string& where) {
  const toml::node* n = t.get(key);
  if (!n) return {};
  if (auto s = n->value<std::string>()) return *s;
  throw Error(Exit::failure, where + ": '" + key + "' must be a string");
}

std::uint64_t size_key(const toml::table& t, const char* key, const std::string& where) {
  const toml::node* n = t.get(key);
  if (!n) return 0;
  auto v = n->value<int64_t>();
  if (!v || *v <= 0) throw Error(Exit::failure, where + ": '" + key + "' must be a positive integer (bytes)");
  return static_cast<std::uint64_t>(*v);
}

void apply(Config& c, const toml::table& t, const fs::path& file, bool local) {
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
      std::string where = file.string() + ": [remote." + name + "]";
      auto* rt = v.as_table();
      if (!rt) throw Error(Exit::failure, where + " must be a table");
      RemoteConfig& r = c.remotes[name];
      r.name = name;
      if (!local)
        for (const char* ck : kCredentialKeys)
          if (rt->contains(ck))
            throw Error(Exit::failure, where + ": '" + ck +
                                           "' is a credential: it belongs in .mvc/config.local.toml (never committed), not in config.toml");
      auto set = [&](std::string& field, const char* key) {
        std::string s = str_key(*rt, key, where);
        if (!s.empty()) field = s;
      };
      set(r.url, "url");
      set(r.endpoint_url, "endpoint_url");
      set(r.region, "region");
      set(r.addressing, "addressing");
      set(r.access_key_id, "access_key_id");
      set(r.secret_access_key, "secret_access_key");
      set(r.session_token, "session_token");
      if (auto v = size_key(*rt, "multipart_threshold", where)) r.multipart_threshold = v;
      if (auto v = size_key(*rt, "part_size", where)) r.part_size = v;
      if (!r.addressing.empty() && r.addressing != "path" && r.addressing != "virtual")
        throw Error(Exit::failure, where + ": addressing must be \"path\" or \"virtual\", not \"" + r.addressing + "\"");
    }
  }
}

std::string render(const toml::table& t) {
  std::ostringstream out;
  out << "# mvc repository configuration (committed; credentials go in config.local.toml)\n";
  out << toml::toml_formatter(t, toml::toml_formatter::default_flags & ~toml::format_flags::indentation & ~toml::format_flags::allow_literal_strings &
                                                 ~toml::format_flags::allow_multi_line_strings) << "\n";
  return out.str();
}

bool valid_url(const std::string& url) {
  if (url.empty()) return false;
  if (url.rfind("s3://", 0) == 0) {
    std::string rest = url.substr(5);
    std::string bucket = rest.substr(0, rest.find('/'));
    return !bucket.empty();
  }
  if (url.find("://") != std::string::npos) return url.rfind("file://", 0) == 0 && url.size() > 7;
  return true;  // a path
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
  apply(c, parse_file(mvc_dir / "config.toml", Exit::not_repo), mvc_dir / "config.toml", false);
  fs::path local = mvc_dir / "config.local.toml";
  if (fs::exists(local)) apply(c, parse_file(local, Exit::failure), local, true);
  for (auto& [name, r] : c.remotes)
    if (r.url.empty()) throw Error(Exit::failure, (mvc_dir / "config.toml").string() + ": [remote." + name + "] has no url");
  return c;
}

void config_add_remote(const fs::path& mvc_dir, const std::string& name, const std::string& url, bool make_default) {
  if (!valid_remote_name(name))
    throw Error(Exit::usage, "remote add: invalid remote name '" + name + "' (letters, digits, '-', '_', '.')");
  if (!valid_url(url))
    throw Error(Exit::usage, "remote add: unsupported URL '" + url + "' (a path, file://PATH or s3://BUCKET[/PREFIX])");
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
  if (!remotes || !remotes->contains(name)) throw Error(Exit::failure, "remote remove: no remote named '" + name + "'");
  remotes->erase(name);
  if (remotes->empty()) t.erase("remote");
  if (toml::table* core = t["core"].as_table()) {
    if (core->get("remote") && core->get("remote")->value<std::string>() == name) core->erase("remote");
    if (core->empty()) t.erase("core");
  }
  lock.commit(render(t));
}

}  // namespace mvc::core
