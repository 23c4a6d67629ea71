// mvc verify [REV] PATH: rebuild a version, rerun its recorded example ([example] of the
// pointer) and compare with the recorded output (exit 7 with the largest absolute difference).
#include <iostream>

#include "cli/command.h"
#include "cli/format.h"
#include "cli/output.h"
#include "core/example.h"
#include "core/model_version.h"
#include "core/workspace.h"
#include "mvc/error.h"

namespace mvc::cli {

namespace fs = std::filesystem;

namespace {

int run_verify(const std::vector<std::string>& args) {
  if (args.empty() || args.size() > 2) throw Error(Exit::usage, "verify: usage: mvc verify [REV] PATH");
  core::Workspace ws = core::Workspace::open(".");
  core::ModelVersion v = core::resolve_version(ws, args.size() == 2 ? args[0] : "", ws.git().rel(args.back()));
  const core::Pointer& p = v.require_pointer().pointer;
  if (!p.example)
    throw Error(Exit::model, v.describe() + ": no example recorded (record one with mvc commit " + display_dir(v.dir) +
                                 " --example INPUT.safetensors)");
  ProgressDisplay progress("verify");
  ModelSource source = core::verified_source(ws, v, progress);
  progress.sink().phase("rebuilding " + display_dir(v.dir) + " in LibTorch, loading its weights, running the example");
  auto c = core::verify_example(ws, v.dir, p, source);
  progress.finish();
  info() << v.describe() << ": the example reproduces (largest absolute difference " << c.max_abs_diff << ", atol "
         << p.example->atol << ")\n";
  return 0;
}

}  // namespace

void add_verify(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<std::vector<std::string>>();
  auto* cmd = app.add_subcommand("verify", "Rebuild a version and check that it still computes its recorded example");
  cmd->add_option("args", *args, "[REV] PATH")->required();
  cmd->callback([&ctx, args] { ctx.action = [args] { return run_verify(*args); }; });
}

}  // namespace mvc::cli
