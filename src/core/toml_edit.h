// A line-level editor for the TOML mvc writes (.mvc/config.toml, config.local.toml): it changes
// the text in place so the user's comments, order, blank lines and formatting survive
// (toml++ reads and writes TOML but drops comments). It understands the subset mvc writes:
// comments, blank lines, `[table]` headers and `key = value` lines whose key is bare, quoted or
// dotted and whose value fits on its line (a string, number, boolean, date, or a one-line
// array or inline table, kept as they are). A multi-line string or array, or an array of
// tables (`[[x]]`), makes the file one it cannot edit safely: every edit is then refused
// naming that line.
//
// Every edit is also applied to the parsed table, and text() re-parses the edited text with
// toml++ and compares: when the two differ (a key defined where a line edit cannot reach it,
// e.g. inside an inline table) the edit is refused naming the line, and nothing is written.
#pragma once

#include <toml++/toml.h>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace mvc::core {

class TomlEditor {
 public:
  using Path = std::vector<std::string>;  ///< {"remote", "origin", "url"}
  using Value = std::variant<std::string, std::int64_t>;

  /// Parses `text` (named `name` in messages) with toml++ (Exit `code` on a syntax error) and
  /// scans its lines.
  TomlEditor(std::string text, std::string name, int code);

  /// Sets key `path` to `value`: in place on the line that defines it (keeping what follows
  /// the value, e.g. a comment), else as a new line at the end of its table, else in a new
  /// `[table]` after its siblings (or at the end). Throws Exit::failure when the file cannot be
  /// edited safely.
  void set(const Path& path, const Value& value);
  /// Removes key `path`; a `[table]` left without keys or comments goes too. False when the
  /// key is not defined.
  bool unset(const Path& path);
  /// Removes table `path` and everything below it (with the comment lines directly above its
  /// headers). False when it is not defined.
  bool remove_table(const Path& path);

  /// The edited text, after checking that it parses to exactly the intended table (Exit::failure
  /// naming the line otherwise).
  std::string text() const;
  /// The table as edited.
  const toml::table& table() const { return expected_; }

  /// `"a b"` for a key that is not bare, `ab` for one that is.
  static std::string key_text(const std::string& key);
  /// A TOML basic string (escaped) or an integer.
  static std::string value_text(const Value& value);

 private:
  struct Line {
    enum class Kind { blank, comment, header, keyval } kind = Kind::blank;
    std::string text;                            ///< without its line end
    std::string eol;                             ///< "\n", "\r\n" or "" (last line without one)
    Path path;                                   ///< header: the table; keyval: the full key (table + dotted key)
    std::size_t value_begin = 0, value_end = 0;  ///< keyval: the value's bytes in `text`
  };

  void check_editable() const;
  [[noreturn]] void refuse(std::size_t line, const std::string& why) const;
  std::size_t section_start(std::size_t header) const;  ///< with the comments glued above it
  std::size_t section_end(std::size_t header) const;    ///< the next section's start, or size
  void erase_lines(std::size_t begin, std::size_t end);
  /// Drops `table` and its parents from the expected table while they are empty and no
  /// header in the text defines them (as toml++ reads the text).
  void prune(Path table);
  std::string eol() const;

  std::string name_;
  std::vector<Line> lines_;
  std::size_t bad_line_ = 0;  ///< 1-based line the editor cannot handle, 0 = none
  std::string bad_why_;
  std::size_t touched_ = 0;  ///< 1-based line of the last edit, for messages
  toml::table expected_;
};

}  // namespace mvc::core
