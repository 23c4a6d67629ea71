// mvc init: create .mvc/ in the current git repository and stage its files.
#include <iostream>

#include "cli/command.h"
#include "cli/output.h"
#include "core/workspace.h"

namespace mvc::cli {

void add_init(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("init", "Create .mvc/ (config.toml, .gitignore) in this git repository and stage it");
  cmd->callback([&ctx] {
    ctx.action = [] {
      std::string root;
      bool created = core::Workspace::init(".", &root);
      if (created)
        info() << "Initialized mvc repository in " << root << "/.mvc (config.toml and .gitignore staged)\n";
      else
        info() << "mvc repository already initialized in " << root << "/.mvc\n";
      return 0;
    };
  });
}

}  // namespace mvc::cli
