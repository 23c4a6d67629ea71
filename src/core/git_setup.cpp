#include "core/git_setup.h"

#include <algorithm>
#include <cstdlib>

#include "mvc/error.h"
#include "util/fs.h"
#include "util/text.h"

namespace mvc::core {

namespace {

constexpr const char* kAttributesFile = ".gitattributes";
constexpr const char* kTemplateKey = "init.templateDir";
constexpr const char* kDriverName = "mvc: a model's weights changed on both sides (resolve with mvc checkout)";
constexpr const char* kTextconvTail = " textconv";
constexpr const char* kDriverTail = " merge-driver %O %A %B %P";

std::string shell_quoted(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += (c == '\'') ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

/// True when `value` is what mvc writes for `key` (whatever mvc binary it names).
bool is_mvc_value(const std::string& key, const std::string& value) {
  if (key == "diff.mvc.textconv") return ends_with(value, kTextconvTail);
  if (key == "merge.mvc.driver") return ends_with(value, kDriverTail);
  if (key == "merge.mvc.name") return value == kDriverName;
  return false;
}

std::string trimmed(std::string_view s) {
  auto a = s.find_first_not_of(" \t\r");
  if (a == std::string_view::npos) return "";
  return std::string(s.substr(a, s.find_last_not_of(" \t\r") - a + 1));
}

void set_keys(const fs::path& file, const std::vector<std::pair<std::string, std::string>>& keys,
              std::vector<GitSettingChange>& out) {
  for (const auto& [key, value] : keys) {
    auto now = git::config_get(file, key);
    if (now && *now == value) {
      out.push_back({key, "already set"});
      continue;
    }
    git::config_set(file, key, value);
    out.push_back({key, now ? "set (was " + *now + ")" : "set"});
  }
}

void unset_keys(const fs::path& file, std::vector<GitSettingChange>& out) {
  for (const auto& [key, value] : driver_config("mvc")) {
    auto now = git::config_get(file, key);
    if (!now) {
      out.push_back({key, "not set"});
    } else if (!is_mvc_value(key, *now)) {
      out.push_back({key, "kept (not mvc's: " + *now + ")"});
    } else {
      git::config_unset(file, key);
      out.push_back({key, "removed"});
    }
  }
}

}  // namespace

const std::vector<std::string>& attribute_lines() {
  static const std::vector<std::string> lines = {"*.mvc merge=mvc diff=mvc"};
  return lines;
}

std::vector<std::pair<std::string, std::string>> driver_config(const fs::path& mvc_path) {
  std::string mvc = shell_quoted(mvc_path.string());
  return {{"diff.mvc.textconv", mvc + kTextconvTail},
          {"merge.mvc.name", kDriverName},
          {"merge.mvc.driver", mvc + kDriverTail}};
}

std::vector<GitSettingChange> install_repo_settings(git::Repo& repo, const fs::path& mvc_path) {
  std::vector<GitSettingChange> out;
  set_keys(repo.config_file(), driver_config(mvc_path), out);
  std::error_code ec;
  if (!fs::is_directory(repo.workdir() / ".mvc", ec)) {
    out.push_back({kAttributesFile, "left alone (no .mvc/ here: run 'mvc init', then 'mvc install-hooks')"});
    return out;
  }
  fs::path file = repo.workdir() / kAttributesFile;
  std::string text = fs::exists(file, ec) ? util::read_file(file) : "";
  std::vector<std::string> present;
  for (std::string_view l : util::split_lines(text)) present.push_back(trimmed(l));
  bool changed = false;
  for (const auto& line : attribute_lines()) {
    std::string what = std::string(kAttributesFile) + ": " + line;
    if (std::find(present.begin(), present.end(), line) != present.end()) {
      out.push_back({what, "already there"});
      continue;
    }
    if (!text.empty() && text.back() != '\n') text += '\n';
    text += line + "\n";
    changed = true;
    out.push_back({what, "added (staged: commit it so that every clone uses mvc's drivers)"});
  }
  if (changed) {
    util::write_file_atomic(file, text);
    repo.stage({kAttributesFile});
  }
  return out;
}

std::vector<GitSettingChange> uninstall_repo_settings(git::Repo& repo) {
  std::vector<GitSettingChange> out;
  unset_keys(repo.config_file(), out);
  fs::path file = repo.workdir() / kAttributesFile;
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) {
    for (const auto& line : attribute_lines()) out.push_back({std::string(kAttributesFile) + ": " + line, "not there"});
    return out;
  }
  const std::string text = util::read_file(file);
  std::string kept;
  bool removed_any = false, anything_left = false;
  std::vector<std::string> removed;
  for (std::string_view l : util::split_lines(text)) {
    std::string t = trimmed(l);
    if (std::find(attribute_lines().begin(), attribute_lines().end(), t) != attribute_lines().end()) {
      removed_any = true;
      removed.push_back(t);
      continue;
    }
    if (!t.empty()) anything_left = true;
    kept += std::string(l) + "\n";
  }
  for (const auto& line : attribute_lines()) {
    bool was = std::find(removed.begin(), removed.end(), line) != removed.end();
    out.push_back({std::string(kAttributesFile) + ": " + line, was ? "removed (staged)" : "not there"});
  }
  if (!removed_any) return out;
  if (anything_left)
    util::write_file_atomic(file, kept);
  else
    fs::remove(file);
  repo.stage({kAttributesFile});
  return out;
}

fs::path default_template_dir() {
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) return fs::path(x) / "mvc/git-template";
  const char* home = std::getenv("HOME");
  if (!home || !*home) throw Error(Exit::failure, "install-hooks --global: HOME is not set");
  return fs::path(home) / ".local/share/mvc/git-template";
}

