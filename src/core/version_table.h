// `mvc log PATH --table` (= `mvc compare PATH`): a model's versions as rows and, as columns,
// the hparams and metrics that vary between them (docs/user-guide.md, "mvc log --table"). Built
// from core::model_log's versions; the CLI prints it as text, CSV or JSON.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/log.h"

namespace mvc::core {

struct TableOptions {
  /// A column to sort by, ascending, or "-COLUMN" descending; versions without a value come
  /// last either way, and equal values keep log order (newest first). "" = log order.
  std::string sort;
  /// The columns to show, in this order; empty = commit, tags, date, then every hparam and
  /// metric whose value differs between two of the versions (all of them for one version).
  std::vector<std::string> columns;
};

/// One cell: `value` as JSON (null = the version has no such value), `text` as the text and
/// CSV forms print it ("" when null).
struct TableCell {
  nlohmann::ordered_json value;
  std::string text;
};

struct VersionTable {
  std::string dir;                   ///< the model directory, repo-relative
  std::vector<std::string> columns;  ///< the columns shown
  /// One row per version, one cell per column. The JSON form of a "tags" cell is the row's
  /// tags; its aliases go into the JSON row as "aliases" (the text form lists both).
  std::vector<std::vector<TableCell>> rows;
  std::vector<std::vector<std::string>> aliases;  ///< per row, for the JSON form
  /// The column name of every metrics key of any version, shown or not, in order of first
  /// appearance (oldest version first): what `mvc report` charts.
  std::vector<std::string> metric_columns;
};

/// The table of `log`'s one model. Column names: commit, tags (tags and aliases in the text
/// form), aliases, date, message, author, parameters, weights, and each hparams/metrics key (nested tables as dotted
/// keys: "optim.lr"). A key found in both files, or named like a fixed column or "short", is shown as "hparams.KEY" /
/// "metrics.KEY"; those qualified forms are always accepted. An unknown column or sort key is
/// mvc::Error(Exit::usage) naming it and the closest known column.
VersionTable version_table(const ModelLog& log, const TableOptions& opts);

/// {"path", "columns": [...], "rows": [{COLUMN: value, ...}]}: each row an object with the
/// shown columns in order (a "commit" cell is the full id, and "short" follows it; a "tags"
/// cell is followed by "aliases"). `indent` < 0: one line.
std::string table_json(const VersionTable& t, int indent);

}  // namespace mvc::core
