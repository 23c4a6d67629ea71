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
  CHECK(code_of(with("weights.safetensors", sha, 4)) == 3);  // a newer format: docs/conventions.md "Compatibility"
  CHECK(code_of(with("weights.safetensors", sha, 2)) == 7);  // format 2 lists its files in [[files]]
  CHECK(code_of(with("weights.safetensors", sha, 3)) == 7);  // so does format 3 (optimizer state)
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

namespace {

core::Pointer three_shards() {
  core::Pointer p;
  std::vector<core::WeightsFileRecord> files;
  for (int k = 1; k <= 3; ++k) {
    core::WeightsFileRecord f;
    f.path = "model-0000" + std::to_string(k) + "-of-00003.safetensors";
    f.sha256 = std::string(64, static_cast<char>('a' + k));
    // The third shard is over 4 GiB: sizes are 64-bit in the pointer and in its reader.
    f.size = k == 3 ? (5ull << 30) + 7 : 1000u * static_cast<unsigned>(k);
    f.tensors = static_cast<std::uint64_t>(k);
    files.push_back(f);
  }
  p.set_files(files);
  p.tensors = 6;
  p.parameters = 1234;
  return p;
}

}  // namespace

TEST_CASE("sharded weights write pointer format 2, and one file still writes format 1", "[core][pointer][shards]") {
  core::Pointer p = three_shards();
  const std::string text = p.to_toml();
  CHECK(text ==
        "format = 2\ntensors = 6\nparameters = 1234\n"
        "\n[[files]]\npath = \"model-00001-of-00003.safetensors\"\nsha256 = \"" +
            std::string(64, 'b') +
            "\"\nsize = 1000\nkind = \"safetensors\"\ntensors = 1\n"
            "\n[[files]]\npath = \"model-00002-of-00003.safetensors\"\nsha256 = \"" +
            std::string(64, 'c') +
            "\"\nsize = 2000\nkind = \"safetensors\"\ntensors = 2\n"
            "\n[[files]]\npath = \"model-00003-of-00003.safetensors\"\nsha256 = \"" +
            std::string(64, 'd') + "\"\nsize = 5368709127\nkind = \"safetensors\"\ntensors = 3\n");
  core::Pointer q = core::parse_pointer(text, "p.mvc");
  CHECK(q.format == 2);
  REQUIRE(q.files().size() == 3);
  CHECK(q.files()[2].size == (5ull << 30) + 7);
  CHECK(q.total_size() == 3000 + (5ull << 30) + 7);
  CHECK(q.path == "model-00001-of-00003.safetensors");  // the first file's keys, for code about one file
  CHECK(q.sha256 == std::string(64, 'b'));
  CHECK(q.to_toml() == text);

  // A single file: format 1, byte for byte (docs/conventions.md, "Compatibility").
  core::Pointer one;
  one.set_files({p.files()[2]});
  one.tensors = 3;
  CHECK(one.to_toml().rfind("format = 1\npath = \"model-00003-of-00003.safetensors\"\n", 0) == 0);
  CHECK(one.to_toml().find("size = 5368709127\n") != std::string::npos);
  CHECK(core::parse_pointer(one.to_toml(), "p.mvc").size == (5ull << 30) + 7);
}

TEST_CASE("a format 2 pointer read by an mvc that reads format 1 is refused with exit 3", "[core][pointer][shards]") {
  const std::string text = three_shards().to_toml();
  try {
    core::parse_pointer(text, "models/clf/model.safetensors.mvc", 1);  // as the previous mvc reads it
    FAIL("format 2 was read as format 1");
  } catch (const Error& e) {
    CHECK(e.exit_code() == 3);
    CHECK(std::string(e.what()) ==
          "models/clf/model.safetensors.mvc: pointer format 2 needs a newer mvc (this one reads format 1)");
  }
}

TEST_CASE("invalid format 2 pointers are refused (exit 7), naming the file", "[core][pointer][shards]") {
  std::string text = three_shards().to_toml();
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string t = text;
    t.replace(t.find(from), from.size(), to);
    return t;
  };
  CHECK(code_of(text) == 0);
  CHECK(code_of("format = 2\ntensors = 1\n") == 7);                               // no [[files]]
  CHECK(code_of(replaced("model-00002-of-00003", "model-00001-of-00003")) == 7);  // one path twice
  CHECK(code_of(replaced("model-00002-of-00003.safetensors", "../x.safetensors")) == 7);
  CHECK(code_of(replaced("kind = \"safetensors\"\ntensors = 2", "kind = \"torch-zip\"\ntensors = 2")) == 7);
  CHECK(code_of(replaced(std::string(64, 'c'), "abc")) == 7);
}

TEST_CASE("a pointer with optimizer state is format 3 and round-trips, a bad [optimizer] is refused",
          "[core][pointer][optimizer]") {
  core::Pointer p;
  p.path = "weights.safetensors";
  p.sha256 = std::string(64, 'a');
  p.size = 10;
  p.tensors = 4;
  p.optimizer = core::WeightsFileRecord{"optimizer.safetensors", std::string(64, 'b'), 20, "safetensors", 6};
  const std::string text = p.to_toml();
  CHECK(text.rfind("format = 3\ntensors = 4\nparameters = 0\n\n[[files]]\npath = \"weights.safetensors\"\n", 0) == 0);
  CHECK(text.find("\n[optimizer]\npath = \"optimizer.safetensors\"\nsha256 = \"" + std::string(64, 'b') +
                  "\"\nsize = 20\nkind = \"safetensors\"\ntensors = 6\n") != std::string::npos);
  core::Pointer q = core::parse_pointer(text, "p.mvc");
  CHECK(q.to_toml() == text);
  CHECK(q.weights_digest() == std::string(64, 'a'));  // the weights' digest ignores the state
  REQUIRE(q.stored_files().size() == 2);
  CHECK(q.stored_files()[1].path == "optimizer.safetensors");
  CHECK(q.files().size() == 1);
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string t = text;
    t.replace(t.rfind(from), from.size(), to);
    return t;
  };
  CHECK(code_of(replaced("kind = \"safetensors\"\ntensors = 6", "kind = \"torch-zip\"\ntensors = 6")) == 7);
  CHECK(code_of(replaced("path = \"optimizer.safetensors\"", "path = \"weights.safetensors\"")) == 7);
  CHECK(code_of(replaced("path = \"optimizer.safetensors\"", "path = \"../x\"")) == 7);
  p.optimizer.reset();
  CHECK(p.to_toml().rfind("format = 1\npath = \"weights.safetensors\"\n", 0) == 0);  // no state: format 1
}
