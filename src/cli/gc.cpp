// mvc gc [--remote NAME [--keep-last N] [--no-fetch]] [--dry-run] [--grace DURATION] [--force] [--json]
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/output.h"
#include "cli/transfer_cli.h"
#include "core/gc.h"

namespace mvc::cli {

namespace {

template <class Opts>
int gc_remote(const Opts& opts) {
  core::RemoteGcOptions o;
  o.dry_run = opts.dry_run;
  o.force = opts.force;
  o.grace = core::parse_duration(opts.grace);
  o.keep_last = opts.keep_last;
  o.fetch_git = !opts.no_fetch;
  core::Workspace ws = core::Workspace::open(".");
  std::unique_ptr<store::Remote> remote = core::open_remote(ws, opts.remote);
  ProgressDisplay progress("gc");
  core::RemoteGcResult r = core::gc_remote(ws, *remote, o, progress);
  progress.finish();
  if (opts.json) {
    nlohmann::ordered_json del = nlohmann::ordered_json::array();
    for (auto& d : r.deleted) del.push_back({{"kind", d.kind}, {"sha256", d.sha256}, {"size", d.size}});
    nlohmann::ordered_json out = {{"remote", remote->describe()},
                                  {"dry_run", o.dry_run},
                                  {"git_fetched", r.git_fetched},
                                  {"deleted", del},
                                  {"bytes", r.bytes},
                                  {"versions_kept", r.versions_kept},
                                  {"kept_objects", r.kept_objects},
                                  {"kept_manifests", r.kept_manifests},
                                  {"kept_bytes", r.kept_bytes},
                                  {"kept_young", r.kept_young},
                                  {"grace_seconds", o.grace.count()},
                                  {"keep_last", o.keep_last},
                                  {"locks_removed", r.locks_removed}};
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  const char* verb = o.dry_run ? "would delete" : "deleted";
  std::size_t manifests = 0;
  for (auto& d : r.deleted) {
    manifests += d.kind == "manifest";
    (o.dry_run ? std::cout : info()) << verb << " " << d.kind << " " << d.sha256 << " (" << human_bytes(d.size)
                                     << ")\n";
  }
  info() << (o.dry_run ? "gc (dry run): would delete " : "gc: deleted ") << r.deleted.size() - manifests << " object"
         << (r.deleted.size() - manifests == 1 ? "" : "s") << " and " << manifests << " manifest"
         << (manifests == 1 ? "" : "s") << " (" << human_bytes(r.bytes) << ") from " << remote->describe() << "; kept "
         << r.kept_objects << " object" << (r.kept_objects == 1 ? "" : "s") << " and " << r.kept_manifests
         << " manifest" << (r.kept_manifests == 1 ? "" : "s") << " (" << human_bytes(r.kept_bytes) << ", "
         << r.kept_young << " unreferenced but younger than " << opts.grace << ")\n";
  return 0;
}

}  // namespace

void add_gc(CLI::App& app, Context& ctx) {
  struct Opts {
    bool dry_run = false, force = false, json = false, no_fetch = false;
    std::string grace = "1h", remote;
    int keep_last = 0;
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand(
      "gc",
      "Delete cache objects that no pointer in the work tree, index, refs, stash or reflogs references (or, with "
      "--remote, a remote's objects of versions no branch, tag or alias keeps)");
  cmd->add_flag("-n,--dry-run", opts->dry_run, "Only list what would be deleted");
  cmd->add_option("--grace", opts->grace, "Keep objects newer than this (default 1h; e.g. 0, 30m, 2d)");
  cmd->add_flag("-f,--force", opts->force, "Collect a cache set by [cache] dir (possibly shared)");
  cmd->add_flag("--json", opts->json, "Machine-readable output");
  auto* remote_opt = cmd->add_option(
      "-r,--remote", opts->remote,
      "Delete this remote's objects that no version kept by a branch, tag or alias needs (git remotes fetched first)");
  cmd->add_option("--keep-last", opts->keep_last,
                  "With --remote: keep only the N newest versions per model and branch that no tag or alias names")
      ->check(CLI::Range(1, 1000000000))
      ->needs(remote_opt);
  cmd->add_flag("--no-fetch", opts->no_fetch, "With --remote: do not 'git fetch' the git remotes first")
      ->needs(remote_opt);
  cmd->callback([&ctx, opts] {
    ctx.action = [opts] {
      if (!opts->remote.empty()) return gc_remote(*opts);
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
                                      {"kept_manifests", r.kept_manifests},
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
             << r.kept_young << " unreferenced but younger than " << opts->grace << ", " << r.kept_manifests
             << " manifest" << (r.kept_manifests == 1 ? "" : "s") << "), " << r.temps_removed << " stale temp file"
             << (r.temps_removed == 1 ? "" : "s") << (o.dry_run ? " to remove" : " removed") << "\n";
      return 0;
    };
  });
}

}  // namespace mvc::cli
