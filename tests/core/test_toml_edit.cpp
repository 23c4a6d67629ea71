// The line-level TOML editor keeps everything it does not change byte for byte.
#include <catch2/catch.hpp>

#include "core/toml_edit.h"
#include "mvc/error.h"

using namespace mvc;
using core::TomlEditor;

namespace {

const char* kCommented =
    "# Team configuration: ask #ml-infra before changing remotes\n"
    "format = 1\n"
    "\n"
    "[core]\n"
    "remote = \"origin\"   # the default remote\n"
    "\n"
    "# Our main bucket\n"
    "[remote.origin]\n"
    "  url = 's3://team/models'  # literal string, indented\n"
    "  region = \"eu-west-1\"\n"
    "\n"
    "# the NAS, for large checkpoints\n"
    "[remote.\"nas.local\"]\n"
    "url = \"/mnt/nas/mvc\"\n";

int code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.exit_code();
  }
  return 0;
}

}  // namespace

TEST_CASE("toml edit: setting a key in place keeps the line's comment and indentation", "[core][toml_edit]") {
  TomlEditor ed(kCommented, "config.toml", 3);
  ed.set({"remote", "origin", "url"}, std::string("s3://team/v2"));
  ed.set({"core", "remote"}, std::string("nas.local"));
  std::string want = kCommented;
  want.replace(want.find("'s3://team/models'"), 18, "\"s3://team/v2\"");
  want.replace(want.find("\"origin\"   #"), 8, "\"nas.local\"");
  CHECK(ed.text() == want);
}

TEST_CASE("toml edit: a new key goes after its table's last key, a new table after its siblings", "[core][toml_edit]") {
  TomlEditor ed(kCommented, "config.toml", 3);
  ed.set({"remote", "origin", "part_size"}, std::int64_t{5242880});
  ed.set({"remote", "backup", "url"}, std::string("/srv/back\"up"));
  ed.set({"cache", "dir"}, std::string("/srv/cache"));
  std::string want = kCommented;
  want.replace(want.find("  region = \"eu-west-1\"\n") + 23, 0, "  part_size = 5242880\n");
  want += "\n[remote.backup]\nurl = \"/srv/back\\\"up\"\n\n[cache]\ndir = \"/srv/cache\"\n";
  CHECK(ed.text() == want);
}

TEST_CASE("toml edit: removing a table takes its comment block, unsetting the last key its header",
          "[core][toml_edit]") {
  TomlEditor ed(kCommented, "config.toml", 3);
  CHECK(ed.remove_table({"remote", "origin"}));
  CHECK(ed.unset({"core", "remote"}));
  CHECK_FALSE(ed.unset({"core", "remote"}));
  CHECK_FALSE(ed.remove_table({"remote", "nope"}));
  CHECK(ed.text() ==
        "# Team configuration: ask #ml-infra before changing remotes\n"
        "format = 1\n"
        "\n"
        "# the NAS, for large checkpoints\n"
        "[remote.\"nas.local\"]\n"
        "url = \"/mnt/nas/mvc\"\n");
  // The last table: no blank line left at the end.
  TomlEditor ed2("format = 1\n\n[remote.a]\nurl = \"/a\"\n", "c.toml", 3);
  CHECK(ed2.remove_table({"remote", "a"}));
  CHECK(ed2.text() == "format = 1\n");
}

TEST_CASE("toml edit: CRLF files stay CRLF, a missing final newline is added before appending", "[core][toml_edit]") {
  TomlEditor ed("format = 1\r\n[core]\r\nremote = \"a\"", "c.toml", 3);
  ed.set({"core", "remote"}, std::string("b"));
  ed.set({"cache", "dir"}, std::string("x"));
  CHECK(ed.text() == "format = 1\r\n[core]\r\nremote = \"b\"\r\n\r\n[cache]\r\ndir = \"x\"\r\n");
}

TEST_CASE("toml edit: what a line edit cannot reach is refused naming the line", "[core][toml_edit][bad-input]") {
  // A multi-line string, an array of tables: the whole file is refused, naming the line.
  for (std::string text :
       {std::string("format = 1\nnote = \"\"\"\nmany\nlines\"\"\"\n"), std::string("format = 1\n[[hooks]]\nx = 1\n"),
        std::string("format = 1\nlist = [\n  1,\n]\n")}) {
    TomlEditor ed(text, "c.toml", 3);
    try {
      ed.set({"core", "remote"}, std::string("a"));
      FAIL("accepted " << text);
    } catch (const Error& e) {
      CHECK(e.exit_code() == 1);
      CHECK(std::string(e.what()).find("c.toml:2: cannot edit this file safely") == 0);
    }
  }
  // A key inside an inline table: the re-parse check catches it.
  TomlEditor ed("format = 1\nremote = { origin = { url = \"/a\" } }\n", "c.toml", 3);
  ed.set({"remote", "origin", "url"}, std::string("/b"));
  CHECK(code_of([&] { (void)ed.text(); }) == 1);
  // A syntax error is the parser's, with the given code.
  CHECK(code_of([] { TomlEditor("format = = 1\n", "c.toml", 3); }) == 3);
}
