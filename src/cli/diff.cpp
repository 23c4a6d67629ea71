// mvc diff [--cached] [REV_A [REV_B]] [-- PATH...] [--json] [--stat] [--exit-code] [--no-weights]:
// what changed in each model directory between two versions (docs/user-guide.md, "mvc diff").
#include <cmath>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/format.h"
#include "core/diff.h"
#include "core/model_version.h"
#include "core/workspace.h"
#include "mvc/error.h"

namespace mvc::cli {

namespace {

using core::TensorDiff;

struct Opts {
  std::vector<std::string> revs;
  bool cached = false, json = false, stat = false, exit_code = false, no_weights = false;
};

std::string side_name(const std::string& rev) {
  if (rev.empty()) return "work tree";
  if (rev == core::kIndexRev) return "index";
  return rev;
}

std::string num(double v, int digits = 4) {
  if (std::isinf(v)) return "inf";
  char b[64];
  std::snprintf(b, sizeof b, "%.*g", digits, v);
  return b;
}

std::string pct(double f) {
  char b[64];
  std::snprintf(b, sizeof b, "%.2f%%", f * 100);
  return b;
}

std::string shape_str(const std::vector<std::int64_t>& s) {
  std::string r = "[";
  for (std::size_t k = 0; k < s.size(); ++k) r += (k ? ", " : "") + std::to_string(s[k]);
  return r + "]";
}

std::string signed_num(double d) { return (d >= 0 ? "+" : "") + num(d); }

// "+0.02, +2.20%" for a numeric metric change.
std::string metric_delta(const core::ValueChange& c) {
  if (!c.a || !c.b) return "";
  auto x = core::as_number(*c.a), y = core::as_number(*c.b);
  if (!x || !y) return "";
  std::string s = "  (" + signed_num(*y - *x);
  if (*x != 0) s += ", " + (*y - *x >= 0 ? std::string("+") : std::string()) + pct((*y - *x) / std::fabs(*x));
  return s + ")";
}

void print_values(const std::string& title, const std::vector<core::ValueChange>& list, bool metrics) {
  if (list.empty()) return;
  std::cout << title << ":\n";
  for (auto& c : list) {
    if (!c.a)
      std::cout << "  + " << c.key << " = " << *c.b << "\n";
    else if (!c.b)
      std::cout << "  - " << c.key << " = " << *c.a << "\n";
    else
      std::cout << "  ~ " << c.key << ": " << *c.a << " → " << *c.b << (metrics ? metric_delta(c) : "") << "\n";
  }
}

void print_model(const core::ModelDiff& m) {
  using S = core::ModelDiff::Status;
  std::cout << "model " << display_dir(m.dir);
  if (m.status == S::added) {
    std::cout << ": added (" << group_digits(m.arch.parameters_b) << " parameters)\n";
    return;
  }
  if (m.status == S::removed) {
    std::cout << ": removed (" << group_digits(m.arch.parameters_a) << " parameters)\n";
    return;
  }
  std::cout << "\n";
  const core::ArchDiff& a = m.arch;
  if (!a.empty() || a.parameters_a != a.parameters_b) {
    std::cout << "architecture:\n";
    for (auto& h : a.header)
      std::cout << "  ~ " << h.key << ": " << h.a.value_or("(none)") << " → " << h.b.value_or("(none)") << "\n";
    for (auto& l : a.layers) {
      using C = core::LayerDiff::Change;
      if (l.change == C::added)
        std::cout << "  + " << l.name << "  " << l.type_b << "  " << l.shape_b << "  " << group_digits(l.parameters_b)
                  << " parameters\n";
      else if (l.change == C::removed)
        std::cout << "  - " << l.name << "  " << l.type_a << "  " << l.shape_a << "  " << group_digits(l.parameters_a)
                  << " parameters\n";
      else {
        std::cout << "  ~ " << l.name << "  " << (l.type_a == l.type_b ? l.type_b : l.type_a + " → " + l.type_b);
        for (auto& o : l.options)
          std::cout << ", " << o.key << " " << o.a.value_or("(default)") << " → " << o.b.value_or("(default)");
        if (l.shape_a != l.shape_b) std::cout << ", output " << l.shape_a << " → " << l.shape_b;
        if (l.parameters_a != l.parameters_b)
          std::cout << ", parameters " << group_digits(l.parameters_a) << " → " << group_digits(l.parameters_b);
        std::cout << "\n";
      }
    }
    std::cout << "  parameters: " << group_digits(a.parameters_a) << " → " << group_digits(a.parameters_b) << "\n";
  }
  print_values("hparams", m.hparams, false);
  print_values("metrics", m.metrics, true);
  if (m.weights_a != m.weights_b) {
    std::cout << "weights: sha256:" << (m.weights_a.empty() ? "(none)" : short_sha(m.weights_a)) << " → "
              << (m.weights_b.empty() ? "(none)" : short_sha(m.weights_b)) << "\n";
    if (m.weights_compared) {
      for (auto& t : m.weights.tensors) {
        switch (t.change) {
          case TensorDiff::Change::unchanged:
            break;
          case TensorDiff::Change::added:
            std::cout << "  + " << t.name << "  " << t.dtype_b << " " << shape_str(t.shape_b) << "\n";
            break;
          case TensorDiff::Change::removed:
            std::cout << "  - " << t.name << "  " << t.dtype_a << " " << shape_str(t.shape_a) << "\n";
            break;
          case TensorDiff::Change::shape:
            std::cout << "  ! " << t.name << "  shape " << shape_str(t.shape_a) << " → " << shape_str(t.shape_b)
                      << "\n";
            break;
          case TensorDiff::Change::changed:
          case TensorDiff::Change::dtype:
            std::cout << "  ~ " << t.name << "  "
                      << (t.dtype_a == t.dtype_b ? t.dtype_b : t.dtype_a + " → " + t.dtype_b) << " "
                      << shape_str(t.shape_b) << "  relative " << num(t.stats->relative) << "  max|Δ| "
                      << num(t.stats->max_abs) << "  elements changed " << pct(t.stats->fraction) << "\n";
            break;
        }
      }
      std::cout << "  " << m.weights.changed_tensors() << " of " << m.weights.tensors.size()
                << " tensors changed: " << group_digits(m.weights.parameters_changed) << " of "
                << group_digits(m.weights.parameters_total) << " parameters ("
                << pct(m.weights.parameters_total ? static_cast<double>(m.weights.parameters_changed) /
                                                        static_cast<double>(m.weights.parameters_total)
                                                  : 0)
                << ")\n";
    }
  }
}

std::string stat_line(const core::ModelDiff& m) {
  using S = core::ModelDiff::Status;
  std::string s = display_dir(m.dir) + " | ";
  if (m.status == S::added) return s + "added";
  if (m.status == S::removed) return s + "removed";
  std::vector<std::string> parts;
  if (!m.arch.empty())
    parts.push_back("architecture " + std::to_string(m.arch.layers.size()) + " layer" +
                    (m.arch.layers.size() == 1 ? "" : "s") +
                    (m.arch.header.empty() ? "" : " +" + std::to_string(m.arch.header.size()) + " other"));
  if (!m.hparams.empty()) parts.push_back("hparams " + std::to_string(m.hparams.size()));
  if (!m.metrics.empty()) parts.push_back("metrics " + std::to_string(m.metrics.size()));
  if (m.weights_compared)
    parts.push_back("weights " + std::to_string(m.weights.changed_tensors()) + "/" +
                    std::to_string(m.weights.tensors.size()) + " tensors, " +
                    group_digits(m.weights.parameters_changed) + "/" + group_digits(m.weights.parameters_total) +
                    " parameters");
  else if (m.weights_a != m.weights_b)
    parts.push_back("weights changed");
  for (std::size_t k = 0; k < parts.size(); ++k) s += (k ? ", " : "") + parts[k];
  return s;
}

nlohmann::json opt_json(const std::optional<std::string>& v) { return v ? nlohmann::json(*v) : nlohmann::json(); }

nlohmann::json values_json(const std::vector<core::ValueChange>& list, bool metrics) {
  nlohmann::json out = nlohmann::json::array();
  for (auto& c : list) {
    nlohmann::json j = {{"key", c.key},
                        {"change", !c.a   ? "added"
                                   : !c.b ? "removed"
                                          : "changed"},
                        {"a", opt_json(c.a)},
                        {"b", opt_json(c.b)}};
    if (metrics) {
      j["delta"] = nullptr;
      j["relative"] = nullptr;
      std::optional<double> x, y;
      if (c.a) x = core::as_number(*c.a);
      if (c.b) y = core::as_number(*c.b);
      if (x.has_value() && y.has_value()) {
        const double xa = x.value(), yb = y.value();
        j["delta"] = yb - xa;
        if (xa != 0) j["relative"] = (yb - xa) / std::fabs(xa);
      }
    }
    out.push_back(j);
  }
  return out;
}

nlohmann::json model_json(const core::ModelDiff& m) {
  using S = core::ModelDiff::Status;
  nlohmann::json j = {{"path", m.dir},
                      {"status", m.status == S::added     ? "added"
                                 : m.status == S::removed ? "removed"
                                                          : "modified"}};
  nlohmann::json arch = {{"parameters", {{"a", m.arch.parameters_a}, {"b", m.arch.parameters_b}}},
                         {"changes", values_json(m.arch.header, false)},
                         {"layers", nlohmann::json::array()}};
  for (auto& l : m.arch.layers) {
    using C = core::LayerDiff::Change;
    // A side that lacks the layer is null.
    auto side = [&](auto a, auto b) {
      return nlohmann::json{{"a", l.change == C::added ? nlohmann::json() : nlohmann::json(a)},
                            {"b", l.change == C::removed ? nlohmann::json() : nlohmann::json(b)}};
    };
    arch["layers"].push_back({{"name", l.name},
                              {"change", l.change == C::added     ? "added"
                                         : l.change == C::removed ? "removed"
                                                                  : "changed"},
                              {"type", side(l.type_a, l.type_b)},
                              {"output_shape", side(l.shape_a, l.shape_b)},
                              {"parameters", side(l.parameters_a, l.parameters_b)},
                              {"options", values_json(l.options, false)}});
  }
  j["architecture"] = arch;
  j["hparams"] = values_json(m.hparams, false);
  j["metrics"] = values_json(m.metrics, true);
  nlohmann::json w = {{"a", m.weights_a.empty() ? nlohmann::json() : nlohmann::json(m.weights_a)},
                      {"b", m.weights_b.empty() ? nlohmann::json() : nlohmann::json(m.weights_b)},
                      {"compared", m.weights_compared}};
  if (m.weights_compared) {
    w["parameters_changed"] = m.weights.parameters_changed;
    w["parameters_total"] = m.weights.parameters_total;
    w["tensors"] = nlohmann::json::array();
    for (auto& t : m.weights.tensors) {
      const bool has_a = t.change != TensorDiff::Change::added, has_b = t.change != TensorDiff::Change::removed;
      nlohmann::json tj = {{"name", t.name},
                           {"change", core::change_name(t.change)},
                           {"dtype",
                            {{"a", has_a ? nlohmann::json(t.dtype_a) : nlohmann::json()},
                             {"b", has_b ? nlohmann::json(t.dtype_b) : nlohmann::json()}}},
                           {"shape",
                            {{"a", has_a ? nlohmann::json(t.shape_a) : nlohmann::json()},
                             {"b", has_b ? nlohmann::json(t.shape_b) : nlohmann::json()}}},
                           {"numel", t.numel}};
      if (t.stats) {
        tj["relative_change"] = std::isinf(t.stats->relative) ? nlohmann::json() : nlohmann::json(t.stats->relative);
        tj["max_abs_change"] = t.stats->max_abs;
        tj["fraction_changed"] = t.stats->fraction;
        tj["elements_changed"] = t.stats->differing;
      }
      w["tensors"].push_back(tj);
    }
  }
  j["weights"] = w;
  return j;
}

int run_diff(const Opts& o, const std::vector<std::string>& paths) {
  core::DiffRequest req;
  if (o.revs.size() > 2) throw Error(Exit::usage, "diff: two revisions at most; put paths after '--'");
  if (o.cached) {
    if (o.revs.size() > 1)
      throw Error(Exit::usage, "diff: --cached compares one revision (default HEAD) with the index");
    req.rev_a = o.revs.empty() ? "HEAD" : o.revs[0];
    req.rev_b = core::kIndexRev;
  } else if (o.revs.empty()) {
    req.rev_a = core::kIndexRev;
    req.rev_b = "";
  } else {
    req.rev_a = o.revs[0];
    req.rev_b = o.revs.size() == 2 ? o.revs[1] : "";
  }
  for (const std::string* r : {&req.rev_a, &req.rev_b})
    if (*r != core::kIndexRev && !r->empty() && r->rfind(':', 0) == 0)
      throw Error(Exit::usage, "unknown revision '" + *r + "'");
  req.weights = !o.no_weights;
  core::Workspace ws = core::Workspace::open(".");
  for (auto& p : paths) req.dirs.push_back(ws.git().rel(p));
  core::DiffResult r = core::diff_versions(ws, req);
  if (o.json) {
    nlohmann::json out = {
        {"a", side_name(req.rev_a)}, {"b", side_name(req.rev_b)}, {"models", nlohmann::json::array()}};
    for (auto& m : r.models) out["models"].push_back(model_json(m));
    std::cout << out.dump(2) << "\n";
  } else if (o.stat) {
    for (auto& m : r.models) std::cout << stat_line(m) << "\n";
  } else {
    for (std::size_t k = 0; k < r.models.size(); ++k) {
      if (k) std::cout << "\n";
      if (k == 0) std::cout << "diff " << side_name(req.rev_a) << " → " << side_name(req.rev_b) << "\n";
      print_model(r.models[k]);
    }
  }
  if (o.exit_code && !r.models.empty()) return static_cast<int>(Exit::differences);
  return 0;
}

}  // namespace

void add_diff(CLI::App& app, Context& ctx) {
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand(
      "diff", "Compare model versions (git diff's revision rules): architecture, hparams, metrics, weights per tensor");
  cmd->add_option("rev", opts->revs, "[REV_A [REV_B]] [-- PATH...]");
  cmd->add_flag("--cached,--staged", opts->cached, "Compare the index with HEAD (or REV)");
  cmd->add_flag("--json", opts->json, "Machine-readable output (docs/user-guide.md)");
  cmd->add_flag("--stat", opts->stat, "One line per model");
  cmd->add_flag("--exit-code", opts->exit_code, "Exit 8 when there are differences, 0 when there are none");
  cmd->add_flag("--no-weights", opts->no_weights, "Do not read the weights (compare the pointers' objects only)");
  cmd->callback([&ctx, opts] { ctx.action = [&ctx, opts] { return run_diff(*opts, ctx.after_dashdash); }; });
}

}  // namespace mvc::cli