GlobalSetup install_global(const fs::path& mvc_path, bool force) {
  GlobalSetup g;
  g.config_file = git::global_config_file();
  auto current = git::config_get(g.config_file, kTemplateKey);
  g.template_dir = current ? fs::path(*current) : default_template_dir();
  if (!current) {
    // Before git reads it: a template directory without hooks/ is valid, one that is absent too.
    std::error_code ec;
    fs::create_directories(g.template_dir, ec);
    if (ec) throw Error(Exit::failure, g.template_dir.string() + ": cannot create: " + ec.message());
  }
  g.hooks = install_hooks_in(g.template_dir / "hooks", mvc_path, force);
  std::error_code ec;
  if (current && fs::weakly_canonical(*current, ec) == fs::weakly_canonical(default_template_dir(), ec)) {
    g.settings.push_back({kTemplateKey, "already set"});
  } else if (current) {
    g.settings.push_back({kTemplateKey, "already set (" + *current + "): mvc's hooks were added to it"});
  } else {
    git::config_set(g.config_file, kTemplateKey, g.template_dir.string());
    g.settings.push_back({kTemplateKey, "set"});
  }
  set_keys(g.config_file, driver_config(mvc_path), g.settings);
  return g;
}

GlobalSetup uninstall_global() {
  GlobalSetup g;
  g.config_file = git::global_config_file();
  auto current = git::config_get(g.config_file, kTemplateKey);
  fs::path ours = default_template_dir();
  if (current) {
    g.template_dir = *current;
    g.hooks = uninstall_hooks_in(g.template_dir / "hooks");
    std::error_code ec;
    if (fs::weakly_canonical(g.template_dir, ec) == fs::weakly_canonical(ours, ec)) {
      git::config_unset(g.config_file, kTemplateKey);
      g.settings.push_back({kTemplateKey, "removed"});
      fs::remove(ours / "hooks", ec);  // only when empty
      fs::remove(ours, ec);
    } else {
      g.settings.push_back({kTemplateKey, "kept (" + *current + " is not mvc's; only mvc's hooks left it)"});
    }
  } else {
    g.settings.push_back({kTemplateKey, "not set"});
  }
  unset_keys(g.config_file, g.settings);
  return g;
}

}  // namespace mvc::core
