// The parity zoo, torch-free side (docs/conventions.md, "LibTorch only where a module is built"): for every case of
// tests/zoo, the expected state_dict derived from arch.toml equals the state_dict of the equivalent PyTorch model
// (tests/zoo/<case>/model.py via tests/fixtures/zoo.py, Debian's python3-torch and torchvision), key for key, shape for
// shape, dtype for dtype.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "arch/arch.h"
#include "arch/zoo_support.h"
#include "support.h"

using namespace mvc;
using namespace mvc::arch;
namespace fs = std::filesystem;
using test::zoo_arch;

namespace {}  // namespace

TEST_CASE("zoo: expected state_dict equals PyTorch's, key for key and shape for shape", "[arch][zoo][python]") {
  for (const std::string& name : test::zoo_cases()) {
    DYNAMIC_SECTION(name) {
      Architecture a = zoo_arch(name);
      auto expected = expected_state_dict(a);
      auto py = nlohmann::json::parse(test::read_file(test::fixture_dir() / "zoo" / name / "state.json"));
      std::map<std::string, std::pair<std::vector<std::int64_t>, std::string>> python;
      for (const auto& row : py)
        python[row[0].get<std::string>()] = {row[1].get<std::vector<std::int64_t>>(), row[2].get<std::string>()};
      std::map<std::string, std::pair<std::vector<std::int64_t>, std::string>> ours;
      for (const auto& t : expected) ours[t.key] = {t.shape, t.dtype};
      CHECK(expected.size() == ours.size());  // no key twice
      // A tied key (mvc.arch/2 `ties`) is not in the file's state_dict, but is in PyTorch's, as its source.
      for (const auto& t : a.ties) ours[t.key] = ours.at(t.source);
      for (const auto& [k, v] : python) {
        INFO(name << ": " << k);
        REQUIRE(ours.count(k) == 1);
        CHECK(ours[k].first == v.first);
        CHECK(ours[k].second == v.second);
      }
      CHECK(ours.size() == python.size());
      // Every layer has a summary row; parameter counts add up to PyTorch's.
      std::uint64_t params = 0, python_params = 0;
      for (const auto& row : summarize(a)) params += row.parameters;
      for (const auto& t : expected)
        if (!t.is_buffer)
          python_params += [&] {
            std::uint64_t n = 1;
            for (auto d : python[t.key].first) n *= static_cast<std::uint64_t>(d);
            return n;
          }();
      CHECK(params == python_params);
    }
  }
}

TEST_CASE("zoo: resnet18 expands to torchvision's module paths", "[arch][zoo]") {
  Architecture a = zoo_arch("resnet18");
  auto sd = expected_state_dict(a);
  CHECK(sd.size() == 122);
  CHECK(sd.front().key == "conv1.weight");
  CHECK(sd.back().key == "fc.bias");
  std::vector<std::string> keys;
  for (const auto& t : sd) keys.push_back(t.key);
  CHECK(std::find(keys.begin(), keys.end(), "layer2.0.downsample.0.weight") != keys.end());
  CHECK(std::find(keys.begin(), keys.end(), "layer1.0.downsample.0.weight") == keys.end());
  CHECK(std::find(keys.begin(), keys.end(), "layer4.1.bn2.num_batches_tracked") != keys.end());
  // Shapes propagate through blocks: the last block's output is [batch, 512, 2, 2].
  auto rows = summarize(a);
  auto it = std::find_if(rows.begin(), rows.end(), [](const LayerSummary& r) { return r.name == "layer4.1.relu_out"; });
  REQUIRE(it != rows.end());
  CHECK(it->output_shape == "[batch, 512, 2, 2]");
  CHECK(rows.back().output_shape == "[batch, 1000]");
  CHECK(a.outputs.size() == 1);
  CHECK(a.outputs[0].ref == "fc");
}

TEST_CASE("zoo: multi-output layers are indexed", "[arch][zoo]") {
  Architecture a = zoo_arch("gru");
  REQUIRE(a.outputs.size() == 2);
  CHECK(a.outputs[0].name == "head");
  CHECK(a.outputs[1].ref == "gru[1]");
  CHECK(a.layers[1].inputs == std::vector<std::string>{"gru[0]"});
  auto rows = summarize(a);
  CHECK(rows[0].output_shape == "[seq, batch, 16]");
  CHECK(rows[1].output_shape == "[seq, batch, 2]");
  Architecture t = zoo_arch("transformer");
  auto sd = expected_state_dict(t);
  CHECK(sd.size() == 2 + 4 * 12 + 2);
  CHECK(summarize(t).back().output_shape == "[batch, 5]");
}
