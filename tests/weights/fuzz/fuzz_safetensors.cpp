// libFuzzer target for the safetensors header reader. Built by tests/CMakeLists.txt when
// clang++ is present (target `fuzz_safetensors`, in build/fuzz/):
//
//   build/fuzz/fuzz_safetensors -max_len=4096 tests/weights/fuzz/corpus_safetensors
//
// The input is a whole file; see fuzz_checks.h for what counts as a bug. The corpus is replayed
// by the normal test run (tests/weights/test_fuzz_corpus.cpp).
#include "fuzz_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mvc::fuzz::check_safetensors(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
