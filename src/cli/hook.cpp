// mvc hook NAME [ARGS...]: what mvc's installed git hooks run.
#include <iostream>
#include <iterator>

#include "cli/command.h"
#include "core/hooks.h"
#include "mvc/error.h"
#include "util/text.h"

namespace mvc::cli {

namespace {

int run_hook(const std::string& name, const std::vector<std::string>& args) {
  core::Workspace ws = core::Workspace::open(".");
  if (name == "pre-commit" || name == "pre-merge-commit") {
    try {
      core::hook_pre_commit(ws);
    } catch (const Error& e) {
      std::cerr << "mvc " << name << ": " << e.what() << "\n  ('git " << (name == "pre-commit" ? "commit" : "merge")
                << " --no-verify' bypasses this check)\n";
      return e.exit_code();
    }
    return 0;
  }
  if (name == "post-rewrite") {
    // post-rewrite rebase|amend; stdin: "OLD NEW [EXTRA]" lines. Never fails the git operation.
    std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    std::vector<std::pair<std::string, std::string>> rewritten;
    for (std::string_view line : util::split_lines(input)) {
      auto sp = line.find(' ');
      if (sp == std::string_view::npos) continue;
      auto end = line.find(' ', sp + 1);
      rewritten.emplace_back(std::string(line.substr(0, sp)), std::string(line.substr(sp + 1, end - sp - 1)));
    }
    std::string kind = args.empty() ? "" : args[0];
    for (auto& l : core::rewrite_warnings(ws, name + " (" + kind + ")", rewritten)) std::cerr << l << "\n";
    if (kind == "rebase")  // the rebase moved the pointers; git ran no post-checkout since its start
      for (auto& l : core::hook_update_weights(ws, name, true, true)) std::cerr << l << "\n";
    return 0;
  }
  if (name == "post-commit") {
    // git cherry-pick runs post-commit, not post-rewrite; a rebase's picks wait for post-rewrite.
    git::Repo& g = ws.git();
    if (g.state() != git::RepoState::cherry_pick) return 0;
    auto picked = g.their_commit();
    if (!picked || g.head_unborn()) return 0;
    for (auto& l : core::rewrite_warnings(ws, "post-commit (cherry-pick)", {{*picked, g.resolve_commit("HEAD")}}))
      std::cerr << l << "\n";
    for (auto& l : core::hook_update_weights(ws, name, true, true)) std::cerr << l << "\n";
    return 0;
  }
  if (name == "post-checkout" || name == "post-merge") {
    // post-checkout PREV NEW FLAG (1 = branch checkout); post-merge SQUASH.
    bool branch = name == "post-merge" || (args.size() >= 3 && args[2] == "1");
    for (auto& line : core::hook_update_weights(ws, name, branch)) std::cerr << line << "\n";
    return 0;  // never fail the git operation
  }
  if (name == "pre-push") {
    std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    return core::hook_pre_push(ws, args.size() > 0 ? args[0] : "", args.size() > 1 ? args[1] : "", input, std::cerr);
  }
  throw Error(Exit::usage,
              "hook: unknown hook '" + name +
                  "' (mvc handles pre-commit, pre-merge-commit, post-commit, post-checkout, post-merge, post-rewrite, "
                  "pre-push)");
}

}  // namespace

void add_hook(CLI::App& app, Context& ctx) {
  auto name = std::make_shared<std::string>();
  auto args = std::make_shared<std::vector<std::string>>();
  auto* cmd =
      app.add_subcommand("hook", "Run the checks and updates of an mvc git hook (called by the installed hooks)");
  cmd->add_option("name", *name,
                  "pre-commit, pre-merge-commit, post-commit, post-checkout, post-merge, post-rewrite or pre-push")
      ->required();
  cmd->add_option("args", *args, "The arguments git gave the hook");
  cmd->callback([&ctx, name, args] { ctx.action = [name, args] { return run_hook(*name, *args); }; });
}

}  // namespace mvc::cli
