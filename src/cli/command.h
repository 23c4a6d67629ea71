// The CLI's commands: one file each in src/cli/. Each `add_<name>` registers a CLI11
// subcommand whose callback stores the action that main() runs (main catches mvc::Error once
// and prints "mvc: error: ...").
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace mvc::cli {

/// What main() runs after parsing; returns the exit code.
using Action = std::function<int()>;

struct Context {
  Action action;
  /// Arguments after a literal "--" (CLI11 2.1 cannot express `checkout REV -- PATH`).
  std::vector<std::string> after_dashdash;
  bool had_dashdash = false;
};

void add_init(CLI::App& app, Context& ctx);
void add_commit(CLI::App& app, Context& ctx);
void add_log(CLI::App& app, Context& ctx);
void add_status(CLI::App& app, Context& ctx);
void add_show(CLI::App& app, Context& ctx);
void add_checkout(CLI::App& app, Context& ctx);
void add_hook(CLI::App& app, Context& ctx);
void add_install_hooks(CLI::App& app, Context& ctx);
void add_uninstall_hooks(CLI::App& app, Context& ctx);
void add_remote(CLI::App& app, Context& ctx);
void add_push(CLI::App& app, Context& ctx);
void add_fetch(CLI::App& app, Context& ctx);
void add_pull(CLI::App& app, Context& ctx);
void add_gc(CLI::App& app, Context& ctx);
void add_fsck(CLI::App& app, Context& ctx);
void add_import(CLI::App& app, Context& ctx);
void add_run(CLI::App& app, Context& ctx);
void add_verify(CLI::App& app, Context& ctx);
void add_diff(CLI::App& app, Context& ctx);
void add_alias(CLI::App& app, Context& ctx);
void add_merge_driver(CLI::App& app, Context& ctx);
void add_textconv(CLI::App& app, Context& ctx);
void add_config(CLI::App& app, Context& ctx);
void add_report(CLI::App& app, Context& ctx);
void add_migrate(CLI::App& app, Context& ctx);
/// Hidden: the build's generator of the man pages and completion scripts from `app` (all commands).
void add_generate_docs(CLI::App& app, Context& ctx);

}  // namespace mvc::cli
