#include "cli/format.h"

#include <ctime>

namespace mvc::cli {

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
