// mvc — error type and the one table of exit codes (docs/conventions.md, "Errors and exit codes").
#pragma once

#include <stdexcept>
#include <string>

namespace mvc {

/// Process exit codes. Every command maps its failures onto this table; `main` catches
/// mvc::Error once and exits with `code()`.
enum class Exit : int {
  ok = 0,           ///< success
  failure = 1,      ///< any other failure (I/O, git, ...)
  usage = 2,        ///< bad command line
  not_repo = 3,     ///< not a git repository, no .mvc/, or .mvc format too new
  integrity = 4,    ///< an object's bytes do not hash to its name
  missing = 5,      ///< an object is not in the cache (nor on a remote)
  lock = 6,         ///< a lock was still held after waiting
  model = 7,        ///< invalid arch/hparams/weights file, or weights that do not fit the architecture
  differences = 8,  ///< `mvc diff --exit-code` found differences (not a failure)
};

/// The single exception type thrown by mvc code. `what()` is one line, of the form
/// "<what>: <why>", naming the file, revision, key or tensor concerned.
class Error : public std::runtime_error {
 public:
  /// `what()` is `message` made one line of printable text (util::printable, src/util/text.h):
  /// control characters, invalid UTF-8 and invisible characters, which names read from files
  /// may hold, are escaped (a newline as \x0a, ESC as \x1b), so no message can break its line
  /// or drive a terminal.
  Error(Exit code, const std::string& message);
  Exit code() const noexcept { return code_; }
  int exit_code() const noexcept { return static_cast<int>(code_); }

 private:
  Exit code_;
};

}  // namespace mvc
