// mvc checkout [REV] [-- PATH...] [--force] [--no-load]
// mvc checkout --ours|--theirs [--] PATH... [--force] [--no-load]
#include <iostream>

#include "cli/command.h"
#include "cli/format.h"
#include "cli/output.h"
#include "core/checkout.h"
#include "core/model_check.h"
#include "mvc/error.h"

namespace mvc::cli {

void add_checkout(CLI::App& app, Context& ctx) {
  struct Opts {
    std::vector<std::string> positional;
    bool force = false, no_load = false, ours = false, theirs = false;
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd =
      app.add_subcommand("checkout",
                         "Restore a version: 'checkout REV -- PATH' (files + weights), 'checkout REV' (move HEAD), "
                         "'checkout' (weights to match the pointers)");
  cmd->add_option("rev", opts->positional, "REV [-- PATH...]");
  cmd->add_flag("-f,--force", opts->force, "Overwrite local changes and uncommitted weights");
  cmd->add_flag("--no-load", opts->no_load, "Skip rebuilding the model in LibTorch (hashes are always checked)");
  cmd->add_flag("--ours", opts->ours, "Resolve unmerged model directories with our version (files and weights)");
  cmd->add_flag("--theirs", opts->theirs, "Resolve unmerged model directories with their version (files and weights)");
  cmd->callback([&ctx, opts] {
    ctx.action = [&ctx, opts] {
      core::CheckoutRequest req;
      if (opts->ours && opts->theirs) throw Error(Exit::usage, "checkout: --ours or --theirs, not both");
      if (opts->ours || opts->theirs) {
        // The arguments are the model directories to resolve, with or without "--".
        req.side = opts->ours ? core::Side::ours : core::Side::theirs;
        for (auto& p : opts->positional) req.paths.emplace_back(p);
        for (auto& p : ctx.after_dashdash) req.paths.emplace_back(p);
        req.force = opts->force;
        req.load = !opts->no_load;
        core::Workspace ws = core::Workspace::open(".");
        ProgressDisplay progress("checkout");
        req.progress = &progress.sink();
        core::CheckoutResult r = core::checkout(ws, req);
        progress.finish();
        const std::string side = core::side_name(*req.side);
        for (auto& m : r.models) {
          info() << display_dir(m.dir) << ": resolved with " << side << " (";
          for (std::size_t i = 0; i < m.resolved.size(); ++i) info() << (i ? ", " : "") << m.resolved[i];
          info() << ")\n  " << m.weights_rel << " sha256:" << short_sha(m.sha256) << " "
                 << (m.written ? "restored" : "up to date") << ", hash verified";
          if (m.optimizer_state) info() << " (with its optimizer state)";
          if (m.loaded)
            info() << ", rebuilt and loaded strictly (" << group_digits(m.load.parameters) << " parameters)";
          if (m.example_verified) info() << ", example reproduced";
          info() << "\n";
        }
        info() << "staged: " << core::conclude_hint(ws) << "\n";
        return 0;
      }
      if (opts->positional.size() > 1)
        throw Error(Exit::usage, "checkout: one revision at most; put paths after '--' (mvc checkout REV -- PATH)");
      if (!opts->positional.empty()) req.rev = opts->positional[0];
      for (auto& p : ctx.after_dashdash) req.paths.emplace_back(p);
      req.force = opts->force;
      req.load = !opts->no_load;
      core::Workspace ws = core::Workspace::open(".");
      ProgressDisplay progress("checkout");
      req.progress = &progress.sink();
      core::CheckoutResult r = core::checkout(ws, req);
      progress.finish();
      if (r.moved_head) {
        auto b = ws.git().head_branch();
        info() << (b ? "Switched to branch '" + *b + "'" : "HEAD is now at " + r.commit.substr(0, 7)) << "\n";
      } else if (!r.commit.empty()) {
        info() << "Restored from " << req.rev << " (" << r.commit.substr(0, 7) << ")\n";
      }
      for (auto& m : r.models) {
        if (m.files > 1)  // sharded weights: one version of several files
          info() << "  " << display_dir(m.dir) << ": " << m.files << " shards "
                 << (m.written ? "restored" : "up to date") << ", hashes verified";
        else
          info() << "  " << display_dir(m.dir) << ": " << m.weights_rel << " sha256:" << short_sha(m.sha256) << " "
                 << (m.written ? "restored" : "up to date") << ", hash verified";
        if (m.optimizer_state) info() << " (with its optimizer state)";
        if (!m.removed.empty()) info() << ", " << m.removed.size() << " file(s) of the previous version removed";
        if (m.loaded) info() << ", rebuilt and loaded strictly (" << group_digits(m.load.parameters) << " parameters)";
        if (m.example_verified) info() << ", example reproduced";
        info() << "\n";
      }
      if (r.models.empty()) info() << "no model weights to restore\n";
      return 0;
    };
  });
}

}  // namespace mvc::cli
