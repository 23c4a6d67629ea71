// mvc log [PATH] [--json] [--all]: the versions of a model, newest first (core/log.h gathers
// them); with --table (or as `mvc compare PATH`), a table of the versions and the hparams and
// metrics that vary between them (core/version_table.h).
#include <algorithm>
#include <iostream>

#include "cli/command.h"
#include "cli/format.h"
#include "core/log.h"
#include "core/toml_view.h"
#include "core/version_table.h"
#include "core/workspace.h"
#include "mvc/error.h"
#include "util/csv.h"

namespace mvc::cli {

namespace {

struct Opts {
  std::string path;
  bool json = false, all = false, table = false, csv = false;
  std::string sort, columns_arg;
};

/// Characters on screen: UTF-8 sequences count once.
std::size_t width(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

int run_table(const Opts& o) {
  if (o.path.empty()) throw Error(Exit::usage, "log --table: name one model directory (mvc log PATH --table)");
  if (o.json && o.csv) throw Error(Exit::usage, "log --table: --json and --csv exclude each other");
  core::Workspace ws = core::Workspace::open(".");
  core::LogResult log = core::model_log(ws, ws.git().rel(o.path), o.all);
  core::ModelLog empty;
  empty.dir = ws.git().rel(o.path);
  std::vector<std::string> columns;
  if (!o.columns_arg.empty())
    for (std::size_t p = 0;;) {
      std::size_t q = o.columns_arg.find(',', p);
      columns.push_back(o.columns_arg.substr(p, q == std::string::npos ? q : q - p));
      if (q == std::string::npos) break;
      p = q + 1;
    }
  core::VersionTable t = core::version_table(log.models.empty() ? empty : log.models.front(), {o.sort, columns});
  if (o.json) {
    std::cout << core::table_json(t, 2) << "\n";
    return 0;
  }
  if (o.csv) {
    std::cout << util::csv_record(t.columns);
    for (auto& row : t.rows) {
      std::vector<std::string> fields;
      for (auto& cell : row) fields.push_back(cell.text);
      std::cout << util::csv_record(fields);
    }
    return 0;
  }
  // Aligned columns, numbers to the right, a missing value as "-".
  std::vector<std::size_t> w(t.columns.size());
  std::vector<bool> numeric(t.columns.size(), true);
  for (std::size_t c = 0; c < t.columns.size(); ++c) {
    w[c] = width(t.columns[c]);
    bool any = false;
    for (auto& row : t.rows) {
      w[c] = std::max(w[c], row[c].value.is_null() ? std::size_t{1} : width(row[c].text));
      if (!row[c].value.is_null()) {
        any = true;
        numeric[c] = numeric[c] && row[c].value.is_number();
      }
    }
    numeric[c] = numeric[c] && any;
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (std::size_t c = 0; c < cells.size(); ++c) {
      std::string pad(w[c] - std::min(w[c], width(cells[c])), ' ');
      bool last = c + 1 == cells.size();
      out += numeric[c] ? pad + cells[c] : cells[c] + (last ? "" : pad);
      if (!last) out += "  ";
    }
    std::cout << out << "\n";
  };
  line(t.columns);
  for (auto& row : t.rows) {
    std::vector<std::string> cells;
    for (auto& cell : row) cells.push_back(cell.value.is_null() ? "-" : cell.text);
    line(cells);
  }
  return 0;
}

int run_log(const Opts& o) {
  if (o.table) return run_table(o);
  const std::string& path = o.path;
  const bool json = o.json;
  core::Workspace ws = core::Workspace::open(".");
  std::optional<std::string> dir;
  if (!path.empty()) dir = ws.git().rel(path);
  core::LogResult log = core::model_log(ws, dir, o.all);
  if (json) {
    std::cout << core::log_json(log, 2) << "\n";
    return 0;
  }
  if (ws.git().head_unborn()) {
    std::cout << "no commits yet\n";
    return 0;
  }
  bool first_model = true;
  for (auto& m : log.models) {
    if (!first_model) std::cout << "\n";
    first_model = false;
    std::cout << display_dir(m.dir) << "  (" << m.versions.size() << " version" << (m.versions.size() == 1 ? "" : "s")
              << (log.shallow ? "; shallow clone: older history is not here" : "") << ")\n";
    for (auto& v : m.versions) {
      const git::CommitInfo& c = v.commit;
      std::vector<std::pair<std::string, std::string>> metrics;
      if (v.metrics_text) {
        try {
          metrics = core::flatten_toml(*v.metrics_text, v.metrics_name);
        } catch (const Error&) {
          metrics = {{"(invalid metrics.toml)", ""}};
        }
      }
      std::cout << "  " << c.short_id << "  " << core::format_time(c.time, c.offset_minutes) << "  " << c.author_name;
      if (!v.tags.empty()) {
        std::cout << "  (tag: ";
        for (std::size_t i = 0; i < v.tags.size(); ++i) std::cout << (i ? ", " : "") << v.tags[i];
        std::cout << ")";
      }
      if (!v.aliases.empty()) {
        std::cout << "  (alias: ";
        for (std::size_t i = 0; i < v.aliases.size(); ++i) std::cout << (i ? ", " : "") << v.aliases[i];
        std::cout << ")";
      }
      std::cout << "\n      " << c.summary << "\n";
      if (v.pointer)
        std::cout << "      weights " << short_sha(v.pointer->pointer.weights_digest()) << "  "
                  << group_digits(v.pointer->pointer.parameters) << " params";
      else
        std::cout << "      (no weights)";
      for (auto& [k, val] : metrics) std::cout << "  " << k << "=" << val;
      std::cout << "\n";
    }
  }
  return 0;
}

/// The table's options, shared by `log --table` and `compare`.
void add_table_options(CLI::App* cmd, Opts& o) {
  cmd->add_option("--sort", o.sort, "Sort by this column (-COLUMN: descending); missing values last");
  // One argument, split here (a vector option would also swallow the PATH after it).
  cmd->add_option("--columns", o.columns_arg, "Show these columns, in this order (comma-separated)");
  cmd->add_flag("--csv", o.csv, "CSV (RFC 4180)");
}

}  // namespace

void add_log(CLI::App& app, Context& ctx) {
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand(
      "log", "List the versions of a model: commit, tags, date, author, weights hash, parameters, hparams, metrics");
  cmd->add_option("path", opts->path, "Model directory (default: every model at HEAD)");
  cmd->add_flag("--json", opts->json, "Machine-readable output");
  cmd->add_flag("--all", opts->all, "Versions reachable from every branch and tag, not only HEAD");
  auto* table = cmd->add_flag("--table", opts->table,
                              "A table: versions as rows, the hparams and metrics that vary between them as columns");
  add_table_options(cmd, *opts);
  for (const char* o : {"--sort", "--columns", "--csv"}) cmd->get_option(o)->needs(table);
  cmd->callback([&ctx, opts] { ctx.action = [opts] { return run_log(*opts); }; });

  // `mvc compare PATH` is `mvc log PATH --table`.
  auto copts = std::make_shared<Opts>();
  copts->table = true;
  auto* compare = app.add_subcommand(
      "compare", "Compare a model's versions in a table (= mvc log PATH --table): the hparams and metrics that vary");
  compare->add_option("path", copts->path, "Model directory")->required();
  compare->add_flag("--json", copts->json, "Machine-readable output");
  compare->add_flag("--all", copts->all, "Versions reachable from every branch and tag, not only HEAD");
  add_table_options(compare, *copts);
  compare->callback([&ctx, copts] { ctx.action = [copts] { return run_log(*copts); }; });
}

}  // namespace mvc::cli
