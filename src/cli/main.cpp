// mvc — version control for PyTorch models. Torch-free: LibTorch is dlopen'ed only when a
// module must be built (core/torch_bridge.h).
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "cli/command.h"
#include "cli/output.h"
#include "mvc/error.h"
#include "mvc/version.h"
#include "util/text.h"

int main(int argc, char** argv) {
  using namespace mvc;
  cli::Context ctx;
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    if (!ctx.had_dashdash && std::strcmp(argv[i], "--") == 0) {
      ctx.had_dashdash = true;
      continue;
    }
    (ctx.had_dashdash ? ctx.after_dashdash : args).push_back(argv[i]);
  }
  CLI::App app{"mvc: version control for PyTorch models, in git", "mvc"};
  app.set_version_flag("--version", std::string("mvc ") + MVC_VERSION_STRING);
  app.require_subcommand(1);
  app.fallthrough(false);
  cli::add_init(app, ctx);
  cli::add_commit(app, ctx);
  cli::add_log(app, ctx);
  cli::add_status(app, ctx);
  cli::add_show(app, ctx);
  cli::add_checkout(app, ctx);
  cli::add_hook(app, ctx);
  cli::add_install_hooks(app, ctx);
  cli::add_uninstall_hooks(app, ctx);
  cli::add_remote(app, ctx);
  cli::add_push(app, ctx);
  cli::add_fetch(app, ctx);
  cli::add_pull(app, ctx);
  cli::add_gc(app, ctx);
  cli::add_fsck(app, ctx);
  cli::add_import(app, ctx);
  cli::add_run(app, ctx);
  cli::add_verify(app, ctx);
  cli::add_diff(app, ctx);
  cli::add_alias(app, ctx);
  cli::add_merge_driver(app, ctx);
  cli::add_textconv(app, ctx);
  cli::add_config(app, ctx);
  cli::add_report(app, ctx);
  cli::add_migrate(app, ctx);
  cli::add_generate_docs(app, ctx);  // hidden: writes the man pages and completion (the build runs it)
  cli::add_verbosity_flags(app);     // -q/-v on every command: after registering them
  // `mvc help [COMMAND]` is `mvc [COMMAND] --help`; an unknown command is named, with the
  // nearest one when it is likely a typo.
  if (!args.empty() && args.front() == "help") {
    args.erase(args.begin());
    if (!args.empty() && args.front() == "help") args.erase(args.begin());  // mvc help help
    if (args.size() > 1) args.resize(1);
    args.push_back("--help");
  }
  if (!args.empty() && !args.front().empty() && args.front()[0] != '-') {
    std::vector<std::string> visible;  // hidden commands (empty group) are not suggested
    bool known = false;
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
      known = known || sub->check_name(args.front());
      if (!sub->get_group().empty()) visible.push_back(sub->get_name());
    }
    if (!known) {
      std::string guess = util::closest(args.front(), visible);
      std::cerr << "mvc: error: '" << util::printable(args.front(), 64) << "' is not an mvc command"
                << (guess.empty() ? "" : "; did you mean '" + guess + "'?") << " (see mvc help)\n";
      return static_cast<int>(Exit::usage);
    }
  }
  try {
    std::reverse(args.begin(), args.end());
    app.parse(args);
    cli::check_verbosity();
    const std::string sub = app.get_subcommands().front()->get_name();
    if (ctx.had_dashdash && sub != "checkout" && sub != "diff" && sub != "alias" && sub != "fetch" && sub != "pull")
      throw CLI::ValidationError("'--' is only understood by checkout, diff, alias, fetch and pull");
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "mvc: error: " << util::printable(e.what()) << " (see mvc --help)\n";
    return static_cast<int>(Exit::usage);
  }
  try {
    return ctx.action ? ctx.action() : 0;
  } catch (const Error& e) {
    std::cout.flush();
    std::cerr << "mvc: error: " << e.what() << "\n";
    return e.exit_code();
  } catch (const std::exception& e) {
    // Not mvc's (libraries' messages may quote file contents): made one printable line too.
    std::cout.flush();
    std::cerr << "mvc: error: " << util::printable(e.what()) << "\n";
    return static_cast<int>(Exit::failure);
  }
}
