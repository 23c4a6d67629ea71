// mvc gc [--dry-run] [--grace DURATION] [--force] [--json]
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/output.h"
#include "cli/transfer_cli.h"
#include "core/gc.h"

namespace mvc::cli {

void add_gc(CLI::App& app, Context& ctx) {
  struct Opts {
    bool dry_run = false, force = false, json = false;
    std::string grace = "1h";
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand(
      "gc", "Delete cache objects that no pointer in the work tree, index, refs, stash or reflogs references");
  cmd->add_flag("-n,--dry-run", opts->dry_run, "Only list what would be deleted");
  cmd->add_option("--grace", opts->grace, "Keep objects newer than this (default 1h; e.g. 0, 30m, 2d)");
  cmd->add_flag("-f,--force", opts->force, "Collect a cache set by [cache] dir (possibly shared)");
  cmd->add_flag("--json", opts->json, "Machine-readable output");
  cmd->callback([&ctx, opts] {
    ctx.action = [opts] {
      core::GcOptions o;
      o.dry_run = opts->dry_run;
      o.force = opts->force;
      o.grace = core::parse_duration(opts->grace);
      core::Workspace ws = core::Workspace::open(".");
      ProgressDisplay progress("gc");
      core::GcResult r = core::gc(ws, o, progress);
      progress.finish();
      if (opts->json) {
        nlohmann::ordered_json out = {{"dry_run", o.dry_run},
                                      {"deleted", r.deleted},
                                      {"bytes", r.bytes},
                                      {"referenced", r.referenced},
                                      {"kept", r.kept},
                                      {"kept_young", r.kept_young},
                                      {"grace_seconds", o.grace.count()},
                                      {"temps_removed", r.temps_removed}};
        std::cout << out.dump(2) << "\n";
        return 0;
      }
      // A dry run's list is its data (kept with -q); a real run's is informational.
      const char* verb = o.dry_run ? "would delete" : "deleted";
      for (auto& sha : r.deleted) (o.dry_run ? std::cout : info()) << verb << " " << sha << "\n";
      info() << (o.dry_run ? "gc (dry run): would delete " : "gc: deleted ") << r.deleted.size() << " object"
             << (r.deleted.size() == 1 ? "" : "s") << " (" << human_bytes(r.bytes) << "), kept " << r.kept << " ("
             << r.kept_young << " unreferenced but younger than " << opts->grace << "), " << r.temps_removed
             << " stale temp file" << (r.temps_removed == 1 ? "" : "s") << (o.dry_run ? " to remove" : " removed")
             << "\n";
      return 0;
    };
  });
}

}  // namespace mvc::cli
