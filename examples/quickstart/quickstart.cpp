// mvc-example: the bundled quickstart's training program, written against mvc's public C++
// API (include/mvc/model.h) and LibTorch only.
//
//   mvc-example train MODEL_DIR --steps N [--seed S] [--lr LR]
//       Continues training from MODEL_DIR/weights.safetensors when it exists (loaded strictly
//       through mvc), else starts from a fresh network (torch::manual_seed(S)). SGD on
//       synthetic regression data (y = 0.5 * sum(x), x ~ N(0, 1), batches of 32, seeded by S),
//       then saves MODEL_DIR/weights.safetensors.
//   mvc-example predict MODEL_DIR --out FILE
//       Runs the model on a fixed input (seed 1234, randn(4, 10)), saves tensor "y" to FILE.
//   mvc-example compare A.safetensors B.safetensors
//       Prints the max abs difference of tensor "y"; exit 0 iff bit-identical.
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mvc/error.h"
#include "mvc/model.h"

namespace fs = std::filesystem;

namespace {

const char* kUsage =
    "usage: mvc-example train MODEL_DIR --steps N [--seed S] [--lr LR]\n"
    "       mvc-example predict MODEL_DIR --out FILE\n"
    "       mvc-example compare A.safetensors B.safetensors\n";

struct Usage : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Positional arguments and --key value options.
struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;

  Args(int argc, char** argv, const std::vector<std::string>& known) {
    for (int i = 2; i < argc; ++i) {
      std::string a = argv[i];
      if (a.rfind("--", 0) == 0) {
        std::string key = a.substr(2), value;
        if (auto eq = key.find('='); eq != std::string::npos) {
          value = key.substr(eq + 1);
          key.resize(eq);
        } else if (i + 1 < argc) {
          value = argv[++i];
        } else {
          throw Usage("option --" + key + " needs a value");
        }
        if (std::find(known.begin(), known.end(), key) == known.end()) throw Usage("unknown option --" + key);
        options[key] = value;
      } else {
        positional.push_back(a);
      }
    }
  }
  std::optional<std::string> get(const std::string& key) const {
    auto it = options.find(key);
    if (it == options.end()) return std::nullopt;
    return it->second;
  }
  std::int64_t integer(const std::string& key, std::optional<std::int64_t> def) const {
    auto v = get(key);
    if (!v) {
      if (!def) throw Usage("missing --" + key);
      return *def;
    }
    std::size_t used = 0;
    std::int64_t n = 0;
    try {
      n = std::stoll(*v, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != v->size() || v->empty()) throw Usage("--" + key + " needs an integer, got '" + *v + "'");
    return n;
  }
};

std::vector<std::pair<std::string, at::Tensor>> as_state(const at::Tensor& y) { return {{"y", y}}; }

at::Tensor tensor_y(const fs::path& file) {
  for (auto& [name, t] : mvc::load_safetensors(file))
    if (name == "y") return t;
  throw mvc::Error(mvc::Exit::model, file.string() + ": no tensor \"y\"");
}

/// Synthetic regression batch: x ~ N(0, 1), y = 0.5 * sum(x).
std::pair<at::Tensor, at::Tensor> batch(at::Generator& gen, std::int64_t n, std::int64_t features) {
  at::Tensor x = torch::randn({n, features}, gen, torch::kFloat);
  return {x, x.sum(1, /*keepdim=*/true) * 0.5};
}

int train(const Args& args) {
  if (args.positional.size() != 1) throw Usage("train takes one MODEL_DIR");
  fs::path dir = args.positional[0];
  std::int64_t steps = args.integer("steps", std::nullopt);
  std::int64_t seed = args.integer("seed", 0);
  double lr = args.get("lr") ? std::stod(*args.get("lr")) : 0.05;
  if (steps < 0) throw Usage("--steps must be >= 0");

  fs::path weights = dir / "weights.safetensors";
  bool resume = fs::exists(weights);
  std::optional<mvc::Model> model;
  if (resume) {
    model = mvc::Model::load(mvc::ModelSource::from_directory(dir));
  } else {
    torch::manual_seed(static_cast<std::uint64_t>(seed));
    model = mvc::Model::build(mvc::ModelSource::from_directory(dir));
  }
  const std::int64_t features = 10;  // the quickstart model's input_size

  // A fixed evaluation batch, the same for every run, to report the loss on.
  at::Generator eval_gen = at::make_generator<at::CPUGeneratorImpl>(4321);
  auto [ex, ey] = batch(eval_gen, 256, features);
  auto eval_loss = [&] { return torch::mse_loss(model->forward(ex), ey).item<double>(); };

  double start = eval_loss();
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<std::uint64_t>(seed) + 1);
  auto module = model->module();
  module->train();
  torch::optim::SGD opt(module->parameters(), torch::optim::SGDOptions(lr));
  for (std::int64_t step = 0; step < steps; ++step) {
    auto [x, y] = batch(gen, 32, features);
    opt.zero_grad();
    at::Tensor loss = torch::mse_loss(model->forward_train(x), y);
    loss.backward();
    opt.step();
  }
  module->eval();
  double end = eval_loss();

