// The formats mvc migrate reads from other tools: .dvc files (DVC's YAML subset), DVC's MD5s
// (DVC 3's plain md5 and DVC 2's md5-dos2unix), Git LFS pointers, gitattributes patterns.
#include <catch2/catch.hpp>

#include "core/migrate.h"
#include "mvc/error.h"
#include "support.h"

using namespace mvc;
using namespace mvc::test;

namespace {

Exit code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  return Exit::ok;
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("parse_dvc_file reads what DVC 3 and DVC 2 write", "[core][migrate]") {
  // `dvc add` (3.x): https://dvc.org/doc/user-guide/project-structure/dvc-files
  core::DvcFile f = core::parse_dvc_file(
      "outs:\n- md5: a304afb96060aad90176268345e10355\n  size: 14445097\n  hash: md5\n  path: data.xml\n", "d.dvc");
  REQUIRE(f.outs.size() == 1);
  CHECK(f.outs[0].md5 == "a304afb96060aad90176268345e10355");
  CHECK(f.outs[0].size == 14445097u);
  CHECK(f.outs[0].hash == "md5");
  CHECK(f.outs[0].path == "data.xml");
  CHECK(f.outs[0].line == 2);
  // DVC 2 (no hash), an indented sequence, quoted paths, comments, keys mvc skips (meta, desc).
  f = core::parse_dvc_file(
      "# tracked\nouts:\n  - md5: a304afb96060aad90176268345e10355  # the hash\n    path: 'it''s a \"model\".pt'\n"
      "    desc: weights\n    meta:\n      owner: me\n  - path: \"b\\x41\\u00e9.bin\"\n    cache: false\nwdir: ..\n",
      "d.dvc");
  REQUIRE(f.outs.size() == 2);
  CHECK(f.outs[0].hash.empty());
  CHECK(!f.outs[0].size);
  CHECK(f.outs[0].md5 == "a304afb96060aad90176268345e10355");
  CHECK(f.outs[0].path == "it's a \"model\".pt");
  CHECK(f.outs[1].path == "bA\xc3\xa9.bin");
  CHECK(!f.outs[1].cache);
  CHECK(f.wdir == "..");
}

TEST_CASE("parse_dvc_file refuses what it cannot read, naming file and line (exit 7)", "[core][migrate]") {
  struct Case {
    std::string text, message;
  };
  for (const Case& c : std::vector<Case>{
           {"outs:\n- md5: zz\n  path: w\n", "w.dvc:2: md5 'zz' is not 32 lowercase hexadecimal digits"},
           {"outs:\n- md5: a304afb96060aad90176268345e10355\n  size: 12k\n  path: w\n",
            "w.dvc:3: size '12k' is not a number of bytes"},
           {"outs:\n\t- path: w\n", "w.dvc:2: a tab in the indentation (YAML indents with spaces)"},
           {"outs: [{path: w}]\n", "w.dvc:1: flow-style YAML ([...], {...}) is not supported here"},
           {"outs:\n- size: 3\n", "w.dvc:2: an outs entry without a path"},
           {"deps:\n- path: x\n", "w.dvc:1: no 'outs' list (not a .dvc file DVC wrote?)"},
           {"outs:\n- path: 'w\n", "w.dvc:2: unterminated single-quoted string"},
           {"outs:\n- path: w\n  path: v\n", "w.dvc:3: duplicate key 'path' in an outs entry"},
           {"outs:\n- path: w\n md5: x\n", "w.dvc:3: unexpected indentation"},
           {"outs:\n- path: &a w\n", "w.dvc:2: YAML anchors, aliases, tags and block scalars are not supported here"},
       }) {
    INFO(c.text);
    CHECK(code_of([&] { core::parse_dvc_file(c.text, "w.dvc"); }) == Exit::model);
    CHECK(message_of([&] { core::parse_dvc_file(c.text, "w.dvc"); }) == c.message);
  }
}

TEST_CASE("dvc_md5: DVC 3's md5 and DVC 2's md5-dos2unix", "[core][migrate]") {
  TempDir tmp;
  fs::path text = tmp.path() / "t", binary = tmp.path() / "b";
  write_file(text, "a\r\nb\r\n");
  write_file(binary, std::string("\0\r\n", 3));
  CHECK(core::dvc_md5(text, false) == "59b0d7772f0561efb95518f3cb8abc60");   // md5 of the bytes
  CHECK(core::dvc_md5(text, true) == "dd8c6a395b5dd36c56d23275028f526c");    // md5 of "a\nb\n"
  CHECK(core::dvc_md5(binary, true) == "692c8022360661692872fdc730517229");  // binary: unchanged
}

TEST_CASE("parse_lfs_pointer follows the Git LFS pointer spec", "[core][migrate]") {
  std::string oid(64, 'a');
  auto p = core::parse_lfs_pointer("version https://git-lfs.github.com/spec/v1\noid sha256:" + oid + "\nsize 12345\n");
  REQUIRE(p);
  CHECK(p->oid == oid);
  CHECK(p->size == 12345u);
  CHECK(!core::parse_lfs_pointer("version https://git-lfs.github.com/spec/v1\noid sha256:" + oid + "\nsize 1"));
  CHECK(!core::parse_lfs_pointer("version https://git-lfs.github.com/spec/v1\noid md5:" + oid + "\nsize 1\n"));
  CHECK(!core::parse_lfs_pointer("version https://git-lfs.github.com/spec/v1\next-0-foo sha256:" + oid +
                                 "\noid sha256:" + oid + "\nsize 1\n"));
  CHECK(!core::parse_lfs_pointer("hello\n"));
}

TEST_CASE("git_pattern_matches: gitignore(5) rules as .gitattributes uses them", "[core][migrate]") {
  CHECK(core::git_pattern_matches("*.safetensors", "models/clf/weights.safetensors"));
  CHECK(core::git_pattern_matches("weights.safetensors", "models/clf/weights.safetensors"));
  CHECK(core::git_pattern_matches("/models/clf/*.safetensors", "models/clf/weights.safetensors"));
  CHECK(!core::git_pattern_matches("models/*.safetensors", "models/clf/weights.safetensors"));
  CHECK(core::git_pattern_matches("models/**/*.safetensors", "models/clf/weights.safetensors"));
  CHECK(core::git_pattern_matches("**/weights.safetensors", "weights.safetensors"));
  CHECK(core::git_pattern_matches("models/**", "models/clf/weights.safetensors"));
  CHECK(core::git_pattern_matches("*.[sp]a*", "a/w.safetensors"));
  CHECK(!core::git_pattern_matches("*.[!s]*", "a/w.safetensors"));
  CHECK(!core::git_pattern_matches("models/", "models/w.safetensors"));  // a directory pattern
  CHECK(core::git_pattern_matches("w\\*.bin", "w*.bin"));
  CHECK(!core::git_pattern_matches("w\\*.bin", "wx.bin"));
}
