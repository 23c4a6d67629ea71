// The property the architecture parser must keep on any input, shared by the libFuzzer
// harness (fuzz_arch.cpp) and the corpus replay in the normal test run (test_arch_fuzz.cpp).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "arch/arch.h"
#include "mvc/error.h"

namespace mvc::test {

/// The input is arch.toml, optionally followed by a NUL byte and hparams.toml. The parser may
/// accept it — then expected_state_dict and summarize must succeed or throw
/// mvc::Error(Exit::model), and keys must be unique — or throw mvc::Error(Exit::model) with a
/// one-line message. Anything else (another exception, a crash, a sanitizer report) aborts.
inline void fuzz_arch_one(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto nul = in.find('\0');
  std::string arch(in.substr(0, nul));
  std::string hp = nul == std::string_view::npos ? "" : std::string(in.substr(nul + 1));
  auto check_error = [](const mvc::Error& e) {
    if (e.code() != mvc::Exit::model) std::abort();
    if (std::string_view(e.what()).find('\n') != std::string_view::npos) std::abort();
  };
  mvc::arch::Architecture a;
  try {
    a = mvc::arch::parse_architecture(arch, "fuzz.toml", hp, "fuzz-hparams.toml");
  } catch (const mvc::Error& e) {
    check_error(e);
    return;
  }
  if (a.layers.empty() || a.outputs.empty()) std::abort();
  try {
    auto sd = mvc::arch::expected_state_dict(a);
    for (std::size_t i = 0; i < sd.size(); ++i)
      for (std::size_t j = i + 1; j < sd.size() && j < i + 64; ++j)
        if (sd[i].key == sd[j].key) std::abort();
    auto rows = mvc::arch::summarize(a);
    if (rows.size() != a.layers.size()) std::abort();
  } catch (const mvc::Error& e) {
    check_error(e);
  }
}

}  // namespace mvc::test
