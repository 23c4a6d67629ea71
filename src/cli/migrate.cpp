// mvc migrate PATH [--dry-run] [-m MSG] [--weights FILE]: a model directory tracked by DVC or
// Git LFS becomes an mvc version in one commit (core/migrate.h).
#include <iostream>

#include "cli/command.h"
#include "cli/format.h"
#include "cli/output.h"
#include "core/migrate.h"
#include "core/model_check.h"

namespace mvc::cli {

void add_migrate(CLI::App& app, Context& ctx) {
  struct Opts {
    std::string path, message, weights;
    bool dry_run = false;
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("migrate",
                                 "Turn a model directory tracked by DVC or Git LFS into an mvc version, in one commit");
  cmd->add_option("path", opts->path, "The model directory (it holds arch.toml)")->required();
  cmd->add_option("-m,--message", opts->message, "Commit message (default: Migrate PATH from DVC|Git LFS to mvc)");
  cmd->add_option("--weights", opts->weights, "The tracked weights file, when the directory has several");
  cmd->add_flag("--dry-run", opts->dry_run, "Check everything and say what would be done; change nothing");
  cmd->callback([&ctx, opts] {
    ctx.action = [opts] {
      core::Workspace ws = core::Workspace::open(".");
      core::MigrateRequest req;
      req.path = opts->path;
      req.message = opts->message;
      req.weights = opts->weights;
      req.dry_run = opts->dry_run;
      ProgressDisplay progress("migrate");
      req.progress = &progress.sink();
      core::MigrateResult r = core::migrate(ws, req);
      progress.finish();
      const core::MigratePlan& p = r.plan;
      // A dry run's plan is what the command prints; a real run's lines are reports (-q).
      const bool dry = opts->dry_run;
      std::ostream& out = dry ? std::cout : info();
      auto did = [dry](const std::string& future, const std::string& past) { return dry ? "would " + future : past; };
      out << did("migrate ", "migrated ") << display_dir(p.dir) << " from " << p.tool << " (" << p.tracking << ")\n";
      out << "  " << p.weights_rel << ": " << p.digest.substr(0, p.digest.find(':') + 9) << ", "
          << core::human_bytes(p.size) << ", verified ";
      if (p.from_work_tree)
        out << "in the work tree\n";
      else
        out << "from " << p.source << " (" << did("be copied", "copied") << " into the work tree)\n";
      for (const auto& rm : p.remove) out << "  " << did("remove ", "removed ") << rm << " (git rm)\n";
      for (const auto& e : p.edits)
        for (const auto& line : e.lines) {
          if (p.tool == "DVC")  // its edit is the .gitignore entry, which mvc writes back as its own
            out << "  " << e.rel << ": DVC's line '" << line << "' " << did("become", "became") << " mvc's\n";
          else
            out << "  " << e.rel << ": " << did("drop", "dropped") << " the line '" << line << "'\n";
        }
      if (p.tool == "Git LFS")
        out << "  " << did("remove ", "removed ") << p.weights_rel
            << " from git's index (mvc's pointer replaces the LFS pointer)\n";
      for (const auto& n : p.notes) out << "  " << n << "\n";
      if (opts->dry_run) {
        out << "  would store the weights, write " << p.weights_rel << ".mvc and commit: " << p.message << "\n";
        out << "dry run: nothing changed\n";
        return 0;
      }
      const core::CommitResult& c = *r.commit;
      if (c.commit) info() << "[" << c.branch << " " << c.commit->substr(0, 7) << "] " << p.message << "\n";
      for (auto& m : c.models) {
        const core::Pointer& ptr = m.pointer.pointer;
        info() << "  " << display_dir(m.dir) << ": " << ptr.path << " sha256:" << short_sha(ptr.sha256) << "  "
               << ptr.tensors << " tensors, " << group_digits(ptr.parameters) << " parameters, "
               << core::human_bytes(ptr.size) << (m.object_existed ? " (already in cache)" : "") << "\n";
        detail() << "    " << ptr.sha256 << ": " << ws.store().location(ptr.sha256) << "\n";
      }
      if (p.tool == "DVC")
        info() << "  DVC's copy stays in its cache until 'dvc gc' removes it\n";
      else
        info() << "  Git LFS's copy stays in its object store until 'git lfs prune' removes it\n";
      return 0;
    };
  });
}

}  // namespace mvc::cli
