#include <catch2/catch.hpp>

#include "core/pointer.h"
#include "mvc/error.h"

using namespace mvc;

namespace {

int code_of(const std::string& text) {
  try {
    core::parse_pointer(text, "p.mvc");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).rfind("p.mvc", 0) == 0);
    return e.exit_code();
  }
  return 0;
}

}  // namespace

TEST_CASE("pointer files round-trip with a stable key order", "[core][pointer]") {
  core::Pointer p;
  p.path = "weights.safetensors";
  p.sha256 = std::string(64, 'a');
  p.size = 4242;
  p.tensors = 4;
  p.parameters = 241;
  std::string text = p.to_toml();
  CHECK(text == "format = 1\npath = \"weights.safetensors\"\nsha256 = \"" + std::string(64, 'a') +
                    "\"\nsize = 4242\nkind = \"safetensors\"\ntensors = 4\nparameters = 241\n");
  p.load.strip_prefix = "module.";
  p.example = core::ExampleRecord{std::string(64, 'b'), std::string(64, 'c'), 1e-5};
  core::Pointer q = core::parse_pointer(p.to_toml(), "p.mvc");
  CHECK(q.to_toml() == p.to_toml());
  CHECK(q.load.strip_prefix == "module.");
  CHECK(q.example->output == std::string(64, 'c'));
}

TEST_CASE("invalid pointers are refused (exit 7), naming the file", "[core][pointer]") {
  std::string sha(64, 'a');
  auto with = [&](const std::string& path, const std::string& s, int format = 1) {
    return "format = " + std::to_string(format) + "\npath = \"" + path + "\"\nsha256 = \"" + s +
           "\"\nsize = 1\nkind = \"safetensors\"\n";
  };
  CHECK(code_of(with("weights.safetensors", sha)) == 0);
  CHECK(code_of(with("../escape", sha)) == 7);
  CHECK(code_of(with("/etc/passwd", sha)) == 7);
  CHECK(code_of(with("a/./b", sha)) == 7);
  CHECK(code_of(with("weights.safetensors", "ABC")) == 7);
  CHECK(code_of(with("weights.safetensors", sha, 2)) == 3);  // a newer format: docs/conventions.md "Compatibility"
  CHECK(code_of(with("weights.safetensors", sha, 0)) == 7);
  CHECK(code_of("format = 1\npath = ") == 7);
  CHECK(core::safe_relative_path("sub/w.safetensors"));
  CHECK_FALSE(core::safe_relative_path("sub//w"));
}

TEST_CASE("a pointer holding merge conflict markers says so, naming the file and the line", "[core][pointer]") {
  const std::string text = "format = 1\npath = \"w.safetensors\"\n<<<<<<< HEAD\nsha256 = \"" + std::string(64, 'a') +
                           "\"\n=======\nsha256 = \"" + std::string(64, 'b') + "\"\n>>>>>>> feature\nsize = 1\n";
  try {
    core::parse_pointer(text, "models/clf/w.safetensors.mvc");
    FAIL("parsed");
  } catch (const Error& e) {
    CHECK(e.exit_code() == 7);
    CHECK(std::string(e.what()).rfind("models/clf/w.safetensors.mvc:3:1: holds merge conflict markers: a conflicted "
                                      "file was staged or committed unresolved",
                                      0) == 0);
  }
}
