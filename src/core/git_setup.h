// Every `.gitattributes` line and git config key mvc writes, in one place (docs/repository-format.md,
// "Git settings"): the merge driver and the textconv driver of pointer files, and for
// `install-hooks --global` git's `init.templateDir`. install-hooks / uninstall-hooks go through
// here; installing twice changes nothing, and uninstalling removes exactly what was added (the
// user's other lines and keys stay).
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "core/hooks.h"
#include "git/repo.h"

namespace mvc::core {

/// One line or key and what install/uninstall did to it ("added", "already there", "removed",
/// "not there", "kept (not mvc's: VALUE)").
struct GitSettingChange {
  std::string what;  ///< ".gitattributes: *.mvc merge=mvc diff=mvc", "merge.mvc.driver"
  std::string action;
};

/// The lines mvc adds to the work tree's root `.gitattributes`.
const std::vector<std::string>& attribute_lines();
/// The drivers' config keys and their values for the mvc binary at `mvc_path` (shell-quoted):
/// diff.mvc.textconv, merge.mvc.name, merge.mvc.driver.
std::vector<std::pair<std::string, std::string>> driver_config(const std::filesystem::path& mvc_path);

/// install-hooks' settings in one clone: the drivers' keys in the repository's config file and,
/// when the work tree has `.mvc/`, attribute_lines() in the root `.gitattributes` (staged, so
/// that the next commit carries them to every clone).
std::vector<GitSettingChange> install_repo_settings(git::Repo& repo, const std::filesystem::path& mvc_path);
/// Removes what install_repo_settings added: mvc's lines of `.gitattributes` (the file itself
/// when nothing else is left; staged) and the keys whose values are mvc's.
std::vector<GitSettingChange> uninstall_repo_settings(git::Repo& repo);

/// mvc's template directory for `install-hooks --global`: `$XDG_DATA_HOME/mvc/git-template`
/// (default `~/.local/share/mvc/git-template`).
std::filesystem::path default_template_dir();

struct GlobalSetup {
  std::filesystem::path config_file;   ///< the global config file (git::global_config_file)
  std::filesystem::path template_dir;  ///< where the hooks went
  std::vector<HookInstall> hooks;
  std::vector<GitSettingChange> settings;
};

/// install-hooks --global: mvc's hooks in git's template directory (init.templateDir when the
/// user has one; else default_template_dir(), and init.templateDir set to it), so that every
/// later `git init` and `git clone` gets them, and the drivers' keys in the global config file.
/// Never sets core.hooksPath.
GlobalSetup install_global(const std::filesystem::path& mvc_path, bool force);
/// Undoes install_global: mvc's hooks leave the template directory, init.templateDir is unset
/// when it names mvc's own directory (which is removed when empty), mvc's driver keys go.
GlobalSetup uninstall_global();

}  // namespace mvc::core
