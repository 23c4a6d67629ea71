// mvc install-hooks [--force] [--global]: git hooks that call `mvc hook NAME` (existing hooks are
// kept and chained), and the merge and textconv drivers of pointer files (core/git_setup.h).
#include <iostream>

#include "cli/command.h"
#include "cli/format.h"
#include "cli/output.h"
#include "core/git_setup.h"
#include "core/hooks.h"
#include "util/process.h"

namespace mvc::cli {

void add_install_hooks(CLI::App& app, Context& ctx) {
  auto force = std::make_shared<bool>(false);
  auto global = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand("install-hooks", "Install mvc's git hooks (existing hooks are kept and still run)");
  cmd->add_flag("-f,--force", *force, "Rewrite mvc's hooks even when an older mvc wrote them");
  cmd->add_flag("--global", *global,
                "For every later git init and git clone: mvc's hooks in git's init.templateDir, the drivers in the "
                "global git config");
  cmd->callback([&ctx, force, global] {
    ctx.action = [force, global] {
      if (*global) {
        core::GlobalSetup g = core::install_global(util::self_executable(), *force);
        print_hooks(g.template_dir / "hooks", g.hooks);
        print_settings(g.config_file.string(), g.settings);
        return 0;
      }
      git::Repo repo = git::Repo::discover(".");
      auto done = core::install_hooks(repo, util::self_executable(), *force);
      print_hooks(repo.hooks_dir(), done);
      print_settings("git settings", core::install_repo_settings(repo, util::self_executable()));
      return 0;
    };
  });
}

}  // namespace mvc::cli
