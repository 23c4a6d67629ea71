// mvc config get KEY | set KEY VALUE [--local] | unset KEY [--local] | list [--local|--shared] [--json]
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/output.h"
#include "core/config.h"
#include "core/workspace.h"
#include "mvc/error.h"

namespace mvc::cli {

namespace {

core::ConfigScope scope_of(bool local, bool shared) {
  if (local && shared) throw Error(Exit::usage, "config: --local and --shared exclude each other");
  return local ? core::ConfigScope::local : shared ? core::ConfigScope::shared : core::ConfigScope::merged;
}

}  // namespace

void add_config(CLI::App& app, Context& ctx) {
  struct Opts {
    std::string key, value;
    bool local = false, shared = false, json = false;
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand(
      "config", "Get, set, list and unset keys of .mvc/config.toml (committed) and .mvc/config.local.toml (not)");
  cmd->require_subcommand(1);

  auto* get = cmd->add_subcommand("get", "Print a key's value (config.local.toml's when it sets the key)");
  get->add_option("key", opts->key, "core.remote, cache.dir, remote.NAME.url, remote.NAME.region, ...")->required();
  get->add_flag("--local", opts->local, "Only config.local.toml");
  get->add_flag("--shared", opts->shared, "Only config.toml");
  get->callback([&ctx, opts] {
    ctx.action = [opts] {
      core::Workspace ws = core::Workspace::open(".");
      core::ConfigScope scope = scope_of(opts->local, opts->shared);
      core::config_check_key(ws.mvc_dir(), opts->key);
      for (const core::ConfigEntry& e : core::config_list(ws.mvc_dir(), scope))
        if (e.key == opts->key) {
          std::cout << e.value << "\n";
          return 0;
        }
      // Not set: like `git config KEY`, nothing on stdout and exit 1.
      info_err() << "mvc: " << opts->key << " is not set\n";
      return static_cast<int>(Exit::failure);
    };
  });

  auto* set = cmd->add_subcommand("set", "Set a key in config.toml (staged), or in config.local.toml with --local");
  set->add_option("key", opts->key, "core.remote, cache.dir, remote.NAME.url, remote.NAME.region, ...")->required();
  set->add_option("value", opts->value, "The value")->required();
  set->add_flag("--local", opts->local, "In config.local.toml (never committed; the place for credentials)");
  set->callback([&ctx, opts] {
    ctx.action = [opts] {
      core::Workspace ws = core::Workspace::open(".");
      core::ConfigScope scope = opts->local ? core::ConfigScope::local : core::ConfigScope::shared;
      core::config_set(ws.mvc_dir(), opts->key, opts->value, scope);
      if (!opts->local) ws.git().stage({".mvc/config.toml"});
      info() << "Set " << opts->key << " in "
             << (opts->local ? ".mvc/config.local.toml" : ".mvc/config.toml; .mvc/config.toml staged") << "\n";
      return 0;
    };
  });

  auto* unset =
      cmd->add_subcommand("unset", "Remove a key from config.toml (staged), or config.local.toml with --local");
  unset->add_option("key", opts->key, "The key")->required();
  unset->add_flag("--local", opts->local, "From config.local.toml");
  unset->callback([&ctx, opts] {
    ctx.action = [opts] {
      core::Workspace ws = core::Workspace::open(".");
      core::ConfigScope scope = opts->local ? core::ConfigScope::local : core::ConfigScope::shared;
      core::config_unset(ws.mvc_dir(), opts->key, scope);
      if (!opts->local) ws.git().stage({".mvc/config.toml"});
      info() << "Unset " << opts->key << " in "
             << (opts->local ? ".mvc/config.local.toml" : ".mvc/config.toml; .mvc/config.toml staged") << "\n";
      return 0;
    };
  });

  auto* list = cmd->add_subcommand("list", "List the keys set (KEY=VALUE; credentials masked)");
  list->add_flag("--local", opts->local, "Only config.local.toml");
  list->add_flag("--shared", opts->shared, "Only config.toml");
  list->add_flag("--json", opts->json, "JSON: {\"keys\": [{key, value, file}]} (credentials masked; docs/json.md)");
  list->callback([&ctx, opts] {
    ctx.action = [opts] {
      core::Workspace ws = core::Workspace::open(".");
      auto entries = core::config_list(ws.mvc_dir(), scope_of(opts->local, opts->shared));
      nlohmann::json out = nlohmann::json::array();
      for (const core::ConfigEntry& e : entries) {
        std::string value = e.credential ? "********" : e.value;
        if (opts->json)
          out.push_back({{"key", e.key}, {"value", value}, {"file", e.file}});
        else
          std::cout << e.key << "=" << value << (is_verbose() ? "\t(" + e.file + ")" : "") << "\n";
      }
      if (opts->json) std::cout << nlohmann::json{{"keys", out}}.dump(2) << "\n";
      return 0;
    };
  });
}

}  // namespace mvc::cli
