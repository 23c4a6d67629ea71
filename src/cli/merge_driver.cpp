// mvc merge-driver BASE OURS THEIRS PATH: git's merge driver for pointer files (merge.mvc.driver,
// set by install-hooks). Exit 0: merged (ours kept); exit 7: the model is unmerged, no conflict
// markers written; exit 2: not run by git during a merge.
#include <iostream>

#include "cli/command.h"
#include "core/conflict.h"
#include "mvc/error.h"

namespace mvc::cli {

void add_merge_driver(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<std::vector<std::string>>();
  auto* cmd = app.add_subcommand(
      "merge-driver", "Merge a pointer file both sides changed (git runs it: merge.mvc.driver, set by install-hooks)");
  cmd->add_option("files", *args, "%O %A %B %P: the base, ours, theirs (temporary files) and the pointer's path");
  cmd->callback([&ctx, args] {
    ctx.action = [args] {
      if (args->size() != 4)
        throw Error(Exit::usage, "merge-driver: takes 4 arguments, got " + std::to_string(args->size()) +
                                     "; git runs it during a merge as 'mvc merge-driver %O %A %B %P' "
                                     "(merge.mvc.driver, set by mvc install-hooks)");
      core::PointerMerge m = core::merge_pointers((*args)[0], (*args)[1], (*args)[2], (*args)[3]);
      if (!m.conflict) return 0;
      std::cerr << m.message << "\n";
      return static_cast<int>(Exit::model);
    };
  });
}

}  // namespace mvc::cli
