// Replays the libFuzzer corpus of the architecture parser (tests/arch/fuzz/corpus, plus the
// zoo's arch.toml files) through the harness's property check in every test run.
#include <catch2/catch.hpp>

#include "arch/fuzz/fuzz_arch_check.h"
#include "support.h"

namespace fs = std::filesystem;
using namespace mvc;

TEST_CASE("arch fuzz: the corpus replays without a failure", "[arch][fuzz]") {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(test::source_dir() / "tests" / "arch" / "fuzz" / "corpus"))
    files.push_back(e.path());
  for (const auto& e : fs::directory_iterator(test::source_dir() / "tests" / "zoo"))
    files.push_back(e.path() / "arch.toml");
  REQUIRE(files.size() >= 10);
  for (const auto& f : files) {
    INFO(f.string());
    std::string bytes = test::read_file(f);
    mvc::test::fuzz_arch_one(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    // Every prefix of a valid file is handled too (truncated files are the common corruption).
    for (std::size_t n = 0; n < bytes.size(); n += 97)
      mvc::test::fuzz_arch_one(reinterpret_cast<const std::uint8_t*>(bytes.data()), n);
  }
}
