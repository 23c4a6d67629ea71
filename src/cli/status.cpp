// mvc status [--json]: per model directory, what differs from the last commit.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/format.h"
#include "core/model_check.h"
#include "core/status.h"

namespace mvc::cli {

namespace {

nlohmann::json side_json(const core::ConflictSideStatus& s) {
  if (!s.error.empty()) return {{"error", s.error}};
  if (!s.pointer) return nullptr;
  nlohmann::json metrics = nlohmann::json::object();
  for (auto& [k, v] : s.metrics) metrics[k] = v;
  return {{"pointer", s.pointer->rel},
          {"path", s.pointer->weights_rel()},
          {"sha256", s.pointer->pointer.sha256},
          {"size", s.pointer->pointer.size},
          {"parameters", s.pointer->pointer.parameters},
          {"commit", s.commit.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.commit)},
          {"metrics", metrics}};
}

/// "1a2b3c4 weights.safetensors sha256:abcd1234 1.2 KiB, 241 parameters, accuracy=0.91"
std::string side_text(const core::ConflictSideStatus& s) {
  std::string commit = s.commit.empty() ? "" : s.commit.substr(0, 7) + " ";
  if (!s.error.empty()) return commit + s.error;
  if (!s.pointer) return commit + "no weights pointer";
  const core::Pointer& p = s.pointer->pointer;
  std::string out = commit + p.path + " sha256:" + short_sha(p.sha256) + " " + core::human_bytes(p.size) + ", " +
                    group_digits(p.parameters) + " parameters";
  for (auto& [k, v] : s.metrics) out += ", " + k + "=" + v;
  return out;
}

int run_status(bool json) {
  core::Workspace ws = core::Workspace::open(".");
  auto models = core::model_status(ws);
  if (json) {
    nlohmann::json out = {{"models", nlohmann::json::array()}};
    for (auto& m : models) {
      nlohmann::json j = {{"path", m.dir}, {"clean", m.clean()}, {"changes", m.changes}};
      if (m.pointer)
        j["weights"] = {{"path", m.pointer->weights_rel()},
                        {"sha256", m.pointer->pointer.sha256},
                        {"size", m.pointer->pointer.size}};
      if (m.conflict) {
        std::vector<std::string> files;
        for (auto& e : m.conflict->entries) files.push_back(e.path);
        j["conflict"] = {{"files", files}, {"ours", side_json(m.ours)}, {"theirs", side_json(m.theirs)}};
        if (!m.conflict->mixed.empty()) j["conflict"]["mixed"] = m.conflict->mixed;
      }
      out["models"].push_back(j);
    }
    std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return 0;
  }
  if (models.empty()) {
    std::cout << "no model directories (a model directory holds an arch.toml)\n";
    return 0;
  }
  for (auto& m : models) {
    std::cout << display_dir(m.dir) << ": ";
    if (m.conflict) {
      std::cout << "unmerged (" << m.conflict->what() << ")\n"
                << "  ours:   " << side_text(m.ours) << "\n"
                << "  theirs: " << side_text(m.theirs) << "\n"
                << "  resolve with 'mvc checkout --ours|--theirs " << display_dir(m.dir)
                << (m.conflict->mixed.empty() ? "', or edit the files and 'git add' them\n" : "'\n");
      continue;
    }
    if (m.clean()) {
      std::cout << "clean";
    } else {
      for (std::size_t i = 0; i < m.changes.size(); ++i) std::cout << (i ? ", " : "") << m.changes[i];
    }
    std::cout << "\n";
  }
  return 0;
}

}  // namespace

void add_status(CLI::App& app, Context& ctx) {
  auto json = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand("status", "Show what differs from the last commit, per model directory");
  cmd->add_flag("--json", *json, "Machine-readable output");
  cmd->callback([&ctx, json] { ctx.action = [json] { return run_status(*json); }; });
}

}  // namespace mvc::cli
