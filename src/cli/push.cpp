// mvc push [REMOTE] [REV...] [--all-commits] [-j N]
#include <iostream>

#include "cli/command.h"
#include "cli/transfer_cli.h"
#include "mvc/error.h"

namespace mvc::cli {

void add_push(CLI::App& app, Context& ctx) {
  struct Opts {
    std::vector<std::string> positional;
    std::string remote;
    bool all_commits = false;
    int jobs = 0;
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("push", "Send the objects of HEAD and the workspace (or of REV...) that the remote lacks");
  cmd->add_option("remote_or_rev", opts->positional, "[REMOTE] [REV...]");
  cmd->add_option("-r,--remote", opts->remote, "Remote name (default: [core] remote)");
  cmd->add_flag("-a,--all-commits", opts->all_commits, "Every commit reachable from any branch, tag or ref");
  cmd->add_option("-j,--jobs", opts->jobs, "Parallel transfers (default 4, or $MVC_JOBS)")->check(CLI::PositiveNumber);
  cmd->callback([&ctx, opts] {
    ctx.action = [opts] {
      core::Workspace ws = core::Workspace::open(".");
      TransferArgs a = split_positionals(ws, opts->remote, opts->positional);
      core::RefScope scope;
      scope.revs = a.revs;
      if (a.revs.empty()) {
        scope.workspace = true;
        if (!ws.git().head_unborn()) scope.revs.push_back("HEAD");
      }
      if (opts->all_commits) {
        scope.history = true;
        scope.all_refs = true;
      }
      auto objects = core::referenced_objects(ws, scope);
      auto remote = core::open_remote(ws, a.remote);
      core::TransferResult r;
      try {
        r = core::push(ws, *remote, objects, opts->jobs ? opts->jobs : core::default_jobs(), progress_for("push"));
      } catch (...) {
        end_progress();
        throw;
      }
      end_progress();
      char secs[32];
      std::snprintf(secs, sizeof secs, "%.2f", r.seconds);
      std::cout << "pushed " << r.transferred << " object" << (r.transferred == 1 ? "" : "s") << " ("
                << human_bytes(r.bytes) << ") to " << remote->describe() << " in " << secs << " s; " << r.present
                << " already there\n";
      report_missing(r.missing, "is in neither the cache nor remote " + remote->describe() + ": not pushed");
      return 0;
    };
  });
}

}  // namespace mvc::cli
