// mvc log [PATH] [--json]: the versions of a model, newest first.
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/format.h"
#include "core/alias.h"
#include "core/model_version.h"
#include "core/toml_view.h"
#include "core/workspace.h"
#include "mvc/error.h"

namespace mvc::cli {

namespace {

int run_log(const std::string& path, bool json) {
  core::Workspace ws = core::Workspace::open(".");
  git::Repo& g = ws.git();
  if (g.head_unborn()) {
    if (json)
      std::cout << "{\"models\":[]}\n";
    else
      std::cout << "no commits yet\n";
    return 0;
  }
  std::string head = g.resolve_commit("HEAD");
  std::vector<std::string> dirs;
  if (!path.empty())
    dirs.push_back(g.rel(path));
  else
    dirs = core::model_dirs_at(ws, head);

  std::map<std::string, std::vector<std::string>> tags_of;
  for (auto& [name, id] : g.tags()) tags_of[id].push_back(name);
  // The work tree's aliases, as resolution reads them; an aliases file mvc cannot read (unmerged,
  // too new) shows none here: mvc alias names the problem.
  core::AliasMap aliases;
  try {
    aliases = core::read_aliases(ws);
  } catch (const Error&) {
  }

  nlohmann::json out = {{"models", nlohmann::json::array()}, {"shallow", g.is_shallow()}};
  bool first_model = true;
  for (auto& dir : dirs) {
    auto commits = g.log(head, dir);
    std::map<std::string, std::vector<std::string>> aliases_of;  // commit → alias names of this model
    if (auto a = aliases.find(core::normalize_dir(dir)); a != aliases.end())
      for (auto& [name, id] : a->second) aliases_of[id].push_back(name);
    nlohmann::json versions = nlohmann::json::array();
    if (!json) {
      if (!first_model) std::cout << "\n";
      std::cout << display_dir(dir) << "  (" << commits.size() << " version" << (commits.size() == 1 ? "" : "s")
                << (g.is_shallow() ? "; shallow clone: older history is not here" : "") << ")\n";
    }
    first_model = false;
    for (auto& c : commits) {
      auto ptr = core::pointer_at(ws, c.id, dir);
      std::vector<std::pair<std::string, std::string>> metrics;
      if (auto m = g.read_blob_at(c.id, core::join(dir, core::kMetricsFile))) {
        try {
          metrics = core::flatten_toml(*m, core::join(dir, core::kMetricsFile) + " at " + c.short_id);
        } catch (const Error&) {
          metrics = {{"(invalid metrics.toml)", ""}};
        }
      }
      const auto& tags = tags_of[c.id];
      const auto& als = aliases_of[c.id];
      if (json) {
        nlohmann::json v = {{"commit", c.id},
                            {"short", c.short_id},
                            {"tags", tags},
                            {"aliases", als},
                            {"date", format_time(c.time, c.offset_minutes)},
                            {"timestamp", c.time},
                            {"author", c.author_name},
                            {"email", c.author_email},
                            {"message", c.summary}};
        if (ptr) {
          v["weights"] = {{"path", ptr->pointer.path},       {"sha256", ptr->pointer.sha256},
                          {"size", ptr->pointer.size},       {"kind", ptr->pointer.kind},
                          {"tensors", ptr->pointer.tensors}, {"parameters", ptr->pointer.parameters}};
        } else {
          v["weights"] = nullptr;
        }
        nlohmann::json mj = nlohmann::json::object();
        for (auto& [k, val] : metrics) mj[k] = val;
        v["metrics"] = mj;
        versions.push_back(v);
        continue;
      }
      std::cout << "  " << c.short_id << "  " << format_time(c.time, c.offset_minutes) << "  " << c.author_name;
      if (!tags.empty()) {
        std::cout << "  (tag: ";
        for (std::size_t i = 0; i < tags.size(); ++i) std::cout << (i ? ", " : "") << tags[i];
        std::cout << ")";
      }
      if (!als.empty()) {
        std::cout << "  (alias: ";
        for (std::size_t i = 0; i < als.size(); ++i) std::cout << (i ? ", " : "") << als[i];
        std::cout << ")";
      }
      std::cout << "\n      " << c.summary << "\n";
      if (ptr)
        std::cout << "      weights " << short_sha(ptr->pointer.sha256) << "  " << group_digits(ptr->pointer.parameters)
                  << " params";
      else
        std::cout << "      (no weights)";
      for (auto& [k, val] : metrics) std::cout << "  " << k << "=" << val;
      std::cout << "\n";
    }
    if (json) out["models"].push_back({{"path", dir}, {"versions", versions}});
  }
  if (json) std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  return 0;
}

}  // namespace

void add_log(CLI::App& app, Context& ctx) {
  auto path = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand(
      "log", "List the versions of a model: commit, tags, date, author, weights hash, parameters, metrics");
  cmd->add_option("path", *path, "Model directory (default: every model at HEAD)");
  cmd->add_flag("--json", *json, "Machine-readable output");
  cmd->callback([&ctx, path, json] { ctx.action = [path, json] { return run_log(*path, *json); }; });
}

}  // namespace mvc::cli
