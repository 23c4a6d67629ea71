// mvc alias set NAME REV -- PATH | list [-- PATH] [--json] | rm NAME -- PATH | log NAME -- PATH
// Aliases of model versions, kept in the committed .mvc/aliases.toml (core/alias.h).
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/format.h"
#include "cli/output.h"
#include "core/alias.h"
#include "core/conflict.h"
#include "core/log.h"
#include "core/model_version.h"
#include "mvc/error.h"

namespace mvc::cli {

namespace {

std::string short_id(const std::string& id) { return id.substr(0, 7); }

/// The one model directory named after "--" (repository-relative).
std::string model_path(core::Workspace& ws, const Context& ctx, const std::string& usage) {
  if (ctx.after_dashdash.size() != 1)
    throw Error(Exit::usage, "alias: name one model directory after '--' (" + usage + ")");
  return core::normalize_dir(ws.git().rel(ctx.after_dashdash[0]));
}

/// Opens the workspace; refuses while the aliases file is unmerged.
core::Workspace open_checked() {
  core::Workspace ws = core::Workspace::open(".");
  core::refuse_if_file_conflicted(ws, core::kAliasFile);
  return ws;
}

int run_list(const Context& ctx, bool json) {
  core::Workspace ws = open_checked();
  if (ctx.after_dashdash.size() > 1) throw Error(Exit::usage, "alias list: one model directory at most after '--'");
  std::optional<std::string> only;
  if (!ctx.after_dashdash.empty()) only = core::normalize_dir(ws.git().rel(ctx.after_dashdash[0]));
  core::AliasMap all = core::read_aliases(ws);
  if (json) {
    nlohmann::json models = nlohmann::json::array();
    for (auto& [dir, entries] : all)
      if (!only || *only == dir) models.push_back({{"path", dir}, {"aliases", entries}});
    std::cout << nlohmann::json{{"models", models}}.dump(2) << "\n";
    return 0;
  }
  std::string out;
  for (auto& [dir, entries] : all) {
    if (only && *only != dir) continue;
    std::size_t width = 0;
    for (auto& [name, id] : entries) width = std::max(width, name.size());
    out += display_dir(dir) + "\n";
    for (auto& [name, id] : entries)
      out += "  " + name + std::string(width - name.size() + 2, ' ') + short_id(id) + "\n";
  }
  if (out.empty()) out = only ? display_dir(*only) + ": no aliases\n" : "no aliases\n";
  std::cout << out;
  return 0;
}

int run_log(const Context& ctx, const std::string& name, bool json) {
  core::Workspace ws = open_checked();
  std::string dir = model_path(ws, ctx, "mvc alias log NAME -- PATH");
  auto events = core::alias_log(ws, name, dir);
  if (events.empty())
    throw Error(Exit::usage, display_dir(dir) + ": no alias '" + name + "' in the history of " + core::kAliasFile);
  if (json) {
    nlohmann::json moves = nlohmann::json::array();
    for (auto& e : events)
      moves.push_back({{"commit", e.commit},
                       {"date", core::format_time(e.time, e.offset_minutes)},
                       {"timestamp", e.time},
                       {"author", e.author},
                       {"email", e.email},
                       {"from", e.from.empty() ? nlohmann::json(nullptr) : nlohmann::json(e.from)},
                       {"to", e.to.empty() ? nlohmann::json(nullptr) : nlohmann::json(e.to)},
                       {"message", e.message}});
    std::cout << nlohmann::json{{"alias", name}, {"path", dir}, {"moves", moves}}.dump(2) << "\n";
    return 0;
  }
  std::cout << "alias " << name << " of " << display_dir(dir) << "  (" << events.size() << " move"
            << (events.size() == 1 ? "" : "s") << ")\n";
  for (auto& e : events) {
    std::cout << "  " << short_id(e.commit) << "  " << core::format_time(e.time, e.offset_minutes) << "  " << e.author
              << "  " << (e.from.empty() ? "(none)" : short_id(e.from)) << " -> "
              << (e.to.empty() ? "(removed)" : short_id(e.to)) << "\n      " << e.message << "\n";
  }
  return 0;
}

}  // namespace

void add_alias(CLI::App& app, Context& ctx) {
  struct Opts {
    std::string name, rev;
    bool json = false;
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand(
      "alias", "Movable names (prod, staging, ...) for versions of a model, committed in .mvc/aliases.toml");
  cmd->require_subcommand(1);

  auto* set = cmd->add_subcommand("set", "Point an alias of a model at its version at REV, and commit the move");
  set->add_option("name", opts->name, "Alias name (a valid ref name, not a branch or tag)")->required();
  set->add_option("rev", opts->rev, "Revision (branch, tag, commit or alias)")->required();
  set->callback([&ctx, opts] {
    ctx.action = [&ctx, opts] {
      core::Workspace ws = open_checked();
      std::string dir = model_path(ws, ctx, "mvc alias set NAME REV -- PATH");
      core::AliasMove mv = core::set_alias(ws, opts->name, opts->rev, dir);
      if (mv.commit.empty()) {
        info() << "alias " << opts->name << " already names " << short_id(mv.to) << " (" << display_dir(dir)
               << "); nothing to commit\n";
        return 0;
      }
      info() << "alias " << opts->name << ": " << (mv.from.empty() ? "(none)" : short_id(mv.from)) << " -> "
             << short_id(mv.to) << " (" << display_dir(dir) << "); committed " << short_id(mv.commit) << "\n";
      return 0;
    };
  });

  auto* list = cmd->add_subcommand("list", "List the aliases (of one model with '-- PATH')");
  list->add_flag("--json", opts->json, "Machine-readable output");
  list->callback([&ctx, opts] { ctx.action = [&ctx, opts] { return run_list(ctx, opts->json); }; });

  auto* rm = cmd->add_subcommand("rm", "Remove an alias of a model, and commit the removal");
  rm->add_option("name", opts->name, "Alias name")->required();
  rm->callback([&ctx, opts] {
    ctx.action = [&ctx, opts] {
      core::Workspace ws = open_checked();
      std::string dir = model_path(ws, ctx, "mvc alias rm NAME -- PATH");
      core::AliasMove mv = core::remove_alias(ws, opts->name, dir);
      info() << "alias " << opts->name << " removed (" << display_dir(dir) << ", was " << short_id(mv.from)
             << "); committed " << short_id(mv.commit) << "\n";
      return 0;
    };
  });

  auto* log = cmd->add_subcommand("log", "Every move of an alias: when, who, from which version to which, why");
  log->add_option("name", opts->name, "Alias name")->required();
  log->add_flag("--json", opts->json, "Machine-readable output");
  log->callback([&ctx, opts] { ctx.action = [&ctx, opts] { return run_log(ctx, opts->name, opts->json); }; });
}

}  // namespace mvc::cli
