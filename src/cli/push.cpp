// mvc push [REMOTE] [REV...] [--all-commits] [-j N]
#include <iostream>

#include "cli/command.h"
#include "cli/output.h"
#include "cli/transfer_cli.h"
#include "mvc/error.h"

namespace mvc::cli {

void add_push(CLI::App& app, Context& ctx) {
  auto opts = std::make_shared<TransferOptions>();
  auto* cmd =
      app.add_subcommand("push", "Send the objects of HEAD and the workspace (or of REV...) that the remote lacks");
  add_transfer_options(cmd, *opts, /*with_all_commits=*/true);
  cmd->callback([&ctx, opts] {
    ctx.action = [opts] {
      TransferRun run = run_transfer(*opts, "push", core::push);
      const core::TransferResult& r = run.result;
      // Bytes actually sent, and those the remote already had (whole files, tensors shared with other versions).
      info() << "pushed " << r.transferred << " object" << (r.transferred == 1 ? "" : "s") << " ("
             << human_bytes(r.bytes) << " sent, " << human_bytes(r.skipped) << " already on the remote) to "
             << run.remote->describe() << " in " << run.seconds << " s; " << r.present << " already there\n";
      for (auto& [o, size] : r.moved)
        detail() << "  sent " << o.sha256 << " (" << o.where << ", " << human_bytes(size) << ")\n";
      report_missing(r.missing, "is in neither the cache nor remote " + run.remote->describe() + ": not pushed");
      return 0;
    };
  });
}

}  // namespace mvc::cli
