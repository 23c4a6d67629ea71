// mvc pull [REMOTE] [REV...] [-j N] = mvc fetch, then mvc checkout --no-load (make the work
// tree's weights match its pointers). Never loads LibTorch (docs/conventions.md, "LibTorch only where a module is
// built").
#include <iostream>

#include "cli/command.h"
#include "cli/format.h"
#include "cli/output.h"
#include "cli/transfer_cli.h"
#include "core/checkout.h"
#include "mvc/error.h"

namespace mvc::cli {

int run_fetch(const TransferOptions& o);

void add_pull(CLI::App& app, Context& ctx) {
  struct Opts {
    TransferOptions transfer;
    bool force = false;
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("pull", "Fetch, then make the work tree's weights match the pointers (verified)");
  add_transfer_options(cmd, opts->transfer, /*with_all_commits=*/false);
  cmd->add_flag("-f,--force", opts->force, "Overwrite weights that exist nowhere else");
  cmd->callback([&ctx, opts] {
    opts->transfer.paths = ctx.after_dashdash;  // `-- PATH...`: model directories only
    ctx.action = [opts] {
      run_fetch(opts->transfer);
      core::Workspace ws = core::Workspace::open(".");
      core::CheckoutRequest req;
      for (auto& p : opts->transfer.paths) req.paths.emplace_back(p);
      req.force = opts->force;
      req.load = false;
      ProgressDisplay progress("checkout");
      req.progress = &progress.sink();
      core::CheckoutResult r = core::checkout(ws, req);
      progress.finish();
      for (auto& m : r.models)
        info() << "  " << display_dir(m.dir) << ": " << m.weights_rel
               << (m.files > 1 ? " and " + std::to_string(m.files - 1) + " more shard(s)" : "")
               << " sha256:" << short_sha(m.sha256) << " " << (m.written ? "restored" : "up to date")
               << ", hash verified\n";
      return 0;
    };
  });
}

}  // namespace mvc::cli
