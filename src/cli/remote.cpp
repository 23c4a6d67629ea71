// mvc remote add NAME URL [--default] | remote list | remote remove NAME
#include <iostream>

#include "cli/command.h"
#include "core/config.h"
#include "core/workspace.h"
#include "mvc/error.h"
#include "store/remote_registry.h"

namespace mvc::cli {

void add_remote(CLI::App& app, Context& ctx) {
  struct Opts {
    std::string name, url;
    bool make_default = false;
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
      std::cout << "Added remote '" << opts->name << "' (" << opts->url << ")"
                << (opts->make_default ? " as the default" : "") << "; .mvc/config.toml staged\n";
      return 0;
    };
  });

  auto* list = cmd->add_subcommand("list", "List the remotes");
  list->callback([&ctx] {
    ctx.action = [] {
      core::Workspace ws = core::Workspace::open(".");
      const core::Config& c = ws.config();
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

  auto* remove = cmd->add_subcommand("remove", "Remove a remote and stage .mvc/config.toml");
  remove->add_option("name", opts->name, "Remote name")->required();
  remove->callback([&ctx, opts] {
    ctx.action = [opts] {
      core::Workspace ws = core::Workspace::open(".");
      core::config_remove_remote(ws.mvc_dir(), opts->name);
      ws.git().stage({".mvc/config.toml"});
      std::cout << "Removed remote '" << opts->name << "'; .mvc/config.toml staged\n";
      return 0;
    };
  });
}

}  // namespace mvc::cli
