#include "core/log.h"

#include "core/pointer_json.h"

#include <ctime>
#include <map>
#include <nlohmann/json.hpp>

#include "core/alias.h"
#include "core/model_version.h"
#include "core/pointer_json.h"
#include "core/toml_view.h"
#include "mvc/error.h"

namespace mvc::core {

LogResult model_log(const Workspace& ws, const std::optional<std::string>& dir, bool all, const std::string& from) {
  const git::Repo& g = ws.git();
  LogResult r;
  r.shallow = g.is_shallow();
  if (from.empty() && g.head_unborn()) return r;
  std::string head = from.empty() ? g.resolve_commit("HEAD") : from;
  std::vector<std::string> tips = all ? g.branch_and_tag_commits() : std::vector<std::string>{head};
  std::vector<std::string> dirs = dir ? std::vector<std::string>{*dir} : model_dirs_at(ws, head);

  std::map<std::string, std::vector<std::string>> tags_of;
  for (auto& [name, id] : g.tags()) tags_of[id].push_back(name);
  // The work tree's aliases, as resolution reads them; an aliases file mvc cannot read (unmerged,
  // too new) shows none here: mvc alias names the problem.
  AliasMap aliases;
  try {
    aliases = read_aliases(ws);
  } catch (const Error&) {
  }

  for (auto& d : dirs) {
    ModelLog m;
    m.dir = d;
    std::map<std::string, std::vector<std::string>> aliases_of;  // commit -> alias names of this model
    if (auto a = aliases.find(normalize_dir(d)); a != aliases.end())
      for (auto& [name, id] : a->second) aliases_of[id].push_back(name);
    for (auto& c : g.log(tips, d)) {
      LoggedVersion v;
      v.pointer = pointer_at(ws, c.id, d);
      v.tags = tags_of[c.id];
      v.aliases = aliases_of[c.id];
      v.hparams_name = join(d, kHparamsFile) + " at " + c.short_id;
      v.metrics_name = join(d, kMetricsFile) + " at " + c.short_id;
      v.hparams_text = g.read_blob_at(c.id, join(d, kHparamsFile));
      v.metrics_text = g.read_blob_at(c.id, join(d, kMetricsFile));
      v.commit = std::move(c);
      m.versions.push_back(std::move(v));
    }
    // A path named on purpose that is no model now and never was one is a mistake, as
    // `git log -- PATH` says of a path it does not know.
    if (dir && m.versions.empty() && !fs::is_regular_file(ws.root() / d / kArchFile))
      throw Error(Exit::usage, (d.empty() ? std::string(".") : d) +
                                   ": not a model directory (no arch.toml, and none in the history of HEAD)");
    r.models.push_back(std::move(m));
  }
  return r;
}

namespace {

/// A file's values ({} when absent); an invalid file gives null and `<key>_error`.
void put_values(nlohmann::ordered_json& v, const std::string& key, const std::optional<std::string>& text,
                const std::string& name) {
  if (!text) {
    v[key] = nlohmann::ordered_json::object();
    return;
  }
  try {
    v[key] = toml_values(*text, name);
  } catch (const Error& e) {
    v[key] = nullptr;
    v[key + "_error"] = e.what();
  }
}

}  // namespace

std::string log_json(const LogResult& log, int indent) {
  nlohmann::ordered_json models = nlohmann::ordered_json::array();
  for (auto& m : log.models) {
    nlohmann::ordered_json versions = nlohmann::ordered_json::array();
    for (auto& lv : m.versions) {
      const git::CommitInfo& c = lv.commit;
      nlohmann::ordered_json v = {{"path", m.dir},           {"commit", c.id},
                                  {"short", c.short_id},     {"tags", lv.tags},
                                  {"aliases", lv.aliases},   {"date", format_time(c.time, c.offset_minutes)},
                                  {"timestamp", c.time},     {"author", c.author_name},
                                  {"email", c.author_email}, {"message", c.summary}};
      if (lv.pointer) {
        v["weights"] = weights_record(lv.pointer->pointer);
      } else {
        v["weights"] = nullptr;
      }
      put_values(v, "hparams", lv.hparams_text, lv.hparams_name);
      put_values(v, "metrics", lv.metrics_text, lv.metrics_name);
      versions.push_back(std::move(v));
    }
    models.push_back({{"path", m.dir}, {"versions", std::move(versions)}});
  }
  nlohmann::ordered_json out = {{"models", std::move(models)}, {"shallow", log.shallow}};
  return out.dump(indent, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string format_time(std::int64_t seconds, int offset_minutes) {
  std::time_t t = static_cast<std::time_t>(seconds + offset_minutes * 60);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  int off = offset_minutes < 0 ? -offset_minutes : offset_minutes;
  char z[16];
  std::snprintf(z, sizeof z, " %c%02d%02d", offset_minutes < 0 ? '-' : '+', off / 60, off % 60);
  return std::string(buf) + z;
}

}  // namespace mvc::core
