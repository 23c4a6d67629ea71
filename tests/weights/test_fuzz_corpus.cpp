// Replays the libFuzzer corpora (tests/weights/fuzz/corpus_*/) through the fuzz targets'
// bodies under the default compiler: every input either reads or fails with a one-line model
// error (the bodies abort otherwise).
#include <catch2/catch.hpp>

#include "support.h"
#include "weights/fuzz/fuzz_checks.h"

namespace t = mvc::test;
namespace fs = std::filesystem;

namespace {

std::size_t replay(const std::string& corpus, void (*check)(std::string_view)) {
  fs::path dir = t::source_dir() / "tests/weights/fuzz" / corpus;
  REQUIRE(fs::is_directory(dir));
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    INFO(e.path().string());
    check(t::read_file(e.path()));
    ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("fuzz corpora replay: safetensors reader", "[weights][fuzz]") {
  CHECK(replay("corpus_safetensors", mvc::fuzz::check_safetensors) >= 5);
}

TEST_CASE("fuzz corpora replay: unpickler and state-dict reader", "[weights][fuzz]") {
  CHECK(replay("corpus_pickle", mvc::fuzz::check_pickle) >= 5);
}
