// Small formatting helpers shared by the CLI commands.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/git_setup.h"
#include "util/text.h"

namespace mvc::cli {

/// First 8 hex digits of an object name.
inline std::string short_sha(const std::string& sha) { return sha.substr(0, 8); }
/// "models/clf", or "." for the repository root.
inline std::string display_dir(const std::string& dir) { return dir.empty() ? "." : dir; }
using util::group_digits;  ///< 1234567 → "1,234,567"

/// install-hooks / uninstall-hooks: "hooks in DIR:" then one line per hook.
void print_hooks(const std::filesystem::path& dir, const std::vector<core::HookInstall>& hooks);
/// install-hooks / uninstall-hooks: "WHERE:" then one line per .gitattributes line or config key.
void print_settings(const std::string& where, const std::vector<core::GitSettingChange>& settings);

}  // namespace mvc::cli
