#include "cli/transfer_cli.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "mvc/error.h"

namespace mvc::cli {

namespace {
bool g_drawn = false;
}

TransferArgs split_positionals(const core::Workspace& ws, const std::string& remote_opt,
                               const std::vector<std::string>& positional) {
  TransferArgs a;
  a.remote = remote_opt;
  std::size_t i = 0;
  if (a.remote.empty() && !positional.empty() && ws.config().remotes.count(positional[0])) a.remote = positional[i++];
  for (; i < positional.size(); ++i) a.revs.push_back(positional[i]);
  return a;
}

std::string human_bytes(std::uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0) std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(n));
  else std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

core::TransferProgress progress_for(const std::string& verb) {
  if (!::isatty(STDERR_FILENO)) return {};
  return [verb](std::size_t done, std::size_t total, std::uint64_t bytes) {
    std::fprintf(stderr, "\r%s: %zu/%zu objects, %s   ", verb.c_str(), done, total, human_bytes(bytes).c_str());
    std::fflush(stderr);
    g_drawn = true;
  };
}

void end_progress() {
  if (g_drawn) std::fprintf(stderr, "\n");
  g_drawn = false;
}

void report_missing(const std::vector<core::ObjectRef>& missing, const std::string& why) {
  if (missing.empty()) return;
  for (auto& m : missing) std::cerr << "mvc: missing: object " << m.sha256 << " (" << m.where << ") " << why << "\n";
  throw Error(Exit::missing, std::to_string(missing.size()) + " object" + (missing.size() == 1 ? "" : "s") + " " + why +
                                 " (first: " + missing[0].sha256 + ", " + missing[0].where + ")");
}

}  // namespace mvc::cli
