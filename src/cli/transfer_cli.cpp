#include "cli/transfer_cli.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>

#include <set>

#include "cli/output.h"
#include "core/model_version.h"
#include "mvc/error.h"

namespace mvc::cli {

void add_transfer_options(CLI::App* cmd, TransferOptions& o, bool with_all_commits) {
  cmd->add_option("remote_or_rev", o.positional, "[REMOTE] [REV...]");
  cmd->add_option("-r,--remote", o.remote, "Remote name (default: [core] remote)");
  if (with_all_commits)
    cmd->add_flag("-a,--all-commits", o.all_commits, "Every commit reachable from any branch, tag or ref");
  cmd->add_option("-j,--jobs", o.jobs, "Parallel transfers (default 4, or $MVC_JOBS)")->check(CLI::PositiveNumber);
}

TransferRun run_transfer(const TransferOptions& o, const std::string& verb,
                         core::TransferResult (*transfer)(core::Workspace&, store::Remote&,
                                                          const std::vector<core::ObjectRef>&, int,
                                                          core::TransferProgress&)) {
  core::Workspace ws = core::Workspace::open(".");
  TransferArgs a = split_positionals(ws, o.remote, o.positional);
  core::RefScope scope;
  scope.revs = a.revs;
  if (!o.paths.empty()) scope.dirs = model_dirs_of_paths(ws, o.paths, a.revs);
  if (a.revs.empty()) {
    scope.workspace = true;
    if (!ws.git().head_unborn()) scope.revs.push_back("HEAD");
  }
  if (o.all_commits) {
    scope.history = true;
    scope.all_refs = true;
  }
  auto objects = core::referenced_objects(ws, scope);
  TransferRun run;
  run.remote = core::open_remote(ws, a.remote);
  {
    ProgressDisplay progress(verb);
    run.result = transfer(ws, *run.remote, objects, o.jobs ? o.jobs : core::default_jobs(), progress);
    progress.finish();
  }
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.2f", run.result.seconds);
  run.seconds = secs;
  return run;
}

TransferArgs split_positionals(const core::Workspace& ws, const std::string& remote_opt,
                               const std::vector<std::string>& positional) {
  TransferArgs a;
  a.remote = remote_opt;
  std::size_t i = 0;
  if (a.remote.empty() && !positional.empty() && ws.config().remotes.count(positional[0])) a.remote = positional[i++];
  for (; i < positional.size(); ++i) a.revs.push_back(positional[i]);
  return a;
}

std::vector<std::string> model_dirs_of_paths(const core::Workspace& ws, const std::vector<std::string>& paths,
                                             const std::vector<std::string>& revs) {
  std::set<std::string> known;
  for (auto& d : core::model_dirs_of(ws, "")) known.insert(d);
  std::vector<std::string> sides = revs;
  if (sides.empty() && !ws.git().head_unborn()) sides.push_back("HEAD");
  for (auto& r : sides)
    for (auto& d : core::model_dirs_of(ws, r)) known.insert(d);
  std::vector<std::string> out;
  for (const auto& p : paths) {
    std::string d = core::normalize_dir(ws.git().rel(p));
    if (!known.count(d)) throw Error(Exit::usage, p + ": not a model directory (no arch.toml)");
    out.push_back(d);
  }
  return out;
}

void report_missing(const std::vector<core::ObjectRef>& missing, const std::string& why) {
  if (missing.empty()) return;
  for (auto& m : missing) std::cerr << "mvc: missing: object " << m.sha256 << " (" << m.where << ") " << why << "\n";
  throw Error(Exit::missing, std::to_string(missing.size()) + " object" + (missing.size() == 1 ? "" : "s") + " " + why +
                                 " (first: " + missing[0].sha256 + ", " + missing[0].where + ")");
}

}  // namespace mvc::cli
