// mvc log [PATH] [--json]: the versions of a model, newest first (core/log.h gathers them).
#include <iostream>

#include "cli/command.h"
#include "cli/format.h"
#include "core/log.h"
#include "core/toml_view.h"
#include "core/workspace.h"
#include "mvc/error.h"

namespace mvc::cli {

namespace {

int run_log(const std::string& path, bool json) {
  core::Workspace ws = core::Workspace::open(".");
  std::optional<std::string> dir;
  if (!path.empty()) dir = ws.git().rel(path);
  core::LogResult log = core::model_log(ws, dir);
  if (json) {
    std::cout << core::log_json(log, 2) << "\n";
    return 0;
  }
  if (ws.git().head_unborn()) {
    std::cout << "no commits yet\n";
    return 0;
  }
  bool first_model = true;
  for (auto& m : log.models) {
    if (!first_model) std::cout << "\n";
    first_model = false;
    std::cout << display_dir(m.dir) << "  (" << m.versions.size() << " version" << (m.versions.size() == 1 ? "" : "s")
              << (log.shallow ? "; shallow clone: older history is not here" : "") << ")\n";
    for (auto& v : m.versions) {
      const git::CommitInfo& c = v.commit;
      std::vector<std::pair<std::string, std::string>> metrics;
      if (v.metrics_text) {
        try {
          metrics = core::flatten_toml(*v.metrics_text, v.metrics_name);
        } catch (const Error&) {
          metrics = {{"(invalid metrics.toml)", ""}};
        }
      }
      std::cout << "  " << c.short_id << "  " << core::format_time(c.time, c.offset_minutes) << "  " << c.author_name;
      if (!v.tags.empty()) {
        std::cout << "  (tag: ";
        for (std::size_t i = 0; i < v.tags.size(); ++i) std::cout << (i ? ", " : "") << v.tags[i];
        std::cout << ")";
      }
      if (!v.aliases.empty()) {
        std::cout << "  (alias: ";
        for (std::size_t i = 0; i < v.aliases.size(); ++i) std::cout << (i ? ", " : "") << v.aliases[i];
        std::cout << ")";
      }
      std::cout << "\n      " << c.summary << "\n";
      if (v.pointer)
        std::cout << "      weights " << short_sha(v.pointer->pointer.sha256) << "  "
                  << group_digits(v.pointer->pointer.parameters) << " params";
      else
        std::cout << "      (no weights)";
      for (auto& [k, val] : metrics) std::cout << "  " << k << "=" << val;
      std::cout << "\n";
    }
  }
  return 0;
}

}  // namespace

void add_log(CLI::App& app, Context& ctx) {
  auto path = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand(
      "log", "List the versions of a model: commit, tags, date, author, weights hash, parameters, hparams, metrics");
  cmd->add_option("path", *path, "Model directory (default: every model at HEAD)");
  cmd->add_flag("--json", *json, "Machine-readable output");
  cmd->callback([&ctx, path, json] { ctx.action = [path, json] { return run_log(*path, *json); }; });
}

}  // namespace mvc::cli
