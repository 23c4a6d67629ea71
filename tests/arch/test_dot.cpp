// mvc show --dot's writer (src/arch/dot.h): for every parity case of the zoo (blocks, several
// inputs and outputs, operations, layers with several outputs), Graphviz's dot reads the text
// and draws one node per layer, input and output and one edge per value read.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "arch/arch.h"
#include "arch/describe.h"
#include "arch/dot.h"
#include "arch/zoo_support.h"
#include "support.h"

using namespace mvc;
using namespace mvc::arch;
namespace fs = std::filesystem;
using test::zoo_arch;

namespace {

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t p = 0; (p = text.find(what, p)) != std::string::npos; p += what.size()) ++n;
  return n;
}

}  // namespace

TEST_CASE("dot: every zoo architecture is drawn by Graphviz, a node per layer and an edge per input", "[arch][dot]") {
  for (const std::string& name : test::zoo_cases()) {
    DYNAMIC_SECTION(name) {
      Architecture a = zoo_arch(name);
      nlohmann::json d = nlohmann::json::parse(describe_json(a));
      std::size_t edges = d["outputs"].size();
      for (auto& l : d["layers"]) edges += l["inputs"].size();
      std::string dot = architecture_dot(a);
      test::RunResult svg = test::run({"dot", "-Tsvg"}, {}, {}, dot);
      INFO(svg.err);
      REQUIRE(svg.exit_code == 0);
      CHECK(count(svg.out, "class=\"node\"") == d["layers"].size() + d["inputs"].size() + d["outputs"].size());
      CHECK(count(svg.out, "class=\"edge\"") == edges);
      // Each layer's node carries its name and type.
      for (auto& l : d["layers"])
        CHECK(count(dot, "\"" + l["name"].get<std::string>() + "\" [label=\"" + l["name"].get<std::string>() + "\\n" +
                             l["type"].get<std::string>()) == 1);
    }
  }
}

TEST_CASE("dot: a layer read by index is an edge labelled with it, operations are dashed", "[arch][dot]") {
  Architecture a = parse_architecture(R"(format = "mvc.arch/1"
name = "two \"heads\""
[inputs]
x = { shape = ["batch", 5, 4], dtype = "float32" }
[[layers]]
name = "lstm"
type = "LSTM"
input_size = 4
hidden_size = 3
batch_first = true
[[layers]]
name = "sum"
type = "add"
inputs = ["lstm[1]", "lstm[2]"]
)",
                                      "arch.toml", "", "hparams.toml");
  std::string dot = architecture_dot(a);
  CHECK(dot.rfind("digraph \"two \\\"heads\\\"\" {\n", 0) == 0);
  CHECK(dot.find("\"lstm\" -> \"sum\" [label=\"1\"];") != std::string::npos);
  CHECK(dot.find("\"lstm\" -> \"sum\" [label=\"2\"];") != std::string::npos);
  CHECK(dot.find("\"sum\" [label=\"sum\\nadd\\n") != std::string::npos);
  CHECK(dot.find("style=\"rounded,dashed\"") != std::string::npos);
  CHECK(dot.find("\"input x\" [shape=ellipse, label=\"input x\\n[batch, 5, 4] float32\"];") != std::string::npos);
  test::RunResult svg = test::run({"dot", "-Tsvg"}, {}, {}, dot);
  CHECK(svg.exit_code == 0);
}

TEST_CASE("dot: a module not run and a shared call say so", "[arch][dot][v2]") {
  Architecture a = parse_architecture(R"(format = "mvc.arch/2"
name = "siamese"
[inputs]
a = { shape = ["batch", 4] }
b = { shape = ["batch", 4] }
[[layers]]
name = "enc"
type = "Linear"
inputs = ["a"]
in_features = 4
out_features = 4
[[layers]]
name = "aux"
type = "Linear"
run = false
in_features = 4
out_features = 2
[[layers]]
name = "enc_1"
shares = "enc"
inputs = ["b"]
)",
                                      "arch.toml", "", "hparams.toml");
  std::string dot = architecture_dot(a);
  CHECK(dot.find("\"enc_1\" [label=\"enc_1\\nLinear (shares enc)\\n[batch, 4]\", style=\"rounded,dashed\"];") !=
        std::string::npos);
  CHECK(dot.find("\"aux\" [label=\"aux\\nLinear (not run)\\n?\\n10 parameters\"];") != std::string::npos);
  CHECK(dot.find("\"input b\" -> \"enc_1\";") != std::string::npos);
  CHECK(dot.find("-> \"aux\"") == std::string::npos);
}
