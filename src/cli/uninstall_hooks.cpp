// mvc uninstall-hooks [--global]: remove only what install-hooks wrote; restore chained hooks.
#include <iostream>

#include "cli/command.h"
#include "cli/format.h"
#include "cli/output.h"
#include "core/git_setup.h"
#include "core/hooks.h"

namespace mvc::cli {

void add_uninstall_hooks(CLI::App& app, Context& ctx) {
  auto global = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand("uninstall-hooks", "Remove mvc's git hooks, restoring the hooks they chained");
  cmd->add_flag("--global", *global, "Undo 'mvc install-hooks --global'");
  cmd->callback([&ctx, global] {
    ctx.action = [global] {
      if (*global) {
        core::GlobalSetup g = core::uninstall_global();
        if (!g.template_dir.empty()) print_hooks(g.template_dir / "hooks", g.hooks);
        print_settings(g.config_file.string(), g.settings);
        return 0;
      }
      git::Repo repo = git::Repo::discover(".");
      auto done = core::uninstall_hooks(repo);
      print_hooks(repo.hooks_dir(), done);
      print_settings("git settings", core::uninstall_repo_settings(repo));
      return 0;
    };
  });
}

}  // namespace mvc::cli
