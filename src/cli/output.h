// What the CLI prints besides errors, by verbosity (-q/--quiet, -v/--verbose, accepted by every
// command): the one place that decides. Data a command exists to print (log, show, status,
// diff, config get/list, remote list/show, alias list, fsck's findings, the hooks' messages to
// git) goes to std::cout directly and is never silenced; informational lines (what commit,
// checkout, push... did) go to info(), silenced by -q; details (which object went where) to
// detail(), shown with -v only. Errors are main()'s and always shown. Progress (progress()) is
// drawn on stderr only when it is a terminal and not -q.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <ostream>
#include <string>

#include "util/progress.h"

namespace mvc::cli {

enum class Verbosity { quiet, normal, verbose };
Verbosity verbosity();
inline bool is_quiet() { return verbosity() == Verbosity::quiet; }
inline bool is_verbose() { return verbosity() == Verbosity::verbose; }

/// stdout, unless -q.
std::ostream& info();
/// stderr notes that are not errors, unless -q.
std::ostream& info_err();
/// stdout, only with -v.
std::ostream& detail();

/// Adds -q/--quiet and -v/--verbose to `app` and to every subcommand below it (call after
/// registering the commands), so they are accepted before or after the command's name.
void add_verbosity_flags(CLI::App& app);
/// After parsing: throws CLI::ValidationError when both were given.
void check_verbosity();

/// A progress display labelled `label` ("commit") on stderr when stderr is a terminal and -q
/// was not given, else a sink that shows nothing. finish() it for the summary line.
class ProgressDisplay {
 public:
  explicit ProgressDisplay(const std::string& label);
  util::Progress& sink() { return tp_ ? static_cast<util::Progress&>(*tp_) : util::no_progress(); }
  operator util::Progress&() { return sink(); }
  /// The summary line (see util::TerminalProgress::finish).
  void finish(const std::string& summary = {}) {
    if (tp_) tp_->finish(summary);
  }

 private:
  std::unique_ptr<util::TerminalProgress> tp_;
};

}  // namespace mvc::cli
