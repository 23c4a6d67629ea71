// mvc-versions: a torch-free program against mvc's installed C++ API (mvc::core, or pkg-config's
// mvc), built out of tree by the install tests (tests/install/).
//
//   mvc-versions REV MODEL_DIR
//       Prints the commit REV names, then the model version's arch.toml size and its weights,
//       verified by SHA-256 (mvc::Repository::source). Exits with mvc's exit code on an error.
#include <filesystem>
#include <iostream>

#include "mvc/error.h"
#include "mvc/repository.h"
#include "mvc/version.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: mvc-versions REV MODEL_DIR\n";
    return 2;
  }
  try {
    mvc::Repository repo = mvc::Repository::open(".");
    std::cout << "mvc " << MVC_VERSION_STRING << "\n";
    std::cout << "commit " << repo.resolve(argv[1]) << "\n";
    mvc::ModelSource src = repo.source(argv[1], argv[2]);
    std::cout << "arch.toml " << src.arch_toml.size() << " bytes\n";
    std::cout << "weights " << src.weights_display() << " " << std::filesystem::file_size(src.weights) << " bytes\n";
    return 0;
  } catch (const mvc::Error& e) {
    std::cerr << "mvc-versions: error: " << e.what() << "\n";
    return e.exit_code();
  }
}
