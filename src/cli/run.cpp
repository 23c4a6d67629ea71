// mvc run REV PATH --input in.safetensors --output out.safetensors: rebuild the version of a
// model directory in LibTorch (dlopen'ed, DESIGN.md §7a), load its weights strictly from the
// verified cache object, and run it in eval mode on named inputs.
#include <iostream>

#include "cli/command.h"
#include "cli/format.h"
#include "core/torch_bridge.h"
#include "core/workspace.h"
#include "mvc/error.h"
#include "util/fs.h"
#include "util/sha256.h"

namespace mvc::cli {

namespace fs = std::filesystem;

namespace {

int run_model(const std::string& rev, const std::string& path, const fs::path& input, const fs::path& output) {
  core::Workspace ws = core::Workspace::open(".");
  git::Repo& g = ws.git();
  std::string commit = g.resolve_commit(rev);
  std::string dir = g.rel(path);
  std::string arch_name = core::join(dir, core::kArchFile), hp_name = core::join(dir, core::kHparamsFile);
  auto arch = g.read_blob_at(commit, arch_name);
  if (!arch) throw Error(Exit::failure, display_dir(dir) + ": not a model directory at " + rev + " (no arch.toml)");
  auto hp = g.read_blob_at(commit, hp_name);
  auto ptr = core::pointer_at(ws, commit, dir);
  if (!ptr) throw Error(Exit::model, display_dir(dir) + ": no weights pointer at " + rev);
  const auto& p = ptr->pointer;
  if (!fs::is_regular_file(input)) throw Error(Exit::failure, input.string() + ": no such file");

  // The weights, verified by hash: a copy of the cache object in .mvc/tmp, or the work-tree
  // file when it is the only copy and hashes right.
  fs::path weights;
  std::optional<util::TempFile> temp;
  if (ws.store().contains(p.sha256)) {
    fs::path tmp = ws.root() / ".mvc" / "tmp";
    fs::create_directories(tmp);
    core::check_pointer_size(ws, *ptr);
    temp.emplace(ws.store().copy_out_verified(p.sha256, p.size, tmp, "run"));
    weights = temp->path();
  } else {
    fs::path w = ws.root() / ptr->weights_rel();
    if (!fs::is_regular_file(w) || util::sha256_file(w) != p.sha256)
      throw Error(Exit::missing, "object " + p.sha256 + " (" + ptr->weights_rel() + " at " + rev +
                                     ") is not in the cache and the work tree does not hold it");
    weights = w;
  }
  auto outs = core::torch_run(*arch, arch_name, hp.value_or(""), hp_name, weights, input, output, p.load);
  std::cout << "Ran " << display_dir(dir) << " at " << rev << " (" << commit.substr(0, 7) << ") in eval mode\n";
  for (const auto& o : outs) {
    std::string shape = "[";
    for (std::size_t i = 0; i < o.shape.size(); ++i) shape += (i ? ", " : "") + std::to_string(o.shape[i]);
    std::cout << "  " << o.name << ": " << o.dtype << " " << shape << "]\n";
  }
  std::cout << "Wrote " << output.string() << "\n";
  return 0;
}

}  // namespace

void add_run(CLI::App& app, Context& ctx) {
  struct Opts {
    std::string rev, path, input, output;
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("run", "Rebuild a version and run it in eval mode on named inputs");
  cmd->add_option("rev", opts->rev, "Revision (commit, tag, branch)")->required();
  cmd->add_option("path", opts->path, "Model directory")->required();
  cmd->add_option("--input", opts->input, "safetensors file with one tensor per arch.toml input")->required();
  cmd->add_option("--output", opts->output, "safetensors file to write the outputs to")->required();
  cmd->callback([&ctx, opts] {
    ctx.action = [opts] { return run_model(opts->rev, opts->path, opts->input, opts->output); };
  });
}

}  // namespace mvc::cli
