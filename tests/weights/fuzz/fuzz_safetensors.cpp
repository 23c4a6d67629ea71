// libFuzzer harness for the safetensors header reader (not part of the CMake build: the test
// glob takes tests/weights/*.cpp only). Build and run with clang:
//
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc \
//     tests/weights/fuzz/fuzz_safetensors.cpp src/weights/safetensors.cpp src/weights/dtype.cpp \
//     src/util/fs.cpp -o /tmp/fuzz_safetensors
//   mkdir -p /tmp/corpus && cp "$FIXTURES"/*/weights.safetensors /tmp/corpus/ 2>/dev/null
//   /tmp/fuzz_safetensors -max_len=4096 /tmp/corpus
//
// The input is a whole file. The reader may accept it or throw mvc::Error(Exit::model) with a
// one-line message; anything else (another exception, a crash, a sanitizer report, an accepted
// header whose offsets do not tile the data) is a bug.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "mvc/error.h"
#include "weights/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    auto h = mvc::weights::parse_safetensors_bytes(bytes, "fuzz");
    std::uint64_t covered = 0;
    for (const auto& t : h.tensors) {
      if (t.end < t.begin || t.end > h.file_size - h.data_offset) std::abort();
      if (t.numel() * mvc::weights::dtype_size(t.dtype) != t.end - t.begin) std::abort();
      covered += t.end - t.begin;
    }
    if (covered != h.file_size - h.data_offset) std::abort();
    // What the reader accepts, the writer can write back; the header it writes is valid.
    std::vector<mvc::weights::TensorBytes> ts;
    for (const auto& t : h.tensors)
      ts.push_back({t.name, t.dtype, t.shape, bytes.substr(h.data_offset + t.begin, t.end - t.begin)});
    std::string out = mvc::weights::safetensors_header_bytes(ts, h.metadata);
    for (const auto& t : ts) out.append(t.data);
    auto h2 = mvc::weights::parse_safetensors_bytes(out, "rewritten");
    if (h2.tensors.size() != h.tensors.size() || h2.metadata != h.metadata) std::abort();
  } catch (const mvc::Error& e) {
    if (e.code() != mvc::Exit::model) std::abort();
    if (std::string_view(e.what()).find('\n') != std::string_view::npos) std::abort();
  }
  return 0;
}
