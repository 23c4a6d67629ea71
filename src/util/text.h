// Text helpers with no domain knowledge: making untrusted strings (names read from files,
// paths, third-party messages) safe to print on one line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mvc::util {

/// Length in bytes of the valid UTF-8 sequence (RFC 3629: no overlong forms, no surrogates,
/// nothing above U+10FFFF) at the start of `s`, or 0 when `s` is empty or does not start with one.
std::size_t utf8_sequence_length(std::string_view s);

/// `s` as one line of printable text: printable ASCII and valid UTF-8 of printable characters
/// are kept as they are; every other byte is written as the four characters \xNN (lowercase
/// hex: a newline becomes \x0a, ESC \x1b, an invalid UTF-8 byte \xff), and the invisible or
/// line-breaking characters U+0080-U+009F (C1 controls), U+061C, U+200E, U+200F, U+2028,
/// U+2029, U+202A-U+202E, U+2066-U+2069 and U+FEFF as \uNNNN. Backslashes are kept, so
/// printable(printable(s)) == printable(s). When `s` is longer than `max` bytes, the
/// result ends with "..." after the first `max` bytes' worth.
std::string printable(std::string_view s, std::size_t max = std::string_view::npos);

/// The 1-based number of the first line of `text` that is a merge conflict marker as git writes
/// them ("<<<<<<< ours", "|||||||", "=======", ">>>>>>> theirs" at the start of a line), or 0.
/// Readers ask only once a file fails to parse, to say why: a conflicted file was staged or
/// committed unresolved.
std::size_t conflict_marker_line(std::string_view text);
/// What a message says of such a file, after its name and line.
inline constexpr const char* kConflictMarkersWhy =
    "holds merge conflict markers: a conflicted file was staged or committed unresolved (put back one version of "
    "it: 'mvc checkout --ours|--theirs DIR' during the merge, 'mvc checkout REV -- DIR' after it)";

/// Thousands separators: 1234567 → "1,234,567".
std::string group_digits(std::uint64_t n);

/// The lines of `text`, each without its "\n" and a "\r" before it (git's files on any
/// platform); no empty last line for a final newline. The views point into `text`.
std::vector<std::string_view> split_lines(std::string_view text);
/// The first line of `text` (split_lines), "" when there is none.
std::string first_line(std::string_view text);

/// Damerau-Levenshtein distance (optimal string alignment: insertions, deletions,
/// substitutions and transpositions of two adjacent bytes each cost 1) between `a` and `b`.
std::size_t edit_distance(std::string_view a, std::string_view b);

/// The candidate nearest to `word` by edit_distance, for "did you mean ...?": "" when none is
/// within max(1, word.size() / 3) edits (a guess further off helps no one). Ties go to the
/// first candidate.
std::string closest(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace mvc::util
