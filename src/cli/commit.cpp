// mvc commit PATH... -m MSG [--tag NAME] [--weights FILE]
#include <iostream>

#include "cli/command.h"
#include "cli/format.h"
#include "core/commit.h"
#include "core/model_check.h"

namespace mvc::cli {

void add_commit(CLI::App& app, Context& ctx) {
  struct Opts {
    std::vector<std::string> paths;
    std::string message, tag, weights, example;
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("commit", "Record a model version: store the weights, write the pointer, git commit");
  cmd->add_option("paths", opts->paths, "Model directories (each holds arch.toml)")->required();
  cmd->add_option("-m,--message", opts->message, "Commit message")->required();
  cmd->add_option("--tag", opts->tag, "Create this annotated tag on the new commit");
  cmd->add_option("--weights", opts->weights, "The weights file (default: weights.safetensors, or the only one)");
  cmd->add_option("--example", opts->example,
                  "Record a reproducibility example: inputs (safetensors) whose output is stored and checked later");
  cmd->callback([&ctx, opts] {
    ctx.action = [opts] {
      core::Workspace ws = core::Workspace::open(".");
      core::CommitRequest req;
      for (auto& p : opts->paths) req.paths.emplace_back(p);
      req.message = opts->message;
      req.tag = opts->tag;
      req.weights = opts->weights;
      req.example = opts->example;
      core::CommitResult r = core::commit_models(ws, req);
      if (r.commit) {
        std::cout << "[" << r.branch << " " << r.commit->substr(0, 7) << "] " << opts->message << "\n";
      } else {
        std::cout << "nothing to commit: ";
        for (std::size_t i = 0; i < r.models.size(); ++i)
          std::cout << (i ? ", " : "") << display_dir(r.models[i].dir);
        std::cout << (r.models.size() == 1 ? " is" : " are") << " unchanged\n";
      }
      for (auto& m : r.models) {
        const core::Pointer& p = m.pointer.pointer;
        std::cout << "  " << display_dir(m.dir) << ": " << p.path << " sha256:" << short_sha(p.sha256) << "  "
                  << p.tensors << " tensors, " << group_digits(p.parameters) << " parameters, "
                  << core::human_bytes(p.size) << (m.object_existed ? " (already in cache)" : "") << "\n";
      }
      for (auto& m : r.models)
        if (!opts->example.empty() && m.pointer.pointer.example)
          std::cout << "  example recorded: input sha256:" << short_sha(m.pointer.pointer.example->input)
                    << ", output sha256:" << short_sha(m.pointer.pointer.example->output) << "\n";
      if (r.tagged) std::cout << "  tagged " << opts->tag << "\n";
      return 0;
    };
  });
}

}  // namespace mvc::cli
