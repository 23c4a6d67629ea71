// mvc pull [REMOTE] [REV...] [-j N] = mvc fetch, then mvc checkout --no-load (make the work
// tree's weights match its pointers). Never loads LibTorch (DESIGN.md §7a).
#include <iostream>

#include "cli/command.h"
#include "cli/format.h"
#include "core/checkout.h"
#include "mvc/error.h"

namespace mvc::cli {

int run_fetch(const std::string& remote_opt, const std::vector<std::string>& positional, int jobs, bool all_commits);

void add_pull(CLI::App& app, Context& ctx) {
  struct Opts {
    std::vector<std::string> positional;
    std::string remote;
    bool force = false;
    int jobs = 0;
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("pull", "Fetch, then make the work tree's weights match the pointers (verified)");
  cmd->add_option("remote_or_rev", opts->positional, "[REMOTE] [REV...]");
  cmd->add_option("-r,--remote", opts->remote, "Remote name (default: [core] remote)");
  cmd->add_flag("-f,--force", opts->force, "Overwrite weights that exist nowhere else");
  cmd->add_option("-j,--jobs", opts->jobs, "Parallel transfers (default 4, or $MVC_JOBS)")->check(CLI::PositiveNumber);
  cmd->callback([&ctx, opts] {
    ctx.action = [opts] {
      run_fetch(opts->remote, opts->positional, opts->jobs, false);
      core::Workspace ws = core::Workspace::open(".");
      core::CheckoutRequest req;
      req.force = opts->force;
      req.load = false;
      core::CheckoutResult r = core::checkout(ws, req);
      for (auto& m : r.models)
        std::cout << "  " << display_dir(m.dir) << ": " << m.weights_rel << " sha256:" << short_sha(m.sha256) << " "
                  << (m.written ? "restored" : "up to date") << ", hash verified\n";
      return 0;
    };
  });
}

}  // namespace mvc::cli
