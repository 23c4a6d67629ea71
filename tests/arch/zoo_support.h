// The parity zoo's architectures for the torch-free tests (tests/zoo/<case>/arch.toml, with its
// hparams.toml when the case has one).
#pragma once

#include <filesystem>
#include <string>

#include "arch/arch.h"
#include "support.h"

namespace mvc::test {

/// tests/zoo/<name>/arch.toml parsed and expanded. Throws mvc::Error as parse_architecture does.
inline arch::Architecture zoo_arch(const std::string& name) {
  std::filesystem::path dir = source_dir() / "tests" / "zoo" / name;
  std::string hp;
  if (std::filesystem::exists(dir / "hparams.toml")) hp = read_file(dir / "hparams.toml");
  return arch::parse_architecture(read_file(dir / "arch.toml"), (dir / "arch.toml").string(), hp,
                                  (dir / "hparams.toml").string());
}

}  // namespace mvc::test
