#include "core/version_table.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "core/toml_view.h"
#include "mvc/error.h"
#include "util/text.h"

namespace mvc::core {

namespace {

using json = nlohmann::ordered_json;

const std::vector<std::string> kFixed = {"commit",  "tags",   "aliases",    "date",
                                         "message", "author", "parameters", "weights"};
const std::vector<std::string> kDefaultFixed = {"commit", "tags", "date"};

/// Nested tables as dotted keys, leaves (arrays included) as they are, in file order.
void flatten(const json& j, const std::string& prefix, std::vector<std::pair<std::string, json>>& out) {
  for (auto& [k, v] : j.items()) {
    std::string key = prefix.empty() ? k : prefix + "." + k;
    if (v.is_object())
      flatten(v, key, out);
    else
      out.emplace_back(key, v);
  }
}

/// A file's flattened values; none for an absent or invalid file (`mvc log` names the problem).
std::map<std::string, json> values_of(const std::optional<std::string>& text, const std::string& name,
                                      std::vector<std::string>& order, std::set<std::string>& seen) {
  std::map<std::string, json> out;
  if (!text) return out;
  std::vector<std::pair<std::string, json>> flat;
  try {
    flatten(toml_values(*text, name), "", flat);
  } catch (const Error&) {
    return out;
  }
  for (auto& [k, v] : flat) {
    if (seen.insert(k).second) order.push_back(k);
    out[k] = std::move(v);
  }
  return out;
}

std::string text_of(const json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return util::printable(v.get_ref<const std::string&>());
  return util::printable(v.dump(-1, ' ', false, json::error_handler_t::replace));
}

/// Where a column's values come from.
struct Column {
  enum class Source { fixed, hparams, metrics } source = Source::fixed;
  std::string key;  ///< the fixed column's name, or the file's dotted key
};

/// Orders two non-null sort keys: numbers by value, strings bytewise, then by type.
int compare_keys(const json& a, const json& b) {
  auto rank = [](const json& v) { return v.is_number() ? 0 : v.is_string() ? 1 : v.is_boolean() ? 2 : 3; };
  int ra = rank(a), rb = rank(b);
  if (ra != rb) return ra < rb ? -1 : 1;
  if (ra == 0) {
    double x = a.get<double>(), y = b.get<double>();
    return x < y ? -1 : y < x ? 1 : 0;
  }
  std::string x = ra == 1 ? a.get<std::string>() : a.dump(), y = rb == 1 ? b.get<std::string>() : b.dump();
  return x.compare(y) < 0 ? -1 : x == y ? 0 : 1;
}

}  // namespace

VersionTable version_table(const ModelLog& log, const TableOptions& opts) {
  const std::size_t n = log.versions.size();
  // Every version's values, and every key in order of first appearance, oldest version first
  // (keys in file order; a key a later version adds comes after the older ones).
  std::vector<std::string> hp_keys, metric_keys;
  std::set<std::string> hp_seen, metric_seen;
  std::vector<std::map<std::string, json>> hp(n), metrics(n);
  for (std::size_t r = n; r-- > 0;) {
    const LoggedVersion& v = log.versions[r];
    hp[r] = values_of(v.hparams_text, v.hparams_name, hp_keys, hp_seen);
    metrics[r] = values_of(v.metrics_text, v.metrics_name, metric_keys, metric_seen);
  }

  // The names of the columns: a key is qualified when it would be ambiguous.
  std::map<std::string, Column> by_name;
  std::vector<std::string> known;  // for suggestions, in display form
  std::map<std::pair<int, std::string>, std::string> display;
  for (auto& f : kFixed) {
    by_name[f] = {Column::Source::fixed, f};
    known.push_back(f);
  }
  std::set<std::string> fixed_set(kFixed.begin(), kFixed.end());
  fixed_set.insert("short");  // a key of the JSON rows
  auto add_keys = [&](const std::vector<std::string>& keys, const std::set<std::string>& other, Column::Source src,
                      const std::string& prefix) {
    for (auto& k : keys) {
      std::string name = (other.count(k) || fixed_set.count(k)) ? prefix + k : k;
      display[{static_cast<int>(src), k}] = name;
      by_name.emplace(name, Column{src, k});
      known.push_back(name);
    }
  };
  add_keys(hp_keys, metric_seen, Column::Source::hparams, "hparams.");
  add_keys(metric_keys, hp_seen, Column::Source::metrics, "metrics.");
  for (auto& k : hp_keys) by_name.emplace("hparams." + k, Column{Column::Source::hparams, k});
  for (auto& k : metric_keys) by_name.emplace("metrics." + k, Column{Column::Source::metrics, k});

  auto lookup = [&](const std::string& name, const char* what) -> std::pair<std::string, Column> {
    auto it = by_name.find(name);
    if (it != by_name.end()) return *it;
    std::string guess = util::closest(name, known);
    throw Error(Exit::usage,
                std::string(what) + " '" + util::printable(name, 64) + "': no such column in " +
                    (log.dir.empty() ? std::string(".") : log.dir) + "'s versions" +
                    (guess.empty() ? "" : "; did you mean '" + guess + "'?") +
                    " (columns: commit, tags, aliases, date, message, author, parameters, weights, and the keys "
                    "of hparams.toml and metrics.toml)");
  };

  auto value = [&](const Column& c, std::size_t r, json* sort_key) -> TableCell {
    const LoggedVersion& v = log.versions[r];
    TableCell cell;
    if (c.source != Column::Source::fixed) {
      auto& m = c.source == Column::Source::hparams ? hp[r] : metrics[r];
      auto it = m.find(c.key);
      if (it != m.end()) cell.value = it->second;
      cell.text = text_of(cell.value);
      if (sort_key) *sort_key = cell.value;
      return cell;
    }
    const git::CommitInfo& ci = v.commit;
    if (c.key == "commit") {
      cell.value = ci.id;
      cell.text = ci.short_id;
    } else if (c.key == "tags") {
      cell.value = v.tags;
      for (auto& t : v.tags) cell.text += (cell.text.empty() ? "" : ", ") + util::printable(t);
      for (auto& a : v.aliases) cell.text += (cell.text.empty() ? "alias:" : ", alias:") + util::printable(a);
      if (sort_key && !cell.text.empty()) *sort_key = cell.text;
      return cell;
    } else if (c.key == "aliases") {
      cell.value = v.aliases;
      for (auto& a : v.aliases) cell.text += (cell.text.empty() ? "" : ", ") + util::printable(a);
      if (sort_key && !cell.text.empty()) *sort_key = cell.text;
      return cell;
    } else if (c.key == "date") {
      cell.value = format_time(ci.time, ci.offset_minutes);
      cell.text = cell.value.get<std::string>();
      if (sort_key) *sort_key = ci.time;
      return cell;
    } else if (c.key == "message") {
      cell.value = ci.summary;
      cell.text = util::printable(ci.summary);
    } else if (c.key == "author") {
      cell.value = ci.author_name;
      cell.text = util::printable(ci.author_name);
    } else if (c.key == "parameters") {
      if (v.pointer) cell.value = v.pointer->pointer.parameters;
      cell.text = text_of(cell.value);
    } else if (c.key == "weights") {
      if (v.pointer) {
        cell.value = v.pointer->pointer.weights_digest();
        cell.text = v.pointer->pointer.weights_digest().substr(0, 8);
      }
    }
    if (sort_key) *sort_key = cell.value;
    return cell;
  };

  // The columns shown.
  std::vector<std::pair<std::string, Column>> shown;
  if (!opts.columns.empty()) {
    for (auto& name : opts.columns) shown.push_back(lookup(name, "column"));
  } else {
    for (auto& f : kDefaultFixed) shown.emplace_back(f, by_name.at(f));
    auto varying = [&](const std::vector<std::map<std::string, json>>& m, const std::string& k) {
      if (n < 2) return true;
      auto it0 = m[0].find(k);
      for (std::size_t r = 1; r < n; ++r) {
        auto it = m[r].find(k);
        if ((it == m[r].end()) != (it0 == m[0].end())) return true;
        if (it != m[r].end() && it->second != it0->second) return true;
      }
      return false;
    };
    for (auto& k : hp_keys)
      if (varying(hp, k)) shown.emplace_back(display.at({1, k}), Column{Column::Source::hparams, k});
    for (auto& k : metric_keys)
      if (varying(metrics, k)) shown.emplace_back(display.at({2, k}), Column{Column::Source::metrics, k});
  }

  // The order of the rows.
  std::vector<std::size_t> order(n);
  for (std::size_t r = 0; r < n; ++r) order[r] = r;
  if (!opts.sort.empty()) {
    bool descending = opts.sort[0] == '-';
    std::string name = descending ? opts.sort.substr(1) : opts.sort;
    Column c = lookup(name, "--sort").second;
    std::vector<json> keys(n);
    for (std::size_t r = 0; r < n; ++r) value(c, r, &keys[r]);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      const json &x = keys[a], &y = keys[b];
      if (x.is_null() || y.is_null()) return !x.is_null() && y.is_null();  // missing values last
      int cmp = compare_keys(x, y);
      return descending ? cmp > 0 : cmp < 0;
    });
  }

  VersionTable t;
  t.dir = log.dir;
  for (auto& [name, c] : shown) t.columns.push_back(name);
  for (auto& k : metric_keys) t.metric_columns.push_back(display.at({2, k}));
  for (std::size_t r : order) {
    std::vector<TableCell> row;
    row.reserve(shown.size());
    for (auto& [name, c] : shown) row.push_back(value(c, r, nullptr));
    t.rows.push_back(std::move(row));
    t.aliases.push_back(log.versions[r].aliases);
  }
  return t;
}

std::string table_json(const VersionTable& t, int indent) {
  json rows = json::array();
  for (std::size_t r = 0; r < t.rows.size(); ++r) {
    json row = json::object();
    for (std::size_t c = 0; c < t.columns.size(); ++c) {
      const TableCell& cell = t.rows[r][c];
      row[t.columns[c]] = cell.value;
      if (t.columns[c] == "commit") row["short"] = cell.text;
      if (t.columns[c] == "tags") row["aliases"] = t.aliases[r];
    }
    rows.push_back(std::move(row));
  }
  json out = {{"path", t.dir}, {"columns", t.columns}, {"rows", std::move(rows)}};
  return out.dump(indent, ' ', false, json::error_handler_t::replace);
}

}  // namespace mvc::core
