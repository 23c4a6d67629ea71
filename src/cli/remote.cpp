// mvc remote add NAME URL [--default] | remote list [--json] | remote show NAME | remote remove NAME
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/output.h"
#include "core/config.h"
#include "core/workspace.h"
#include "mvc/error.h"
#include "store/aws_config.h"
#include "store/remote_registry.h"

namespace mvc::cli {

void add_remote(CLI::App& app, Context& ctx) {
  struct Opts {
    std::string name, url;
    bool make_default = false, json = false;
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("remote", "Manage remotes (a folder or s3://bucket/prefix), kept in .mvc/config.toml");
  cmd->require_subcommand(1);

  auto* add = cmd->add_subcommand("add", "Add a remote and stage .mvc/config.toml");
  add->add_option("name", opts->name, "Remote name")->required();
  add->add_option("url", opts->url, "A path, file://PATH or s3://BUCKET[/PREFIX]")->required();
  add->add_flag("-d,--default", opts->make_default, "Make it the default remote ([core] remote)");
  add->callback([&ctx, opts] {
    ctx.action = [opts] {
      core::Workspace ws = core::Workspace::open(".");
      core::config_add_remote(ws.mvc_dir(), opts->name, opts->url, opts->make_default);
      ws.git().stage({".mvc/config.toml"});
      info() << "Added remote '" << opts->name << "' (" << opts->url << ")"
             << (opts->make_default ? " as the default" : "") << "; .mvc/config.toml staged\n";
      return 0;
    };
  });

  auto* list = cmd->add_subcommand("list", "List the remotes");
  list->add_flag("--json", opts->json, "Machine-readable output");
  list->callback([&ctx, opts] {
    ctx.action = [opts] {
      core::Workspace ws = core::Workspace::open(".");
      const core::Config& c = ws.config();
      if (opts->json) {
        // Each remote: name, url, backend, default, and the keys `list` shows (never a credential).
        nlohmann::ordered_json out = {{"remotes", nlohmann::ordered_json::array()}};
        for (auto& [name, r] : c.remotes) {
          const store::RemoteBackend* b = store::find_backend(r.url);
          nlohmann::ordered_json options = nlohmann::ordered_json::object();
          if (b)
            for (const store::RemoteKey& k : b->keys)
              if (!k.list_label.empty() && !r.option(k.name).empty()) options[k.name] = r.option(k.name);
          out["remotes"].push_back({{"name", name},
                                    {"url", r.url},
                                    {"backend", b ? nlohmann::ordered_json(b->name) : nlohmann::ordered_json()},
                                    {"default", name == c.default_remote},
                                    {"options", options}});
        }
        std::cout << out.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
        return 0;
      }
      for (auto& [name, r] : c.remotes) {
        std::cout << name << "\t" << r.url;
        if (const store::RemoteBackend* b = store::find_backend(r.url))
          for (const store::RemoteKey& k : b->keys)
            if (!k.list_label.empty() && !r.option(k.name).empty())
              std::cout << "\t" << k.list_label << "=" << r.option(k.name);
        if (name == c.default_remote) std::cout << "\t(default)";
        std::cout << "\n";
      }
      return 0;
    };
  });

  auto* show = cmd->add_subcommand(
      "show", "Show a remote; for S3, where its credentials, region and endpoint come from (never the secret)");
  show->add_option("name", opts->name, "Remote name")->required();
  show->callback([&ctx, opts] {
    ctx.action = [opts] {
      core::Workspace ws = core::Workspace::open(".");
      const core::Config& c = ws.config();
      auto it = c.remotes.find(opts->name);
      if (it == c.remotes.end())
        throw Error(Exit::usage, "no remote named '" + opts->name + "' (see 'mvc remote list')");
      std::cout << "url\t" << it->second.url << "\n";
      const store::RemoteBackend* b = store::find_backend(it->second.url);
      if (b && b->name == "s3") {
        store::aws::Resolved r = store::aws::resolve(opts->name, it->second.options, store::aws::process_env());
        // The key id masked as `aws configure list` masks it.
        const std::string& id = r.credentials.access_key_id;
        std::string masked = id.size() > 4 ? std::string(id.size() - 4, '*') + id.substr(id.size() - 4) : "****";
        std::cout << "profile\t" << r.profile << "\n"
                  << "credentials\t" << masked << " from " << r.credentials_source
                  << (r.credentials.session_token.empty() ? "" : " (with a session token)") << "\n"
                  << "region\t" << r.region << " from " << r.region_source << "\n"
                  << "endpoint\t" << (r.endpoint_url.empty() ? "AWS" : r.endpoint_url + " from " + r.endpoint_source)
                  << "\n";
      }
      return 0;
    };
  });

  auto* remove = cmd->add_subcommand("remove", "Remove a remote and stage .mvc/config.toml");
  remove->add_option("name", opts->name, "Remote name")->required();
  remove->callback([&ctx, opts] {
    ctx.action = [opts] {
      core::Workspace ws = core::Workspace::open(".");
      core::config_remove_remote(ws.mvc_dir(), opts->name);
      ws.git().stage({".mvc/config.toml"});
      info() << "Removed remote '" << opts->name << "'; .mvc/config.toml staged\n";
      return 0;
    };
  });
}

}  // namespace mvc::cli
