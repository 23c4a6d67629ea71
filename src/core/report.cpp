#include "core/report.h"

#include <graphviz/cgraph.h>
#include <graphviz/gvc.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>

#include "arch/arch.h"
#include "arch/dot.h"
#include "core/diff.h"
#include "core/log.h"
#include "core/model_check.h"
#include "core/model_version.h"
#include "core/version_table.h"
#include "mvc/error.h"
#include "mvc/version.h"
#include "util/text.h"

namespace mvc::core {

namespace {

using json = nlohmann::ordered_json;

/// Graphviz reports through a process-wide callback: collect its messages while one layout runs.
std::mutex g_graphviz_mutex;
std::string* g_graphviz_errors = nullptr;
int collect_graphviz_error(char* msg) {
  if (g_graphviz_errors && msg) *g_graphviz_errors += msg;
  return 0;
}

/// A number as a chart prints it: at most `digits` significant digits, "inf" for infinity.
std::string num(double v, int digits = 4) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char b[64];
  std::snprintf(b, sizeof b, "%.*g", digits, v);
  return b;
}

/// A coordinate (two decimals are plenty for a screen).
std::string px(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.2f", v);
  return b;
}

/// Removes every `<!-- ... -->` from `s`.
std::string strip_comments(std::string s) {
  for (std::size_t p; (p = s.find("<!--")) != std::string::npos;) {
    std::size_t e = s.find("-->", p);
    s.erase(p, e == std::string::npos ? std::string::npos : e + 3 - p);
  }
  return s;
}

void erase_all(std::string& s, const std::string& what) {
  for (std::size_t p; (p = s.find(what)) != std::string::npos;) s.erase(p, what.size());
}

const char* kStyle = R"(
body { font-family: Helvetica, Arial, sans-serif; margin: 24px auto; max-width: 1100px; color: #222; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 18px; border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 32px; }
.meta { color: #555; font-size: 13px; } .meta code { font-size: 12px; }
.graph { overflow: auto; border: 1px solid #eee; padding: 8px; }
.graph svg { max-width: 100%; height: auto; }
.graph .layer polygon, .graph .layer path { fill: #eef4fb; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
figure.chart { margin: 0; border: 1px solid #eee; padding: 8px; }
figure.chart figcaption { font-weight: bold; font-size: 14px; margin-bottom: 4px; }
svg text { font-family: Helvetica, Arial, sans-serif; }
.axis { stroke: #888; stroke-width: 1; } .grid { stroke: #eee; stroke-width: 1; }
.line { fill: none; stroke: #1f77b4; stroke-width: 2; }
.point { fill: #1f77b4; } .point.current { fill: #d62728; }
.bar { fill: #ff7f0e; } .bar.infinite { fill: #d62728; }
.note { color: #666; font-style: italic; }
table.versions { border-collapse: collapse; font-size: 12px; } table.versions td, table.versions th { border: 1px solid #ddd; padding: 2px 6px; text-align: left; }
)";

/// The line chart of one metric: one point per version that has a numeric value, versions
/// evenly spaced oldest to newest (all charts share that axis).
struct Series {
  std::string metric;
  std::vector<std::pair<std::size_t, double>> points;  ///< (version index oldest first, value)
  std::vector<std::string> texts;                      ///< each point's value as metrics.toml has it
};

struct VersionLabel {
  std::string short_id, commit, label;  ///< label: first tag, else the short id
};

std::string line_chart(const Series& s, const std::vector<VersionLabel>& versions, std::size_t current) {
  const double W = 520, H = 240, L = 64, R = 16, T = 16, B = 56;
  const std::size_t n = versions.size();
  double lo = s.points.front().second, hi = lo;
  for (auto& [i, v] : s.points) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (lo == hi) {
    double pad = lo == 0 ? 1 : std::fabs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  auto x = [&](std::size_t i) { return n < 2 ? L + (W - L - R) / 2 : L + (W - L - R) * double(i) / double(n - 1); };
  auto y = [&](double v) { return T + (H - T - B) * (hi - v) / (hi - lo); };
  std::string o = "<svg class=\"chart-svg\" width=\"" + px(W) + "\" height=\"" + px(H) + "\" viewBox=\"0 0 " + px(W) +
                  " " + px(H) + "\" role=\"img\" aria-label=\"" + html_escape(s.metric) + " over versions\">\n";
  // Horizontal grid and value labels: five ticks.
  for (int k = 0; k <= 4; ++k) {
    double v = lo + (hi - lo) * k / 4, yy = y(v);
    o += "<line class=\"grid\" x1=\"" + px(L) + "\" x2=\"" + px(W - R) + "\" y1=\"" + px(yy) + "\" y2=\"" + px(yy) +
         "\"/><text x=\"" + px(L - 6) + "\" y=\"" + px(yy + 4) + "\" font-size=\"11\" text-anchor=\"end\">" +
         html_escape(num(v)) + "</text>\n";
  }
  o += "<line class=\"axis\" x1=\"" + px(L) + "\" x2=\"" + px(L) + "\" y1=\"" + px(T) + "\" y2=\"" + px(H - B) + "\"/>";
  o += "<line class=\"axis\" x1=\"" + px(L) + "\" x2=\"" + px(W - R) + "\" y1=\"" + px(H - B) + "\" y2=\"" + px(H - B) +
       "\"/>\n";
  // Version labels under the axis, thinned to at most 12.
  std::size_t step = std::max<std::size_t>(1, (n + 11) / 12);
  for (std::size_t i = 0; i < n; i += step) {
    double xx = x(i), yy = H - B + 14;
    o += "<text x=\"" + px(xx) + "\" y=\"" + px(yy) +
         "\" font-size=\"10\" text-anchor=\"end\" transform=\"rotate(-30 " + px(xx) + " " + px(yy) + ")\">" +
         html_escape(util::printable(versions[i].label, 16)) + "</text>\n";
  }
  std::string pts;
  for (auto& [i, v] : s.points) pts += (pts.empty() ? "" : " ") + px(x(i)) + "," + px(y(v));
  if (s.points.size() > 1) o += "<polyline class=\"line\" points=\"" + pts + "\"/>\n";
  for (std::size_t k = 0; k < s.points.size(); ++k) {
    auto [i, v] = s.points[k];
    const VersionLabel& ver = versions[i];
    o += "<circle class=\"point" + std::string(i == current ? " current" : "") + "\" cx=\"" + px(x(i)) + "\" cy=\"" +
         px(y(v)) + "\" r=\"4\" data-metric=\"" + html_escape(s.metric) + "\" data-version=\"" +
         html_escape(ver.short_id) + "\" data-commit=\"" + html_escape(ver.commit) + "\" data-value=\"" +
         html_escape(s.texts[k]) + "\"><title>" + html_escape(ver.label) + ": " + html_escape(s.metric) + " = " +
         html_escape(s.texts[k]) + "</title></circle>\n";
  }
  return o + "</svg>";
}

/// The bars of the tensors that changed (relative change ‖B−A‖₂/‖A‖₂, largest first), then a
/// line for each tensor added, removed, or changed in shape or dtype.
std::string tensor_chart(const WeightsDiff& w) {
  std::vector<const TensorDiff*> rows;
  for (auto& t : w.tensors)
    if (t.change != TensorDiff::Change::unchanged) rows.push_back(&t);
  auto rel = [](const TensorDiff* t) { return t->stats ? t->stats->relative : -1.0; };
  std::stable_sort(rows.begin(), rows.end(), [&](const TensorDiff* a, const TensorDiff* b) { return rel(a) > rel(b); });
  double top = 0;
  for (auto* t : rows)
    if (t->stats && std::isfinite(t->stats->relative)) top = std::max(top, t->stats->relative);
  std::size_t longest = 8;
  for (auto* t : rows) longest = std::max(longest, util::printable(t->name, 60).size());
  const double label_w = std::min(420.0, 12 + 6.6 * double(longest)), bar_w = 360, row_h = 20, W = label_w + bar_w + 90;
  const double H = 8 + row_h * double(rows.size());
  std::string o = "<svg class=\"chart-svg\" width=\"" + px(W) + "\" height=\"" + px(H) + "\" viewBox=\"0 0 " + px(W) +
                  " " + px(H) + "\" role=\"img\" aria-label=\"relative change per tensor\">\n";
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const TensorDiff& t = *rows[r];
    double yy = 4 + row_h * double(r);
    std::string value;
    std::string bar;
    double bar_len = 0;
    if (t.stats) {
      double v = t.stats->relative;
      bool inf = !std::isfinite(v);
      bar_len = std::max(1.0, inf ? bar_w : (top > 0 ? bar_w * v / top : 0));
      bar = "<rect class=\"bar" + std::string(inf ? " infinite" : "") + "\" x=\"" + px(label_w) + "\" y=\"" +
            px(yy + 3) + "\" width=\"" + px(bar_len) + "\" height=\"" + px(row_h - 6) + "\"/>";
      value = num(v);
    }
    std::string what = t.stats ? "relative change " + value + ", max |B-A| " + num(t.stats->max_abs) + ", " +
                                     num(t.stats->fraction * 100, 3) + "% of elements differ"
                               : change_name(t.change);
    o += "<g class=\"tensor\" data-tensor=\"" + html_escape(t.name) + "\" data-change=\"" +
         html_escape(change_name(t.change)) + "\"" +
         (t.stats
              ? " data-relative=\"" + html_escape(value) + "\" data-max-abs=\"" + html_escape(num(t.stats->max_abs)) +
                    "\" data-fraction=\"" + html_escape(num(t.stats->fraction)) + "\""
              : std::string()) +
         "><title>" + html_escape(t.name) + ": " + html_escape(what) + "</title>";
    o += "<text x=\"" + px(label_w - 8) + "\" y=\"" + px(yy + row_h / 2 + 4) +
         "\" font-size=\"11\" text-anchor=\"end\">" + html_escape(util::printable(t.name, 60)) + "</text>";
    o += bar;
    double tx = label_w + (t.stats ? bar_len + 6 : 0);
    o += "<text x=\"" + px(tx) + "\" y=\"" + px(yy + row_h / 2 + 4) + "\" font-size=\"11\">" +
         html_escape(t.stats ? value : change_name(t.change)) + "</text></g>\n";
  }
  return o + "</svg>";
}

}  // namespace

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : util::printable(s)) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string dot_to_inline_svg(const std::string& dot) {
  std::lock_guard<std::mutex> lock(g_graphviz_mutex);
  std::string errors;
  g_graphviz_errors = &errors;
  agusererrf previous = agseterrf(collect_graphviz_error);
  struct Restore {
    agusererrf previous;
    ~Restore() {
      agseterrf(previous);
      g_graphviz_errors = nullptr;
    }
  } restore{previous};

  std::unique_ptr<GVC_t, int (*)(GVC_t*)> gvc(gvContext(), gvFreeContext);
  if (!gvc) throw Error(Exit::failure, "graphviz: cannot create a context");
  std::unique_ptr<Agraph_t, int (*)(Agraph_t*)> g(agmemread(dot.c_str()), agclose);
  auto fail = [&](const std::string& what) {
    std::string msg = util::printable(errors, 200);
    return Error(Exit::failure, "graphviz: " + what + (msg.empty() ? "" : ": " + msg));
  };
  if (!g) throw fail("the architecture's DOT does not parse");
  if (gvLayout(gvc.get(), g.get(), "dot") != 0) throw fail("layout failed");
  char* data = nullptr;
  unsigned int len = 0;
  int rc = gvRenderData(gvc.get(), g.get(), "svg", &data, &len);
  std::string svg = data ? std::string(data, len) : std::string();
  if (data) gvFreeRenderData(data);
  gvFreeLayout(gvc.get(), g.get());
  if (rc != 0 || svg.empty()) throw fail("rendering SVG failed");

  // Inline SVG in HTML needs no prolog, doctype or namespaces (and the page names no URL).
  std::size_t start = svg.find("<svg");
  if (start == std::string::npos) throw fail("no <svg> in the output");
  svg = strip_comments(svg.substr(start));
  erase_all(svg, " xmlns=\"http://www.w3.org/2000/svg\"");
  erase_all(svg, " xmlns:xlink=\"http://www.w3.org/1999/xlink\"");
  return svg;
}

Report build_report(Workspace& ws, const std::string& rev, const std::string& dir) {
  ModelVersion v = resolve_version(ws, rev, dir);
  if (v.commit.empty()) throw Error(Exit::usage, "report: name a revision, not the work tree or the index");
  arch::Architecture a =
      arch::parse_architecture(v.arch_text, v.arch_name, v.hparams_text.value_or(""), v.hparams_name);
  Report rep;
  rep.dir = v.dir;
  rep.commit = v.commit;
  const std::string shown_dir = v.dir.empty() ? std::string(".") : v.dir;

  // 1. The architecture.
  std::vector<arch::LayerSummary> layers = arch::summarize(a);
  rep.layers = layers.size();
  std::uint64_t total = 0;
  for (auto& l : layers) total += l.parameters;
  std::string graph = dot_to_inline_svg(arch::architecture_dot(a, true));

  // 2. The versions on REV's history, oldest first, and their metrics.
  LogResult log = model_log(ws, v.dir, false, v.commit);
  ModelLog empty;
  empty.dir = v.dir;
  const ModelLog& m = log.models.empty() ? empty : log.models.front();
  const std::size_t n = m.versions.size();
  rep.versions = n;
  VersionTable all_keys = version_table(m, {});
  TableOptions topts;
  topts.columns = {"commit"};
  for (auto& c : all_keys.metric_columns) topts.columns.push_back(c);
  VersionTable table = version_table(m, topts);  // newest first, log order
  std::vector<VersionLabel> labels(n);
  for (std::size_t r = 0; r < n; ++r) {
    const LoggedVersion& lv = m.versions[n - 1 - r];
    labels[r] = {lv.commit.short_id, lv.commit.id, lv.tags.empty() ? lv.commit.short_id : lv.tags.front()};
  }
  const std::size_t current = n - 1;  // REV's version: the newest on its history
  std::vector<Series> series;
  std::vector<std::string> non_numeric;
  for (std::size_t c = 1; c < table.columns.size(); ++c) {
    Series s;
    s.metric = table.columns[c];
    for (std::size_t r = 0; r < n; ++r) {
      const TableCell& cell = table.rows[n - 1 - r][c];
      if (!cell.value.is_number()) continue;
      s.points.emplace_back(r, cell.value.get<double>());
      s.texts.push_back(cell.text);
    }
    if (s.points.empty())
      non_numeric.push_back(s.metric);
    else
      series.push_back(std::move(s));
  }
  rep.metrics = series.size();
  for (auto& s : series) rep.points += s.points.size();

  // 3. Each tensor against the previous version.
  std::optional<WeightsDiff> weights;
  if (n >= 2) {
    rep.parent = m.versions[1].commit.id;
    DiffRequest req;
    req.rev_a = *rep.parent;
    req.rev_b = v.commit;
    req.dirs = {v.dir};
    try {
      DiffResult d = diff_versions(ws, req);
      if (d.models.empty()) {
        rep.weights_note = "nothing changed against the previous version";
      } else if (!d.models.front().weights_compared) {
        const ModelDiff& md = d.models.front();
        rep.weights_note = md.weights_a.empty() || md.weights_b.empty()
                               ? "one of the two versions has no committed weights"
                           : md.weights_a == md.weights_b
                               ? "the weights are the same object as the previous version's: no tensor changed"
                               : "the weights changed, but their tensors were not read";
      } else {
        weights = d.models.front().weights;
        rep.tensors = weights->tensors.size();
        rep.tensors_changed = weights->changed_tensors();
      }
    } catch (const Error& e) {
      if (e.code() != Exit::missing) throw;
      rep.weights_note = std::string("the tensors cannot be compared: ") + e.what();
    }
  } else {
    rep.weights_note = "this is the model's first version: there is no previous version to compare with";
  }

  // The page.
  const LoggedVersion* head = n ? &m.versions.front() : nullptr;
  std::string o = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  o += "<meta name=\"generator\" content=\"mvc " MVC_VERSION_STRING "\">\n";
  o += "<title>mvc report: " + html_escape(shown_dir) + " at " + html_escape(rev) + "</title>\n<style>" + kStyle +
       "</style>\n</head>\n<body>\n";
  o += "<header><h1>" + html_escape(shown_dir) + " at " + html_escape(rev) + "</h1>\n<p class=\"meta\">commit <code>" +
       html_escape(v.commit) + "</code>";
  if (head && head->commit.id == v.commit)
    o += ", " + html_escape(format_time(head->commit.time, head->commit.offset_minutes)) + ", " +
         html_escape(head->commit.author_name) + ": " + html_escape(head->commit.summary);
  o += "<br>architecture " + html_escape(a.name.empty() ? std::string("(unnamed)") : a.name) + " [" +
       html_escape(a.format) + ", " + html_escape(a.dtype) + "], " + std::to_string(rep.layers) + " layers, " +
       util::group_digits(total) + " parameters";
  if (v.pointer)
    o += "<br>weights " + html_escape(v.pointer->pointer.path) + ", " +
         html_escape(human_bytes(v.pointer->pointer.size)) + ", sha256 <code>" +
         html_escape(v.pointer->pointer.weights_digest()) + "</code>";
  else
    o += "<br>weights: not committed";
  o += "</p></header>\n";

  o += "<section id=\"architecture\">\n<h2>Architecture</h2>\n<p class=\"meta\">" + std::to_string(rep.layers) +
       " layers (one node each: name, type, output shape, parameters; dashed: an operation without a module), " +
       util::group_digits(total) + " parameters</p>\n<div class=\"graph\">\n" + graph + "\n</div>\n</section>\n";

  o += "<section id=\"metrics\">\n<h2>Metrics over history</h2>\n<p class=\"meta\">" + std::to_string(n) + " version" +
       (n == 1 ? "" : "s") + " of " + html_escape(shown_dir) + " on the history of " + html_escape(rev) +
       ", oldest first; one point per version that records the metric</p>\n";
  if (series.empty())
    o += "<p class=\"note\" id=\"no-metrics\">No metrics: none of these versions has a numeric value in "
         "metrics.toml.</p>\n";
  o += "<div class=\"charts\">\n";
  for (auto& s : series)
    o += "<figure class=\"chart metric\" data-metric=\"" + html_escape(s.metric) + "\"><figcaption>" +
         html_escape(s.metric) + "</figcaption>\n" + line_chart(s, labels, current) + "\n</figure>\n";
  o += "</div>\n";
  if (!non_numeric.empty()) {
    o += "<p class=\"note\">Not charted (no numeric value): ";
    for (std::size_t i = 0; i < non_numeric.size(); ++i) o += (i ? ", " : "") + html_escape(non_numeric[i]);
    o += "</p>\n";
  }
  // The versions, as a table (the same rows as mvc compare).
  o += "<table class=\"versions\"><tr><th>version</th><th>commit</th>";
  for (std::size_t c = 1; c < table.columns.size(); ++c) o += "<th>" + html_escape(table.columns[c]) + "</th>";
  o += "</tr>\n";
  for (std::size_t r = 0; r < n; ++r) {
    o += "<tr><td>" + html_escape(labels[r].label) + "</td><td><code>" + html_escape(labels[r].short_id) +
         "</code></td>";
    for (std::size_t c = 1; c < table.columns.size(); ++c)
      o += "<td>" + html_escape(table.rows[n - 1 - r][c].text) + "</td>";
    o += "</tr>\n";
  }
  o += "</table>\n</section>\n";

  o += "<section id=\"weights\">\n<h2>Weights: change of each tensor against the previous version</h2>\n";
  if (weights) {
    const VersionLabel& parent = labels[n - 2];
    o += "<p class=\"meta\">" + html_escape(rev) + " against the previous version " + html_escape(parent.label) +
         " (<code>" + html_escape(parent.short_id) + "</code>): " + std::to_string(rep.tensors_changed) + " of " +
         std::to_string(rep.tensors) + " tensors changed, " + util::group_digits(weights->parameters_changed) + " of " +
         util::group_digits(weights->parameters_total) +
         " parameters; bars: relative change ‖B−A‖₂/‖A‖₂, largest first</p>\n";
    if (rep.tensors_changed == 0)
      o += "<p class=\"note\">No tensor changed.</p>\n";
    else
      o += "<figure class=\"chart tensors\">\n" + tensor_chart(*weights) + "\n</figure>\n";
    std::size_t unchanged = rep.tensors - rep.tensors_changed;
    if (unchanged) {
      o += "<details><summary>" + std::to_string(unchanged) + " unchanged tensor" + (unchanged == 1 ? "" : "s") +
           "</summary><ul>\n";
      for (auto& t : weights->tensors)
        if (t.change == TensorDiff::Change::unchanged)
          o += "<li class=\"tensor\" data-tensor=\"" + html_escape(t.name) + "\" data-change=\"unchanged\">" +
               html_escape(t.name) + "</li>\n";
      o += "</ul></details>\n";
    }
  } else {
    o += "<p class=\"note\" id=\"no-tensor-change\">" + html_escape(rep.weights_note) + ".</p>\n";
  }
  o += "</section>\n<footer class=\"meta\"><p>Written by mvc " MVC_VERSION_STRING
       " (mvc report). Self-contained: no script, no external resource.</p></footer>\n</body>\n</html>\n";
  rep.html = std::move(o);
  return rep;
}

}  // namespace mvc::core
