#include "cli/format.h"

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
