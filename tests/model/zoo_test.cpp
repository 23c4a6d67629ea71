// The parity zoo, LibTorch side: every model of tests/zoo is rebuilt from its arch.toml, its
// module's state_dict equals the torch-free expected state_dict key for key, shape for shape
// and in order (docs/conventions.md, "LibTorch only where a module is built"), the weights PyTorch saved after two training steps load strictly,
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

TEST_CASE("operations: inferred shapes equal the shapes LibTorch computes", "[model][ops]") {
  // Every node is a graph output, so run() returns each node's tensor.
  const std::string arch = R"(format = "mvc.arch/1"
name = "ops"
outputs = ["p", "t", "r", "v", "c", "ch[0]", "ch[1]", "sp[0]", "sp[1]", "m", "s", "sel", "sl", "u", "sq", "sm",
           "lsm", "cat", "st", "mul", "sub", "div", "mm", "fl", "ar", "aap", "mp", "bil", "act1", "act2", "act3",
           "act4", "act5", "act6", "act7", "act8", "up", "add"]
[inputs]
x = { shape = ["batch", 4, 6] }
img = { shape = ["batch", 3, 9, 9] }
[[layers]]
name = "p"
type = "permute"
inputs = ["x"]
dims = [0, 2, 1]
[[layers]]
name = "t"
type = "transpose"
dim0 = -1
dim1 = 1
[[layers]]
name = "r"
type = "reshape"
shape = [-1, 8]
[[layers]]
name = "v"
type = "view"
inputs = ["x"]
shape = [2, 2, 12]
[[layers]]
name = "c"
type = "contiguous"
inputs = ["t"]
[[layers]]
name = "ch"
type = "chunk"
inputs = ["x"]
chunks = 3
dim = 2
[[layers]]
name = "sp"
type = "split"
inputs = ["x"]
split_size_or_sections = [1, 3]
dim = 1
[[layers]]
name = "m"
type = "mean"
inputs = ["x"]
dim = [1, 2]
keepdim = true
[[layers]]
name = "s"
type = "sum"
inputs = ["x"]
[[layers]]
name = "sel"
type = "select"
inputs = ["x"]
dim = 0
index = -1
[[layers]]
name = "sl"
type = "slice"
inputs = ["x"]
dim = 2
start = 1
end = -1
step = 2
[[layers]]
name = "u"
type = "unsqueeze"
inputs = ["x"]
dim = -1
[[layers]]
name = "sq"
type = "squeeze"
dim = 3
[[layers]]
name = "sm"
type = "softmax"
inputs = ["x"]
dim = -1
[[layers]]
name = "lsm"
type = "log_softmax"
dim = 1
[[layers]]
name = "cat"
type = "cat"
inputs = ["x", "sm", "lsm"]
dim = 1
[[layers]]
name = "st"
type = "stack"
inputs = ["x", "sm"]
dim = 1
[[layers]]
name = "mul"
type = "mul"
inputs = ["x", "m"]
[[layers]]
name = "sub"
type = "sub"
inputs = ["x", "sel"]
)";
  std::string text = arch + R"([[layers]]
name = "div"
type = "div"
inputs = ["x", "m"]
[[layers]]
name = "mm"
type = "matmul"
inputs = ["x", "p"]
[[layers]]
name = "fl"
type = "flatten"
inputs = ["img"]
start_dim = 1
[[layers]]
name = "ar"
type = "arange"
inputs = ["x"]
dim = 2
[[layers]]
name = "aap"
type = "adaptive_avg_pool2d"
inputs = ["img"]
output_size = [2, 4]
[[layers]]
name = "mp"
type = "max_pool2d"
inputs = ["img"]
kernel_size = 2
ceil_mode = true
[[layers]]
name = "bil"
type = "Bilinear"
inputs = ["x", "sm"]
in1_features = 6
in2_features = 6
out_features = 5
[[layers]]
name = "act1"
type = "gelu"
approximate = "tanh"
[[layers]]
name = "act2"
type = "relu6"
[[layers]]
name = "act3"
type = "tanh"
[[layers]]
name = "act4"
type = "sigmoid"
[[layers]]
name = "act5"
type = "hardswish"
[[layers]]
name = "act6"
type = "leaky_relu"
negative_slope = 0.3
[[layers]]
name = "act7"
type = "silu"
[[layers]]
name = "act8"
type = "relu"
[[layers]]
name = "up"
type = "Upsample"
inputs = ["img"]
size = [5, 7]
mode = "nearest"
[[layers]]
name = "add"
type = "add"
inputs = ["x", "sm", "lsm"]
)";
  // Replace the symbolic batch by 2 so that every dimension is known to the shape rules.
  std::string fixed = text;
  for (std::size_t at; (at = fixed.find("\"batch\"")) != std::string::npos;) fixed.replace(at, 7, "2");
  ModelSource src;
  src.arch_toml = fixed;
  Model m = Model::build(src);
  auto a = arch::parse_architecture(fixed, "ops.toml", "", "");
  auto rows = arch::summarize(a);
  std::map<std::string, std::string> inferred;
  for (const auto& r : rows) inferred[r.name] = r.output_shape;
  torch::manual_seed(0);
  auto outs = m.run({{"x", torch::randn({2, 4, 6})}, {"img", torch::randn({2, 3, 9, 9})}});
  REQUIRE(outs.size() == a.outputs.size());
  for (std::size_t i = 0; i < outs.size(); ++i) {
    const auto& name = a.outputs[i].name;
    std::string shape = "[";
    for (std::int64_t d = 0; d < outs[i].second.dim(); ++d) shape += (d ? ", " : "") + std::to_string(outs[i].second.size(d));
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
