// `mvc report [REV] PATH -o FILE.html`: one self-contained HTML page about a model version
// (docs/user-guide.md, "mvc report"), torch-free. It holds the architecture as a graph
// (arch::architecture_dot laid out by Graphviz's libgvc in-process, inline SVG), the metrics of
// every version of the model on REV's history as line charts (core::version_table's values), and
// the change of each tensor against the previous version (core::diff_versions) as a bar chart.
// No script, no external resource: the page opens offline.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "core/workspace.h"

namespace mvc::core {

/// What the page shows, in numbers (the CLI reports them).
struct Report {
  std::string html;                   ///< the page
  std::string dir;                    ///< the model directory, repository-relative
  std::string commit;                 ///< REV's commit id
  std::size_t layers = 0;             ///< layer nodes drawn (the expanded architecture's layers)
  std::size_t versions = 0;           ///< versions of the model on REV's history
  std::size_t metrics = 0;            ///< metrics charted (numeric in at least one version)
  std::size_t points = 0;             ///< chart points over all metrics
  std::optional<std::string> parent;  ///< the previous version's commit id (none for the first)
  std::size_t tensors = 0;            ///< tensors compared against the parent (either side)
  std::size_t tensors_changed = 0;    ///< of them, not unchanged
  std::string weights_note;           ///< why no tensor change is shown ("" when it is)
};

/// Builds the page of model directory `dir` (repository-relative) at revision `rev` (a branch,
/// tag, commit or alias, as core::resolve_version takes it; never the work tree or the index).
/// Throws mvc::Error as resolve_version (unknown revision 2, not a model directory 2),
/// arch::parse_architecture (7) and diff_versions do; an object missing from the cache for the
/// tensor comparison is not an error: the page says so in place of the chart.
Report build_report(Workspace& ws, const std::string& rev, const std::string& dir);

/// Lays out a Graphviz DOT text with libgvc ("dot" layout) and returns the SVG element alone
/// (no XML prolog, doctype, comments or namespace URLs: it is meant to be inlined in HTML).
/// Throws mvc::Error(Exit::failure) naming Graphviz's message when the text does not parse or
/// cannot be laid out.
std::string dot_to_inline_svg(const std::string& dot);

/// `s` escaped for HTML text and attribute values (&, <, >, ", '), non-printable bytes and
/// invalid UTF-8 replaced as util::printable does.
std::string html_escape(const std::string& s);

}  // namespace mvc::core
