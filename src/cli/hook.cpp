// mvc hook NAME [ARGS...]: what mvc's installed git hooks run.
#include <iostream>
#include <iterator>

#include "cli/command.h"
#include "core/hooks.h"
#include "mvc/error.h"

namespace mvc::cli {

namespace {

int run_hook(const std::string& name, const std::vector<std::string>& args) {
  core::Workspace ws = core::Workspace::open(".");
  if (name == "pre-commit") {
    try {
      core::hook_pre_commit(ws);
    } catch (const Error& e) {
      std::cerr << "mvc pre-commit: " << e.what() << "\n  ('git commit --no-verify' bypasses this check)\n";
      return e.exit_code();
    }
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
              "hook: unknown hook '" + name + "' (mvc handles pre-commit, post-checkout, post-merge, pre-push)");
}

}  // namespace

void add_hook(CLI::App& app, Context& ctx) {
  auto name = std::make_shared<std::string>();
  auto args = std::make_shared<std::vector<std::string>>();
  auto* cmd =
      app.add_subcommand("hook", "Run the checks and updates of an mvc git hook (called by the installed hooks)");
  cmd->add_option("name", *name, "pre-commit, post-checkout, post-merge or pre-push")->required();
  cmd->add_option("args", *args, "The arguments git gave the hook");
  cmd->callback([&ctx, name, args] { ctx.action = [name, args] { return run_hook(*name, *args); }; });
}

}  // namespace mvc::cli
