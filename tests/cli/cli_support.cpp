#include "cli/cli_support.h"

#include <regex>

namespace mvc::test {

std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator(); ++it) {
    std::string rel = it->path().lexically_relative(dir).generic_string();
    if (rel.rfind(".git/", 0) == 0 || rel == ".git") {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (it->is_symlink())
      out[rel] = "-> " + fs::read_symlink(it->path()).string();
    else if (it->is_regular_file())
      out[rel] = read_file(it->path());
  }
  return out;
}

std::string pointer_sha(const fs::path& pointer_file) {
  std::string text = read_file(pointer_file);
  std::smatch m;
  REQUIRE(std::regex_search(text, m, std::regex("sha256 = \"([0-9a-f]{64})\"")));
  return m[1];
}

}  // namespace mvc::test
