// libFuzzer harness for the architecture parser (parse, expand, expected state_dict, shapes).
// Not part of the CMake build (the test glob takes tests/arch/*.cpp only); its corpus
// (tests/arch/fuzz/corpus) is replayed by tests/arch/test_arch_fuzz.cpp in every test run.
// Build and run with clang:
//
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc -Itests \
//     tests/arch/fuzz/fuzz_arch.cpp src/arch/*.cpp src/util/fs.cpp -o /tmp/fuzz_arch
//   mkdir -p /tmp/arch-corpus && cp tests/arch/fuzz/corpus/* tests/zoo/*/arch.toml /tmp/arch-corpus/
//   /tmp/fuzz_arch -max_len=8192 -dict=tests/arch/fuzz/arch.dict /tmp/arch-corpus
//
// An input is arch.toml, optionally followed by a NUL byte and hparams.toml. Inputs that found
// bugs go into tests/arch/fuzz/corpus.
#include "arch/fuzz/fuzz_arch_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mvc::test::fuzz_arch_one(data, size);
  return 0;
}
