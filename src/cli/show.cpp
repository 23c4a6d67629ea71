// mvc show [REV:]PATH: architecture summary, parameter count, hparams, metrics, pointer.
#include <iomanip>
#include <iostream>

#include "arch/arch.h"
#include "cli/command.h"
#include "cli/format.h"
#include "core/model_check.h"
#include "core/model_version.h"
#include "core/toml_view.h"
#include "core/workspace.h"
#include "mvc/error.h"
#include "util/fs.h"

namespace mvc::cli {

namespace fs = std::filesystem;

namespace {

int run_show(const std::string& spec) {
  core::Workspace ws = core::Workspace::open(".");
  git::Repo& g = ws.git();
  std::string rev, path = spec;
  auto colon = spec.find(':');
  if (colon != std::string::npos) {
    std::string r = spec.substr(0, colon);
    if (r.empty()) r = "HEAD";
    // "REV:PATH", unless the whole argument is an existing path with a colon in its name; an
    // unknown REV is then an error of its own (resolve_version).
    if (g.try_resolve_commit(r) || !fs::exists(spec)) {
      rev = r;
      path = spec.substr(colon + 1);
    }
  }
  // REV:PATH paths are relative to the repository root, as in git; a plain PATH to the
  // current directory.
  core::ModelVersion v = core::resolve_version(ws, rev, rev.empty() ? g.rel(path) : path);
  const std::string& dir = v.dir;
  const std::string& commit = v.commit;
  const std::optional<std::string>& hp_text = v.hparams_text;
  const std::optional<std::string>& metrics_text = v.metrics_text;
  arch::Architecture a = arch::parse_architecture(v.arch_text, v.arch_name, hp_text.value_or(""), v.hparams_name);
  const std::optional<core::PointerFile>& ptr = v.pointer;

  std::cout << display_dir(dir);
  if (!commit.empty()) std::cout << " @ " << commit.substr(0, 7) << " (" << rev << ")";
  std::cout << "\narchitecture: " << (a.name.empty() ? "(unnamed)" : a.name) << "  [" << a.format << ", " << a.dtype
            << "]\n";
  for (auto& in : a.inputs)
    std::cout << "input: " << in.name << " " << arch::shape_str(in.shape) << " " << in.dtype << "\n";

  auto rows = arch::summarize(a);
  std::size_t wn = 5, wt = 4, ws_ = 12;
  for (auto& r : rows) {
    wn = std::max(wn, r.name.size());
    wt = std::max(wt, r.type.size());
    ws_ = std::max(ws_, r.output_shape.size());
  }
  std::uint64_t total = 0;
  std::cout << "\n  " << std::left << std::setw(static_cast<int>(wn)) << "layer"
            << "  " << std::setw(static_cast<int>(wt)) << "type"
            << "  " << std::setw(static_cast<int>(ws_)) << "output shape"
            << "  " << std::right << std::setw(12) << "parameters"
            << "\n";
  for (auto& r : rows) {
    total += r.parameters;
    std::cout << "  " << std::left << std::setw(static_cast<int>(wn)) << r.name << "  "
              << std::setw(static_cast<int>(wt)) << r.type << "  " << std::setw(static_cast<int>(ws_)) << r.output_shape
              << "  " << std::right << std::setw(12) << group_digits(r.parameters) << "\n";
  }
  std::cout << "  " << std::left << std::setw(static_cast<int>(wn + wt + ws_ + 4)) << "total"
            << "  " << std::right << std::setw(12) << group_digits(total) << "\n";

  std::cout << "\nhparams:";
  if (!hp_text)
    std::cout << " (none)\n";
  else {
    std::cout << "\n";
    for (auto& [k, val] : core::flatten_toml(*hp_text, v.hparams_name)) std::cout << "  " << k << " = " << val << "\n";
  }
  std::cout << "metrics:";
  if (!metrics_text)
    std::cout << " (none)\n";
  else {
    std::cout << "\n";
    for (auto& [k, val] : core::flatten_toml(*metrics_text, v.metrics_name))
      std::cout << "  " << k << " = " << val << "\n";
  }
  if (ptr) {
    const core::Pointer& p = ptr->pointer;
    std::cout << "weights: " << p.path << "  " << p.kind << ", " << core::human_bytes(p.size) << ", " << p.tensors
              << " tensors, " << group_digits(p.parameters) << " parameters\n  sha256:" << p.sha256
              << (ws.store().contains(p.sha256) ? "" : "  (not in cache)") << "\n";
  } else {
    std::cout << "weights: (not committed)\n";
  }
  return 0;
}

}  // namespace

void add_show(CLI::App& app, Context& ctx) {
  auto spec = std::make_shared<std::string>();
  auto* cmd =
      app.add_subcommand("show", "Show a model version: layers, output shapes, parameters, hparams, metrics, weights");
  cmd->add_option("spec", *spec, "[REV:]PATH (REV:PATH is relative to the repository root, as in git)")->required();
  cmd->callback([&ctx, spec] { ctx.action = [spec] { return run_show(*spec); }; });
}

}  // namespace mvc::cli
