#include "cli/format.h"

#include "cli/output.h"

#include <iostream>

namespace mvc::cli {}  // namespace mvc::cli

namespace mvc::cli {

void print_hooks(const std::filesystem::path& dir, const std::vector<core::HookInstall>& hooks) {
  info() << "hooks in " << dir.string() << ":\n";
  for (auto& h : hooks) info() << "  " << h.name << ": " << h.action << "\n";
}

void print_settings(const std::string& where, const std::vector<core::GitSettingChange>& settings) {
  info() << where << ":\n";
  for (auto& s : settings) info() << "  " << s.what << ": " << s.action << "\n";
}

}  // namespace mvc::cli
