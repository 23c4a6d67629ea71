// mvc report [REV] PATH -o FILE.html: one self-contained HTML page of a model version -- its
// architecture as a graph, its metrics over history, each tensor's change against the previous
// version (core/report.h, docs/user-guide.md "mvc report").
#include <iostream>

#include "cli/command.h"
#include "cli/output.h"
#include "core/report.h"
#include "core/workspace.h"
#include "mvc/error.h"
#include "util/fs.h"

namespace mvc::cli {

namespace fs = std::filesystem;

namespace {

struct Opts {
  std::vector<std::string> args;  ///< [REV] PATH
  std::string output;
};

int run_report(const Opts& o) {
  std::string rev = "HEAD", path = o.args.back();
  if (o.args.size() == 2) rev = o.args.front();
  if (rev.empty()) throw Error(Exit::usage, "report: the revision is empty");
  // The page goes to a directory that exists: checked first, so a mistyped -o costs no work.
  if (o.output.empty()) throw Error(Exit::usage, "report: -o names no file");
  fs::path out = o.output;
  fs::path parent = out.parent_path().empty() ? fs::path(".") : out.parent_path();
  std::error_code ec;
  if (!fs::is_directory(parent, ec))
    throw Error(Exit::failure, out.string() + ": cannot write the report: " + parent.string() + " is not a directory");
  if (fs::is_directory(out, ec)) throw Error(Exit::failure, out.string() + ": cannot write the report: a directory");

  core::Workspace ws = core::Workspace::open(".");
  core::Report r = core::build_report(ws, rev, ws.git().rel(path));
  util::write_file_atomic(out, r.html);
  info() << "wrote " << out.string() << ": " << r.layers << " layers, " << r.versions << " version"
         << (r.versions == 1 ? "" : "s") << ", " << r.metrics << " metric" << (r.metrics == 1 ? "" : "s") << " charted";
  if (r.parent && r.weights_note.empty())
    info() << ", " << r.tensors_changed << " of " << r.tensors << " tensors changed against " << r.parent->substr(0, 7);
  info() << "\n";
  if (!r.weights_note.empty()) detail() << "tensors: " << r.weights_note << "\n";
  return 0;
}

}  // namespace

void add_report(CLI::App& app, Context& ctx) {
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("report",
                                 "Write one self-contained HTML page of a model version: its architecture as a graph, "
                                 "its metrics over history, each tensor's change against the previous version");
  cmd->add_option("path", opts->args,
                  "[REV] PATH: the revision (branch, tag, commit or alias; default HEAD) and the model directory")
      ->expected(1, 2)
      ->required();
  cmd->add_option("-o,--output", opts->output, "The HTML file to write (its directory must exist)")
      ->required()
      ->type_name("FILE");
  cmd->callback([&ctx, opts] { ctx.action = [opts] { return run_report(*opts); }; });
}

}  // namespace mvc::cli