  mvc::save_safetensors(*module, weights);
  {
    // The version's metrics, which mvc commits with it and mvc log shows.
    std::ofstream m(dir / "metrics.toml", std::ios::trunc);
    m << std::setprecision(6) << "eval_mse = " << end << "\n";
  }
  std::cout << std::setprecision(6) << (resume ? "resumed from " : "fresh model, seed ")
            << (resume ? weights.string() : std::to_string(seed)) << "\nloss at start: " << start
            << "\nloss at end:   " << end << "\n"
            << "trained " << steps << " steps, saved " << weights.string() << " (" << model->parameter_count()
            << " parameters)\n";
  return 0;
}

int predict(const Args& args) {
  if (args.positional.size() != 1) throw Usage("predict takes one MODEL_DIR");
  auto out = args.get("out");
  if (!out) throw Usage("missing --out");
  mvc::Model model = mvc::Model::load(mvc::ModelSource::from_directory(args.positional[0]));
  torch::manual_seed(1234);
  at::Tensor x = torch::randn({4, 10});
  at::Tensor y = model.forward(x);
  mvc::save_safetensors(as_state(y), *out);
  std::cout << std::setprecision(9);
  for (std::int64_t i = 0; i < y.size(0); ++i) {
    std::cout << "y[" << i << "] =";
    for (std::int64_t j = 0; j < y.size(1); ++j) std::cout << " " << y[i][j].item<float>();
    std::cout << "\n";
  }
  return 0;
}

int compare(const Args& args) {
  if (args.positional.size() != 2) throw Usage("compare takes two files");
  at::Tensor a = tensor_y(args.positional[0]).contiguous();
  at::Tensor b = tensor_y(args.positional[1]).contiguous();
  if (a.sizes() != b.sizes() || a.scalar_type() != b.scalar_type()) {
    std::cout << "different: shape/dtype " << a.sizes() << " " << a.scalar_type() << " vs " << b.sizes() << " "
              << b.scalar_type() << "\n";
    return 1;
  }
  bool identical = a.nbytes() == b.nbytes() && std::memcmp(a.data_ptr(), b.data_ptr(), a.nbytes()) == 0;
  double diff = a.numel() ? (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>() : 0.0;
  std::cout << std::setprecision(9) << "max abs diff: " << diff << "\n"
            << (identical ? "identical" : "different") << "\n";
  return identical ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 2) throw Usage("missing subcommand");
    std::string cmd = argv[1];
    if (cmd == "train") return train(Args(argc, argv, {"steps", "seed", "lr"}));
    if (cmd == "predict") return predict(Args(argc, argv, {"out"}));
    if (cmd == "compare") return compare(Args(argc, argv, {}));
    if (cmd == "-h" || cmd == "--help") {
      std::cout << kUsage;
      return 0;
    }
    throw Usage("unknown subcommand '" + cmd + "'");
  } catch (const Usage& e) {
    std::cerr << "mvc-example: error: " << e.what() << "\n" << kUsage;
    return 2;
  } catch (const mvc::Error& e) {
    std::cerr << "mvc-example: error: " << e.what() << "\n";
    return e.exit_code();
  } catch (const c10::Error& e) {
    std::string m = e.what_without_backtrace();
    std::cerr << "mvc-example: error: " << m.substr(0, m.find('\n')) << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "mvc-example: error: " << e.what() << "\n";
    return 1;
  }
}
