#include "cli/format.h"

#include "cli/output.h"

#include <iostream>

namespace mvc::cli {

std::string group_digits(std::uint64_t n) {
  // Built by appending: GCC 12 reports a false -Wrestrict in std::string::insert here.
  const std::string digits = std::to_string(n);
  std::string s;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) s += ',';
    s += digits[i];
  }
  return s;
}

}  // namespace mvc::cli

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
