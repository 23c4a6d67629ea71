// util::printable and mvc::Error: text from files made one printable line.
#include <catch2/catch.hpp>

#include "mvc/error.h"
#include "util/text.h"

using mvc::util::printable;

TEST_CASE("printable: control characters and invalid UTF-8 are escaped, printable text kept", "[util][text]") {
  CHECK(printable("linear1.weight") == "linear1.weight");
  CHECK(printable("evil\n\x1b[31mred") == "evil\\x0a\\x1b[31mred");
  CHECK(printable(std::string("a\0b\r\t\x7f", 6)) == "a\\x00b\\x0d\\x09\\x7f");
  CHECK(printable("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x99\x82") ==
        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x99\x82");                       // é € 🙂
  CHECK(printable("\xff\xc3(\xe2\x82") == "\\xff\\xc3(\\xe2\\x82");         // invalid, truncated sequences
  CHECK(printable("\xc0\xaf\xed\xa0\x80") == "\\xc0\\xaf\\xed\\xa0\\x80");  // overlong, surrogate
  // C1 controls (CSI U+009B), line and paragraph separators, bidi overrides, BOM.
  CHECK(printable("a\xc2\x9b"
                  "b\xe2\x80\xa8"
                  "c\xe2\x80\xae"
                  "d\xef\xbb\xbf") == "a\\u009bb\\u2028c\\u202ed\\ufeff");
  // Backslashes are kept, so escaping twice changes nothing.
  const std::string once = printable("x\n\\x0a\x1b");
  CHECK(once == "x\\x0a\\x0a\\x1b");
  CHECK(printable(once) == once);
  CHECK(printable("abcdef", 3) == "abc...");
  CHECK(printable("abc", 3) == "abc");
}

TEST_CASE("mvc::Error: what() is the message made one printable line", "[util][text]") {
  mvc::Error e(mvc::Exit::model, "w.safetensors: tensor 'a\nb\x1b[2J': bad");
  CHECK(std::string(e.what()) == "w.safetensors: tensor 'a\\x0ab\\x1b[2J': bad");
  CHECK(e.code() == mvc::Exit::model);
  CHECK(std::string(mvc::Error(mvc::Exit::failure, "plain: text \xc3\xa9").what()) == "plain: text \xc3\xa9");
}

TEST_CASE("conflict_marker_line: the first line git's conflict markers start", "[util][text]") {
  using mvc::util::conflict_marker_line;
  CHECK(conflict_marker_line("a = 1\n<<<<<<< HEAD\nb = 1\n=======\nb = 2\n>>>>>>> feature\n") == 2);
  CHECK(conflict_marker_line("a = 1\r\n=======\r\n") == 2);               // CRLF files too
  CHECK(conflict_marker_line("||||||| merged common ancestors\n") == 1);  // diff3 style
  CHECK(conflict_marker_line(">>>>>>>") == 1);
  CHECK(conflict_marker_line("a = 1\nb = \"<<<<<<< HEAD\"\n") == 0);      // not at a line's start
  CHECK(conflict_marker_line("<<<<<<<<< x\n======= x\n<<<<<<x\n") == 0);  // not 7 characters then a space
  CHECK(conflict_marker_line("") == 0);
}

TEST_CASE("split_lines: LF and CRLF lines, no empty last line for a final newline", "[util][text]") {
  using mvc::util::first_line;
  using mvc::util::split_lines;
  CHECK(split_lines("").empty());
  CHECK(split_lines("a\nb\r\n\nc") == std::vector<std::string_view>{"a", "b", "", "c"});
  CHECK(split_lines("x\n") == std::vector<std::string_view>{"x"});
  CHECK(first_line("ref: refs/heads/main\r\n") == "ref: refs/heads/main");
  CHECK(first_line("").empty());
}
