// The parity zoo, LibTorch side: every model of tests/zoo is rebuilt from its arch.toml, its
// module's state_dict equals the torch-free expected state_dict key for key, shape for shape
// and in order (DESIGN §7a), the weights PyTorch saved after two training steps load strictly,
// and the eval-mode outputs on a fixed input match PyTorch's within rtol 1e-4, atol 1e-5.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include "arch/arch.h"
#include "mvc/error.h"
#include "mvc/model.h"
#include "support.h"

namespace {

namespace fs = std::filesystem;
using namespace mvc;

const char* kZooModels[] = {"mlp", "seq_mlp", "lenet", "resnet18", "mobilenet_v2", "lstm", "gru", "transformer", "unet"};

}  // namespace

TEST_CASE("zoo: rebuilt models load strictly and match PyTorch's outputs", "[model][zoo][python]") {
  for (const char* name : kZooModels) {
    DYNAMIC_SECTION(name) {
      fs::path src = test::source_dir() / "tests" / "zoo" / name;
      fs::path fix = test::fixture_dir() / "zoo" / name;
      ModelSource s = ModelSource::from_directory(src, fix / "weights.safetensors");
      Model m = Model::load(s);

      // The built module's state_dict is the torch-free expected one, in the same order.
      auto a = arch::parse_architecture(s.arch_toml, s.arch_name, s.hparams_toml, s.hparams_name);
      auto expected = arch::expected_state_dict(a);
      auto built = m.state_dict();
      REQUIRE(built.size() == expected.size());
      for (std::size_t i = 0; i < built.size(); ++i) {
        INFO(name << ": #" << i << " " << expected[i].key);
        CHECK(built[i].first == expected[i].key);
        CHECK(built[i].second.sizes().vec() == expected[i].shape);
      }

      auto inputs = load_safetensors(fix / "input.safetensors");
      auto want = load_safetensors(fix / "output.safetensors");
      // Outputs in arch.toml order; the fixture names them y, h, ... in the same order.
      auto got = m.run(inputs);
      REQUIRE(got.size() == a.outputs.size());
      std::vector<std::string> order{"y", "h"};
      for (std::size_t i = 0; i < got.size(); ++i) {
        auto it = std::find_if(want.begin(), want.end(), [&](const auto& p) { return p.first == order[i]; });
        REQUIRE(it != want.end());
        const at::Tensor& y = got[i].second;
        REQUIRE(y.sizes() == it->second.sizes());
        INFO(name << " output " << got[i].first << ": max abs diff " << (y - it->second).abs().max().item<double>());
        CHECK(torch::allclose(y, it->second, 1e-4, 1e-5));
      }
    }
  }
}

TEST_CASE("zoo: run checks the named inputs", "[model][zoo][python]") {
  fs::path src = test::source_dir() / "tests" / "zoo" / "lstm";
  fs::path fix = test::fixture_dir() / "zoo" / "lstm";
  Model m = Model::load(ModelSource::from_directory(src, fix / "weights.safetensors"));
  auto inputs = load_safetensors(fix / "input.safetensors");
  try {
    m.run({{"x", inputs[0].second}});
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == Exit::model);
    CHECK_THAT(e.what(), Catch::Contains("do not match the declared inputs (tokens); missing: tokens; unexpected: x"));
  }
  try {
    m.run({{"tokens", inputs[0].second.to(torch::kFloat)}});
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("input 'tokens': expected int64 [batch, seq], got float32 [2, 12]"));
  }
}
