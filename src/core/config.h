// `.mvc/config.toml` (committed) and `.mvc/config.local.toml` (not committed), read like
// DVC's config (format documented in docs/repository-format.md):
//
//   format = 1
//   [core]
//   remote = "origin"                 # the default remote
//   [cache]
//   dir = "/srv/mvc-cache"            # optional; relative paths are relative to .mvc/
//   [remote.origin]
//   url = "s3://bucket/team/models"   # or a path / file:// URL
//   endpoint_url = "http://127.0.0.1:9000"   # S3-compatible stores (MinIO, Ceph RGW, R2, ...)
//   region = "us-east-1"
//   addressing = "path"               # or "virtual" (default: virtual for AWS, path with endpoint_url)
//
// config.local.toml has the same shape; its keys override config.toml's. A remote's keys other
// than url belong to its backend (chosen by the URL's scheme, store/remote_registry.h), which
// says which exist, their types and which are credentials (access_key_id, secret_access_key,
// session_token: accepted only in config.local.toml).
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "store/remote.h"

namespace mvc::core {

namespace fs = std::filesystem;

using RemoteConfig = store::RemoteSpec;

struct Config {
  std::string default_remote;  ///< [core] remote, "" = none
  std::string cache_dir;       ///< [cache] dir as written, "" = <git common dir>/mvc/cache
  std::map<std::string, RemoteConfig> remotes;
};

/// Reads config.toml and config.local.toml (if present) of the `.mvc` directory `mvc_dir`.
/// Throws Exit::not_repo for an unreadable or invalid config.toml (file:line:column),
/// Exit::failure for a credential key in the committed config.toml, a bad value, or a key the
/// remote's backend does not have (naming the key and the backend's valid keys).
Config load_config(const fs::path& mvc_dir);

/// One key of the configuration, as `mvc config` names it. The one table of keys: the reader
/// (load_config) refuses a key of [core] or [cache] it does not list and `mvc config` sets,
/// checks and suggests from it. `remote.NAME.url` is every remote's; a remote's other keys are
/// its backend's (store/remote_registry.h), listed here as `remote.NAME.<key>`.
struct ConfigKey {
  enum class Type { string, remote_name, url, size, choice };
  std::string name;  ///< "core.remote", "cache.dir", "remote.NAME.url", "remote.NAME.region"
  Type type = Type::string;
  std::vector<std::string> choices;  ///< Type::choice
  bool credential = false;           ///< config.local.toml only
  std::string backend;               ///< "" = every remote's; else the backend whose key it is
};
/// Every key: core.remote, cache.dir, remote.NAME.url, then each backend's keys.
const std::vector<ConfigKey>& config_keys();

/// Which file `mvc config` reads or writes: both (merged, local first), or one.
enum class ConfigScope { merged, shared, local };

struct ConfigEntry {
  std::string key;    ///< "remote.origin.url"
  std::string value;  ///< as text (strings unquoted, integers in decimal)
  std::string file;   ///< "config.toml" or "config.local.toml"
  bool credential = false;
};

/// Every key set in `scope`, in file order of (config.toml, config.local.toml); merged: one
/// entry per key, config.local.toml's value winning. Validates the configuration first
/// (load_config's errors).
std::vector<ConfigEntry> config_list(const fs::path& mvc_dir, ConfigScope scope);
/// Checks `key` (config_keys(); `remote.NAME.KEY` against NAME's backend): Exit::usage for an
/// unknown key, with the nearest ("did you mean remote.origin.url?").
void config_check_key(const fs::path& mvc_dir, const std::string& key);
/// Sets `key` to `value` in config.toml (shared) or config.local.toml (local, created when
/// absent), editing the text in place (core/toml_edit.h) under the file's lock. Throws
/// Exit::usage for an unknown key, a value of the wrong type, a credential outside
/// config.local.toml or `format`; nothing is changed then.
void config_set(const fs::path& mvc_dir, const std::string& key, const std::string& value, ConfigScope scope);
/// Removes `key` from one file. Throws Exit::usage when it is not set there (naming the file
/// where it is set, if any).
void config_unset(const fs::path& mvc_dir, const std::string& key, ConfigScope scope);

/// True when `name` is a valid remote name: letters, digits, '-', '_', '.', not starting with '.'.
bool valid_remote_name(const std::string& name);

/// Adds remote `name` with `url` to config.toml under `config.toml.lock` (and makes it the
/// default when `make_default`). Throws Exit::usage for an invalid name or URL, Exit::failure
/// when the remote exists, Exit::lock when the lock is held.
void config_add_remote(const fs::path& mvc_dir, const std::string& name, const std::string& url, bool make_default);
/// Removes remote `name` (and the default if it was that one). Throws Exit::failure if unknown.
void config_remove_remote(const fs::path& mvc_dir, const std::string& name);

}  // namespace mvc::core
