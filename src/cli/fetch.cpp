// mvc fetch [REMOTE] [REV...] [-j N]: download the objects of HEAD and the workspace (or of
// REV...) that the cache lacks; each is verified by hash before it enters the cache.
#include <iostream>

#include "cli/command.h"
#include "cli/output.h"
#include "cli/transfer_cli.h"
#include "mvc/error.h"

namespace mvc::cli {

/// Shared with pull.cpp.
int run_fetch(const TransferOptions& o) {
  TransferRun run = run_transfer(o, "fetch", core::fetch);
  const core::TransferResult& r = run.result;
  info() << "fetched " << r.transferred << " object" << (r.transferred == 1 ? "" : "s") << " (" << human_bytes(r.bytes)
         << " received, " << human_bytes(r.skipped) << " already in the cache) from " << run.remote->describe()
         << " in " << run.seconds << " s; " << r.present << " already in the cache\n";
  for (auto& [o, size] : r.moved)
    detail() << "  received " << o.sha256 << " (" << o.where << ", " << human_bytes(size) << ")\n";
  report_missing(r.missing, "is not on remote " + run.remote->describe());
  return 0;
}

void add_fetch(CLI::App& app, Context& ctx) {
  auto opts = std::make_shared<TransferOptions>();
  auto* cmd =
      app.add_subcommand("fetch", "Download the objects of HEAD and the workspace (or of REV...) into the cache");
  add_transfer_options(cmd, *opts, /*with_all_commits=*/true);
  cmd->callback([&ctx, opts] {
    opts->paths = ctx.after_dashdash;  // `-- PATH...`: model directories only
    ctx.action = [opts] { return run_fetch(*opts); };
  });
}

}  // namespace mvc::cli
