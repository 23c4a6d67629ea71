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
  std::string s = std::to_string(n);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<std::size_t>(i), ",");
  return s;
}

}  // namespace mvc::cli
