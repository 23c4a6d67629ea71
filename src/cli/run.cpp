// mvc run REV PATH --input in.safetensors --output out.safetensors: rebuild the version of a
// model directory in LibTorch (dlopen'ed: core/torch_bridge.h), load its weights strictly from
// the verified cache object (core/model_version.h), and run it in eval mode on named inputs.
#include <iostream>

#include "cli/command.h"
#include "cli/format.h"
#include "cli/output.h"
#include "core/model_version.h"
#include "core/torch_bridge.h"
#include "core/workspace.h"
#include "mvc/error.h"

namespace mvc::cli {

namespace fs = std::filesystem;

namespace {

int run_model(const std::string& rev, const std::string& path, const fs::path& input, const fs::path& output) {
  core::Workspace ws = core::Workspace::open(".");
  core::ModelVersion v = core::resolve_version(ws, rev, ws.git().rel(path));
  v.require_pointer();
  if (!fs::is_regular_file(input)) throw Error(Exit::failure, input.string() + ": no such file");
  ProgressDisplay progress("run");
  ModelSource source = core::verified_source(ws, v, progress);
  // LibTorch's start, the module's build and the weights' load report nothing measurable: a
  // phase line with the time it takes (core/torch_bridge.h runs them in one call).
  progress.sink().phase("rebuilding " + display_dir(v.dir) + " in LibTorch, loading its weights, running it");
  auto outs = core::torch_run(source, input, output);
  progress.finish();
  info() << "Ran " << display_dir(v.dir) << " at " << rev << " (" << v.commit.substr(0, 7) << ") in eval mode\n";
  for (const auto& o : outs) {
    std::string shape = "[";
    for (std::size_t i = 0; i < o.shape.size(); ++i) shape += (i ? ", " : "") + std::to_string(o.shape[i]);
    info() << "  " << o.name << ": " << o.dtype << " " << shape << "]\n";
  }
  info() << "Wrote " << output.string() << "\n";
  return 0;
}

}  // namespace

void add_run(CLI::App& app, Context& ctx) {
  struct Opts {
    std::string rev, path, input, output;
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("run", "Rebuild a version and run it in eval mode on named inputs");
  cmd->add_option("rev", opts->rev, "Revision (commit, tag, branch, or an alias of the model)")->required();
  cmd->add_option("path", opts->path, "Model directory")->required();
  cmd->add_option("--input", opts->input, "safetensors file with one tensor per arch.toml input")->required();
  cmd->add_option("--output", opts->output, "safetensors file to write the outputs to")->required();
  cmd->callback(
      [&ctx, opts] { ctx.action = [opts] { return run_model(opts->rev, opts->path, opts->input, opts->output); }; });
}

}  // namespace mvc::cli
