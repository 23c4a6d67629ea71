// mvc commit PATH... -m MSG [--tag NAME] [--weights FILE] [--key K] [--strip-prefix P] [--cast DTYPE]
#include <iostream>
#include <optional>

#include "cli/command.h"
#include "cli/format.h"
#include "cli/output.h"
#include "core/commit.h"
#include "core/model_check.h"

namespace mvc::cli {

void add_commit(CLI::App& app, Context& ctx) {
  struct Opts {
    std::vector<std::string> paths;
    std::string message, tag, weights, example;
    bool no_verify = false;
    std::string key, strip_prefix, cast;
    CLI::Option *key_opt = nullptr, *strip_opt = nullptr, *cast_opt = nullptr;
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("commit", "Record a model version: store the weights, write the pointer, git commit");
  cmd->add_option("paths", opts->paths, "Model directories (each holds arch.toml)")->required();
  cmd->add_option("-m,--message", opts->message, "Commit message")->required();
  cmd->add_option("--tag", opts->tag, "Create this annotated tag on the new commit");
  cmd->add_option("--weights", opts->weights, "The weights file (default: weights.safetensors, or the only one)");
  cmd->add_flag("-n,--no-verify", opts->no_verify,
                "Skip the repository's pre-commit and commit-msg hooks, as git commit does");
  opts->key_opt = cmd->add_option("--key", opts->key,
                                  "The state dict's key inside a wrapping checkpoint ({'model_state_dict': ...})");
  opts->strip_opt = cmd->add_option(
      "--strip-prefix", opts->strip_prefix,
      "Remove this prefix from the weights' names ('module.' of DataParallel, '_orig_mod.' of torch.compile)");
  opts->cast_opt = cmd->add_option("--cast", opts->cast,
                                   "Load floating-point weights as this dtype (float32, float16, bfloat16, float64)");
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
      req.no_verify = opts->no_verify;
      if (opts->key_opt->count()) req.key = opts->key;
      if (opts->strip_opt->count()) req.strip_prefix = opts->strip_prefix;
      if (opts->cast_opt->count()) req.cast = opts->cast;
      req.example = opts->example;
      ProgressDisplay progress("commit");
      req.progress = &progress.sink();
      core::CommitResult r = core::commit_models(ws, req);
      progress.finish();
      if (r.commit) {
        info() << "[" << r.branch << " " << r.commit->substr(0, 7) << "] " << opts->message << "\n";
      } else {
        info() << "nothing to commit: ";
        for (std::size_t i = 0; i < r.models.size(); ++i) info() << (i ? ", " : "") << display_dir(r.models[i].dir);
        info() << (r.models.size() == 1 ? " is" : " are") << " unchanged\n";
      }
      for (auto& m : r.models) {
        const core::Pointer& p = m.pointer.pointer;
        if (p.sharded())  // sharded weights: one version of several files
          info() << "  " << display_dir(m.dir) << ": " << p.shards.size() << " shards (" << p.shards.front().path
                 << " ... " << p.shards.back().path << ")  " << p.tensors << " tensors, " << group_digits(p.parameters)
                 << " parameters, " << core::human_bytes(p.total_size())
                 << (m.object_existed ? " (already in cache)" : "");
        else
          info() << "  " << display_dir(m.dir) << ": " << p.path << " sha256:" << short_sha(p.sha256) << "  "
                 << p.tensors << " tensors, " << group_digits(p.parameters) << " parameters, "
                 << core::human_bytes(p.size) << (m.object_existed ? " (already in cache)" : "");
        if (m.segments && !m.object_existed)  // stored as tensor objects: what was new
          info() << " (stored as " << m.segments << " objects, " << core::human_bytes(m.written) << " new)";
        info() << "\n";
        for (const auto& f : p.files())
          detail() << "    " << f.sha256 << ": " << ws.store().location(f.sha256)
                   << (p.sharded() ? " (" + f.path + ")" : std::string()) << "\n";
      }
      for (auto& m : r.models)
        if (!opts->example.empty() && m.pointer.pointer.example)
          info() << "  example recorded: input sha256:" << short_sha(m.pointer.pointer.example->input)
                 << ", output sha256:" << short_sha(m.pointer.pointer.example->output) << "\n";
      if (r.tagged) info() << "  tagged " << opts->tag << "\n";
      return 0;
    };
  });
}

}  // namespace mvc::cli
