// libFuzzer target for the restricted unpickler and the state-dict reader of torch.save
// checkpoints (data.pkl). Built by tests/CMakeLists.txt when clang++ is present:
//
//   build/fuzz/fuzz_pickle -max_len=8192 tests/weights/fuzz/corpus_pickle
//
// The input is one option byte, then a data.pkl; see fuzz_checks.h. The corpus is replayed by
// the normal test run (tests/weights/test_fuzz_corpus.cpp).
#include "fuzz_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mvc::fuzz::check_pickle(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
