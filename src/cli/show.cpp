// mvc show [REV:]PATH [--json | --dot]: architecture summary, parameter count, hparams,
// metrics, pointer; or the same as JSON, or the architecture as Graphviz DOT.
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "arch/arch.h"
#include "arch/dot.h"
#include "cli/command.h"
#include "cli/format.h"
#include "core/model_check.h"
#include "core/model_version.h"
#include "core/pointer_json.h"
#include "core/toml_view.h"
#include "core/workspace.h"
#include "mvc/error.h"
#include "util/fs.h"

namespace mvc::cli {

namespace fs = std::filesystem;

namespace {

/// The values of hparams.toml / metrics.toml, typed ({} when the file is absent).
nlohmann::ordered_json values_json(const std::optional<std::string>& text, const std::string& name) {
  return text ? core::toml_values(*text, name) : nlohmann::ordered_json::object();
}

int run_show(const std::string& spec, bool json, bool dot) {
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

  if (dot) {
    std::cout << arch::architecture_dot(a);
    return 0;
  }
  if (json) {
    using oj = nlohmann::ordered_json;
    oj inputs = oj::array();
    for (auto& in : a.inputs) {
      oj shape = oj::array();
      for (auto& d : in.shape) {
        if (auto* n = std::get_if<std::int64_t>(&d))
          shape.push_back(*n);
        else
          shape.push_back(std::get<std::string>(d));
      }
      inputs.push_back({{"name", in.name}, {"shape", shape}, {"dtype", in.dtype}});
    }
    oj layers = oj::array();
    std::uint64_t total = 0;
    for (auto& r : arch::summarize(a)) {
      total += r.parameters;
      layers.push_back(
          {{"name", r.name}, {"type", r.type}, {"output_shape", r.output_shape}, {"parameters", r.parameters}});
    }
    oj out = {{"path", dir},
              {"revision", rev.empty() ? oj() : oj(rev)},
              {"commit", commit.empty() ? oj() : oj(commit)},
              {"architecture",
               {{"name", a.name},
                {"format", a.format},
                {"dtype", a.dtype},
                {"inputs", inputs},
                {"layers", layers},
                {"parameters", total}}},
              {"hparams", values_json(hp_text, v.hparams_name)},
              {"metrics", values_json(metrics_text, v.metrics_name)},
              {"weights", nullptr}};
    if (ptr) {
      const core::Pointer& p = ptr->pointer;
      out["weights"] = core::weights_record(p);
      // show adds where each file is: in the cache or not (every file's, for the whole set).
      bool all_in_cache = true;
      for (auto& f : out["weights"]["files"]) {
        bool in = ws.store().contains(f["sha256"].get<std::string>());
        f["in_cache"] = in;
        all_in_cache = all_in_cache && in;
      }
      out["weights"]["in_cache"] = all_in_cache;
    }
    std::cout << out.dump(2, ' ', false, oj::error_handler_t::replace) << "\n";
    return 0;
  }

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
    if (p.sharded()) {
      std::cout << "weights: " << p.shards.size() << " shards  " << p.kind << ", " << core::human_bytes(p.total_size())
                << ", " << p.tensors << " tensors, " << group_digits(p.parameters) << " parameters\n";
      for (const auto& f : p.files())
        std::cout << "  " << f.path << "  " << core::human_bytes(f.size) << ", " << f.tensors
                  << " tensors  sha256:" << f.sha256 << (ws.store().contains(f.sha256) ? "" : "  (not in cache)")
                  << "\n";
    } else {
      std::cout << "weights: " << p.path << "  " << p.kind << ", " << core::human_bytes(p.size) << ", " << p.tensors
                << " tensors, " << group_digits(p.parameters) << " parameters\n  sha256:" << p.sha256
                << (ws.store().contains(p.sha256) ? "" : "  (not in cache)") << "\n";
    }
  } else {
    std::cout << "weights: (not committed)\n";
  }
  return 0;
}

}  // namespace

void add_show(CLI::App& app, Context& ctx) {
  struct Opts {
    std::string spec;
    bool json = false, dot = false;
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd =
      app.add_subcommand("show", "Show a model version: layers, output shapes, parameters, hparams, metrics, weights");
  cmd->add_option("spec", opts->spec, "[REV:]PATH (REV:PATH is relative to the repository root, as in git)")
      ->required();
  auto* json = cmd->add_flag("--json", opts->json, "Machine-readable output");
  cmd->add_flag("--dot", opts->dot, "The architecture as Graphviz DOT (dot -Tsvg draws it)")->excludes(json);
  cmd->callback([&ctx, opts] { ctx.action = [opts] { return run_show(opts->spec, opts->json, opts->dot); }; });
}

}  // namespace mvc::cli
