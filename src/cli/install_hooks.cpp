// mvc install-hooks [--force]: pre-commit, post-checkout, post-merge and pre-push hooks that
// call `mvc hook NAME`; existing hooks are kept and chained.
#include <iostream>

#include "cli/command.h"
#include "core/hooks.h"
#include "util/process.h"

namespace mvc::cli {

void add_install_hooks(CLI::App& app, Context& ctx) {
  auto force = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand("install-hooks", "Install mvc's git hooks (existing hooks are kept and still run)");
  cmd->add_flag("-f,--force", *force, "Rewrite mvc's hooks even when an older mvc wrote them");
  cmd->callback([&ctx, force] {
    ctx.action = [force] {
      git::Repo repo = git::Repo::discover(".");
      auto done = core::install_hooks(repo, util::self_executable(), *force);
      std::cout << "hooks in " << repo.hooks_dir().string() << ":\n";
      for (auto& h : done) std::cout << "  " << h.name << ": " << h.action << "\n";
      return 0;
    };
  });
}

}  // namespace mvc::cli
