// The parity zoo, LibTorch side: every case of tests/zoo (a directory: arch.toml and model.py, the
// equivalent PyTorch model; docs/conventions.md, "Adding a layer type") is rebuilt from its
// arch.toml, its module's state_dict equals the torch-free expected state_dict key for key, shape
// for shape and in order (docs/conventions.md, "LibTorch only where a module is built"), the
// weights PyTorch saved (tests/fixtures/zoo.py) load strictly, and the eval-mode outputs on a fixed
// input match PyTorch's within rtol 1e-4, atol 1e-5 (integer outputs exactly). Adding a case is
// adding a directory.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include "arch/arch.h"
#include "mvc/error.h"
#include "mvc/model.h"
#include "support.h"

namespace {

namespace fs = std::filesystem;
using namespace mvc;

}  // namespace

TEST_CASE("zoo: rebuilt models load strictly and match PyTorch's outputs", "[model][zoo][python]") {
  auto cases = test::zoo_cases();
  REQUIRE(cases.size() >= 14);  // the nine models and options_a..d and ops of this change; more may come
  for (const std::string& name : cases) {
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
      std::map<std::string, at::Tensor> want;
      for (auto& [k, t] : load_safetensors(fix / "output.safetensors")) want[k] = t;
      // Outputs in arch.toml order; the fixture names them y0, y1, ... in the same order.
      auto got = m.run(inputs);
      REQUIRE(got.size() == a.outputs.size());
      REQUIRE(want.size() == got.size());
      for (std::size_t i = 0; i < got.size(); ++i) {
        const at::Tensor& y = got[i].second;
        const at::Tensor& w = want.at("y" + std::to_string(i));
        INFO(name << " output " << got[i].first);
        REQUIRE(y.sizes() == w.sizes());
        REQUIRE(y.scalar_type() == w.scalar_type());
        if (!y.is_floating_point()) {
          CHECK(torch::equal(y, w));
          continue;
        }
        INFO("max abs diff " << (y - w).abs().max().item<double>());
        CHECK(torch::allclose(y, w, 1e-4, 1e-5));
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

TEST_CASE("operations: inferred shapes equal the shapes LibTorch computes", "[model][ops]") {
  // The parity case "ops" (tests/zoo/ops): every node is a graph output, so run() returns each
  // node's tensor, and its batch is fixed so that the rules know every dimension.
  const std::string arch = test::read_file(test::source_dir() / "tests/zoo/ops/arch.toml");
  ModelSource src;
  src.arch_toml = arch;
  Model m = Model::build(src);
  auto a = arch::parse_architecture(arch, "ops.toml", "", "");
  auto rows = arch::summarize(a);
  std::map<std::string, std::string> inferred;
  for (const auto& r : rows) inferred[r.name] = r.output_shape;
  torch::manual_seed(0);
  auto outs = m.run({{"x", torch::randn({2, 4, 6})}, {"img", torch::randn({2, 3, 9, 9})}});
  REQUIRE(outs.size() == a.outputs.size());
  for (std::size_t i = 0; i < outs.size(); ++i) {
    const auto& name = a.outputs[i].name;
    std::string shape = "[";
    for (std::int64_t d = 0; d < outs[i].second.dim(); ++d)
      shape += (d ? ", " : "") + std::to_string(outs[i].second.size(d));
    shape += "]";
    INFO(name);
    // A summary row holds a layer's first output.
    if (name.find('[') == std::string::npos)
      CHECK(inferred.at(name) == shape);
    else if (name.find("[0]") != std::string::npos)
      CHECK(inferred.at(name.substr(0, name.find('['))) == shape);
  }
  CHECK(inferred.at("r") == "[6, 8]");
  CHECK(inferred.at("mm") == "[2, 4, 4]");
}
