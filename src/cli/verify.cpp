// mvc verify [REV] PATH: rebuild a version, rerun its recorded example ([example] of the
// pointer) and compare with the recorded output (exit 7 with the largest absolute difference).
#include <iostream>

#include "cli/command.h"
#include "cli/format.h"
#include "core/example.h"
#include "core/workspace.h"
#include "mvc/error.h"
#include "util/fs.h"
#include "util/sha256.h"

namespace mvc::cli {

namespace fs = std::filesystem;

namespace {

int run_verify(const std::vector<std::string>& args) {
  if (args.empty() || args.size() > 2) throw Error(Exit::usage, "verify: usage: mvc verify [REV] PATH");
  core::Workspace ws = core::Workspace::open(".");
  git::Repo& g = ws.git();
  std::string rev = args.size() == 2 ? args[0] : "";
  std::string dir = g.rel(args.back());
  std::string arch_name = core::join(dir, core::kArchFile), hp_name = core::join(dir, core::kHparamsFile);
  std::optional<std::string> arch, hp;
  std::optional<core::PointerFile> ptr;
  std::string commit;
  if (!rev.empty()) {
    commit = g.resolve_commit(rev);
    arch = g.read_blob_at(commit, arch_name);
    hp = g.read_blob_at(commit, hp_name);
    ptr = core::pointer_at(ws, commit, dir);
  } else {
    if (fs::is_regular_file(ws.root() / arch_name)) arch = util::read_file(ws.root() / arch_name);
    if (fs::is_regular_file(ws.root() / hp_name)) hp = util::read_file(ws.root() / hp_name);
    ptr = core::workspace_pointer(ws, dir);
  }
  std::string where = rev.empty() ? "" : " at " + rev;
  if (!arch) throw Error(Exit::failure, display_dir(dir) + ": not a model directory" + where + " (no arch.toml)");
  if (!ptr) throw Error(Exit::model, display_dir(dir) + ": no weights pointer" + where);
  const core::Pointer& p = ptr->pointer;
  if (!p.example)
    throw Error(Exit::model, display_dir(dir) + ": no example recorded" + where +
                                 " (record one with mvc commit " + display_dir(dir) + " --example INPUT.safetensors)");
  // The weights, verified by hash.
  fs::path weights = ws.root() / ptr->weights_rel();
  std::optional<util::TempFile> temp;
  if (!fs::is_regular_file(weights) || util::sha256_file(weights) != p.sha256) {
    fs::path tmp = ws.mvc_dir() / "tmp";
    fs::create_directories(tmp);
    core::check_pointer_size(ws, *ptr);
    temp.emplace(ws.store().copy_out_verified(p.sha256, p.size, tmp, "verify"));
    weights = temp->path();
  }
  auto c = core::verify_example(ws, dir, p, *arch, hp.value_or(""), weights);
  std::cout << display_dir(dir) << where << ": the example reproduces (largest absolute difference " << c.max_abs_diff
            << ", atol " << p.example->atol << ")\n";
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
