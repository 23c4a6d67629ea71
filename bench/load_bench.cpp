// mvc side of the load benchmark: mvc::Model::load (rebuild from arch.toml + strict load)
// through the public C++ API, timed in-process (process and library start excluded).
//
//   mvc-bench-load MODEL_DIR RUNS      prints one line of JSON: seconds per run
//   mvc-bench-load MODEL_DIR once      one load (for /usr/bin/time -v)
//   mvc-bench-load MODEL_DIR baseline  LibTorch loaded, nothing built (memory baseline)
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>

#include "mvc/error.h"
#include "mvc/model.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: mvc-bench-load MODEL_DIR RUNS|once|baseline\n";
    return 2;
  }
  std::string what = argv[2];
  torch::set_num_threads(2);
  if (what == "baseline") {
    torch::Tensor t = torch::zeros({1});
    return t.item<float>() == 0.0f ? 0 : 1;
  }
  int runs = what == "once" ? 1 : std::stoi(what);
  try {
    mvc::ModelSource src = mvc::ModelSource::from_directory(argv[1]);
    std::cout << "[";
    for (int i = 0; i < runs; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      mvc::Model m = mvc::Model::load(src);
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::cout << (i ? ", " : "") << s;
    }
    std::cout << "]\n";
  } catch (const mvc::Error& e) {
    std::cerr << "mvc-bench-load: " << e.what() << "\n";
    return e.exit_code();
  }
  return 0;
}
