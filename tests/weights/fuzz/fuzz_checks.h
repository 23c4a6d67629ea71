// The bodies of the libFuzzer targets (fuzz_safetensors.cpp, fuzz_pickle.cpp), shared with the
// Catch2 test that replays their corpora under the default compiler
// (tests/weights/test_fuzz_corpus.cpp). Each takes one input; the reader may accept it or throw
// mvc::Error(Exit::model) with a one-line message. Anything else (another exception, a crash,
// a sanitizer report, an accepted input that breaks the reader's promises) aborts.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "mvc/error.h"
#include "weights/safetensors.h"
#include "weights/torch_zip.h"

namespace mvc::fuzz {

inline void expect_model_error(const mvc::Error& e) {
  if (e.code() != mvc::Exit::model) std::abort();
  if (std::string_view(e.what()).find('\n') != std::string_view::npos) std::abort();
}

/// Input: a whole safetensors file.
inline void check_safetensors(std::string_view bytes) {
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
    expect_model_error(e);
  }
}

/// Input: the bytes of a data.pkl. The first byte chooses the options (strip "module." or not),
/// the rest is the pickle.
inline void check_pickle(std::string_view bytes) {
  if (bytes.empty()) return;
  mvc::weights::StateDictOptions opts;
  if (bytes[0] & 1) opts.strip_prefix = "module.";
  bytes.remove_prefix(1);
  try {
    auto c = mvc::weights::describe_torch_pickle(bytes, opts, "fuzz");
    for (const auto& t : c.tensors) {
      auto it = c.storages.find(t.storage);
      if (it == c.storages.end() || it->second.dtype != t.dtype) std::abort();
      if (t.shape.size() != t.strides.size()) std::abort();
      // Every element of the view lies inside the storage: gathering from a buffer of exactly
      // the storage's size must stay in bounds (AddressSanitizer checks the reads).
      std::uint64_t nbytes = t.numel() * mvc::weights::dtype_size(t.dtype);
      if (nbytes > (1u << 20) || it->second.nbytes() > (1u << 20)) continue;
      std::string storage(static_cast<std::size_t>(it->second.nbytes()), '\x5a');
      std::string data = mvc::weights::gather_tensor_bytes(t, storage);
      if (data.size() != nbytes) std::abort();
    }
  } catch (const mvc::Error& e) {
    expect_model_error(e);
  }
}

}  // namespace mvc::fuzz
