// mvc uninstall-hooks: remove only what install-hooks wrote; restore chained hooks.
#include <iostream>

#include "cli/command.h"
#include "core/hooks.h"

namespace mvc::cli {

void add_uninstall_hooks(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("uninstall-hooks", "Remove mvc's git hooks, restoring the hooks they chained");
  cmd->callback([&ctx] {
    ctx.action = [] {
      git::Repo repo = git::Repo::discover(".");
      auto done = core::uninstall_hooks(repo);
      std::cout << "hooks in " << repo.hooks_dir().string() << ":\n";
      for (auto& h : done) std::cout << "  " << h.name << ": " << h.action << "\n";
      return 0;
    };
  });
}

}  // namespace mvc::cli
