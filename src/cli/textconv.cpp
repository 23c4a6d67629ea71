// mvc textconv FILE: the text git shows for a pointer file (diff.mvc.textconv, set by
// install-hooks): the file summary and, when the object is in the cache, one line per tensor.
#include <iostream>

#include "cli/command.h"
#include "core/textconv.h"
#include "mvc/error.h"
#include "util/fs.h"

namespace mvc::cli {

void add_textconv(CLI::App& app, Context& ctx) {
  auto file = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand(
      "textconv", "Print a pointer file as git diff shows it (git runs it: diff.mvc.textconv, set by install-hooks)");
  cmd->add_option("file", *file, "The pointer file (git passes a temporary copy)")->required();
  cmd->callback([&ctx, file] {
    ctx.action = [file] {
      std::error_code ec;
      if (!std::filesystem::is_regular_file(*file, ec))
        throw Error(Exit::usage, *file + ": no such file (mvc textconv prints a pointer file)");
      std::string text = util::read_file(*file);
      std::optional<core::Workspace> ws;
      try {
        ws.emplace(core::Workspace::open("."));
      } catch (const Error&) {
        // Outside an mvc repository: the summary only.
      }
      std::cout << core::textconv_pointer(text, ws ? &*ws : nullptr);
      return 0;
    };
  });
}

}  // namespace mvc::cli
