// mvc fetch [REMOTE] [REV...] [-j N]: download the objects of HEAD and the workspace (or of
// REV...) that the cache lacks; each is verified by hash before it enters the cache.
#include <iostream>

#include "cli/command.h"
#include "cli/transfer_cli.h"
#include "mvc/error.h"

namespace mvc::cli {

/// Shared with pull.cpp.
int run_fetch(const std::string& remote_opt, const std::vector<std::string>& positional, int jobs, bool all_commits) {
  core::Workspace ws = core::Workspace::open(".");
  TransferArgs a = split_positionals(ws, remote_opt, positional);
  core::RefScope scope;
  scope.revs = a.revs;
  if (a.revs.empty()) {
    scope.workspace = true;
    if (!ws.git().head_unborn()) scope.revs.push_back("HEAD");
  }
  if (all_commits) {
    scope.history = true;
    scope.all_refs = true;
  }
  auto objects = core::referenced_objects(ws, scope);
  auto remote = core::open_remote(ws, a.remote);
  core::TransferResult r;
  try {
    r = core::fetch(ws, *remote, objects, jobs ? jobs : core::default_jobs(), progress_for("fetch"));
  } catch (...) {
    end_progress();
    throw;
  }
  end_progress();
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.2f", r.seconds);
  std::cout << "fetched " << r.transferred << " object" << (r.transferred == 1 ? "" : "s") << " (" << human_bytes(r.bytes)
            << ") from " << remote->describe() << " in " << secs << " s; " << r.present << " already in the cache\n";
  report_missing(r.missing, "is not on remote " + remote->describe());
  return 0;
}

void add_fetch(CLI::App& app, Context& ctx) {
  struct Opts {
    std::vector<std::string> positional;
    std::string remote;
    bool all_commits = false;
    int jobs = 0;
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("fetch", "Download the objects of HEAD and the workspace (or of REV...) into the cache");
  cmd->add_option("remote_or_rev", opts->positional, "[REMOTE] [REV...]");
  cmd->add_option("-r,--remote", opts->remote, "Remote name (default: [core] remote)");
  cmd->add_flag("-a,--all-commits", opts->all_commits, "Every commit reachable from any branch, tag or ref");
  cmd->add_option("-j,--jobs", opts->jobs, "Parallel transfers (default 4, or $MVC_JOBS)")->check(CLI::PositiveNumber);
  cmd->callback([&ctx, opts] {
    ctx.action = [opts] { return run_fetch(opts->remote, opts->positional, opts->jobs, opts->all_commits); };
  });
}

}  // namespace mvc::cli
