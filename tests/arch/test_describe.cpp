// The expanded description (src/arch/describe.h, schema "mvc.expanded/1", docs/python.md): what
// the Python package builds its module from. Checked on the zoo's lenet in full (options with
// their defaults filled in, expressions evaluated, edges, the state per layer) and on every zoo
// case against the state_dict PyTorch saved (tests/fixtures/zoo.py's state.json).
#include <algorithm>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <set>

#include "arch/arch.h"
#include "arch/describe.h"
#include "support.h"

using namespace mvc;
using namespace mvc::arch;
namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

namespace {

/// The cases whose arch.toml writes layers in an order other than PyTorch's registration order,
/// so that their state_dict holds the same tensors in another order: transformer writes a
/// pre-norm layer's norm1 before self_attn, as forward runs them, where nn.TransformerEncoderLayer
/// registers self_attn first (the language registers layers in the order written).
const std::set<std::string> kOtherOrder = {"transformer"};

ordered_json describe_zoo(const std::string& name) {
  fs::path dir = test::source_dir() / "tests" / "zoo" / name;
  std::string hp;
  if (fs::exists(dir / "hparams.toml")) hp = test::read_file(dir / "hparams.toml");
  auto a = parse_architecture(test::read_file(dir / "arch.toml"), "arch.toml", hp, "hparams.toml");
  return ordered_json::parse(describe_json(a));
}

}  // namespace

TEST_CASE("describe: every documented default of the type table resolves to a value", "[arch][describe]") {
  CHECK(unresolved_defaults().empty());
}

TEST_CASE("describe: lenet's expanded description", "[arch][describe]") {
  ordered_json j = describe_zoo("lenet");
  CHECK(j["schema"] == "mvc.expanded/1");
  CHECK(j["format"] == "mvc.arch/1");
  CHECK(j["name"] == "lenet");
  CHECK(j["dtype"] == "float32");
  CHECK(j["inputs"] == ordered_json::parse(R"([{"name": "x", "shape": ["batch", 1, 28, 28], "dtype": "float32"}])"));
  CHECK(j["outputs"] == ordered_json::parse(R"([{"name": "fc3", "ref": "fc3"}])"));
  const auto& layers = j["layers"];
  REQUIRE(layers.size() == 12);

  // A module: every constructor option, written or at PyTorch's default, in constructor order.
  const auto& conv1 = layers[0];
  CHECK(conv1["name"] == "conv1");
  CHECK(conv1["type"] == "Conv2d");
  CHECK(conv1["family"] == "conv");
  CHECK(conv1["module"] == true);
  CHECK(conv1["options"].dump() ==
        R"({"in_channels":1,"out_channels":6,"kernel_size":5,"stride":1,"padding":2,"dilation":1,)"
        R"("groups":1,"bias":true,"padding_mode":"zeros"})");
  CHECK(conv1["written"] == ordered_json::parse(R"(["in_channels", "kernel_size", "out_channels", "padding"])"));
  CHECK(conv1["inputs"] == ordered_json::parse(R"(["x"])"));  // the first layer reads the first input
  CHECK(conv1["num_outputs"] == 1);
  CHECK(conv1["state"] == ordered_json::parse(R"([
      {"key": "conv1.weight", "shape": [6, 1, 5, 5], "dtype": "float32", "buffer": false},
      {"key": "conv1.bias", "shape": [6], "dtype": "float32", "buffer": false}])"));
  CHECK(conv1["source"] == "arch.toml:9:1");

  // An operation registers nothing; MaxPool2d's stride defaults to its kernel_size.
  CHECK(layers[1]["module"] == false);
  CHECK(layers[1]["inputs"] == ordered_json::parse(R"(["conv1"])"));
  CHECK(layers[1]["state"].empty());
  CHECK(layers[2]["options"]["stride"] == 2);
  CHECK(layers[2]["options"]["padding"] == 0);
  CHECK(layers[5]["type"] == "max_pool2d");
  CHECK(layers[5]["options"]["stride"] == 2);
  // flatten's start_dim as written; fc1's in_features an evaluated expression.
  CHECK(layers[6]["options"]["start_dim"] == 1);
  CHECK(layers[6]["options"]["end_dim"] == -1);
  CHECK(layers[7]["options"]["in_features"] == 400);
  CHECK(j["state_dict"].size() == 10);
}

TEST_CASE("describe: the state_dict of every zoo case is PyTorch's, in order", "[arch][describe][zoo][python]") {
  for (const std::string& name : test::zoo_cases()) {
    DYNAMIC_SECTION(name) {
      ordered_json j = describe_zoo(name);
      json want = json::parse(test::read_file(test::fixture_dir() / "zoo" / name / "state.json"));
      // A tied key (mvc.arch/2 `ties`) is in PyTorch's state_dict but not in the file's.
      std::set<std::string> tied;
      for (const auto& t : j["ties"]) tied.insert(t["key"].get<std::string>());
      json all = want;
      want = json::array();
      for (const auto& e : all)
        if (!tied.count(e[0].get<std::string>())) want.push_back(e);
      json got = json::array();
      for (const auto& e : j["state_dict"]) got.push_back({e["key"], e["shape"], e["dtype"]});
      if (kOtherOrder.count(name)) {
        std::sort(got.begin(), got.end());
        std::sort(want.begin(), want.end());
      }
      CHECK(got == want);
      // The layers' own lists hold the same tensors (in registration order, not state_dict order).
      std::set<std::string> keys, layer_keys;
      for (const auto& e : j["state_dict"]) keys.insert(e["key"].get<std::string>());
      for (const auto& l : j["layers"])
        for (const auto& e : l["state"])
          if (!tied.count(e["key"].get<std::string>())) layer_keys.insert(e["key"].get<std::string>());
      CHECK(keys == layer_keys);
    }
  }
}
