#include "cli/output.h"

#include <unistd.h>

#include <iostream>

namespace mvc::cli {

namespace {
bool g_quiet = false, g_verbose = false;

std::ostream& null_stream() {
  static std::ostream none(nullptr);  // no buffer: every write is dropped
  return none;
}

void add_to(CLI::App* app) {
  app->add_flag("-q,--quiet", g_quiet, "Print only errors and the data the command exists to print; no progress");
  app->add_flag("-v,--verbose", g_verbose, "Print details too (which object went where)");
  for (CLI::App* sub : app->get_subcommands([](const CLI::App*) { return true; })) add_to(sub);
}
}  // namespace

Verbosity verbosity() {
  if (g_quiet) return Verbosity::quiet;
  return g_verbose ? Verbosity::verbose : Verbosity::normal;
}

std::ostream& info() { return is_quiet() ? null_stream() : std::cout; }
std::ostream& info_err() { return is_quiet() ? null_stream() : std::cerr; }
std::ostream& detail() { return is_verbose() ? std::cout : null_stream(); }

void add_verbosity_flags(CLI::App& app) { add_to(&app); }

void check_verbosity() {
  if (g_quiet && g_verbose) throw CLI::ValidationError("-q/--quiet and -v/--verbose exclude each other");
}

ProgressDisplay::ProgressDisplay(const std::string& label) {
  if (!is_quiet() && ::isatty(STDERR_FILENO)) tp_ = std::make_unique<util::TerminalProgress>(stderr, label);
}

}  // namespace mvc::cli
