// The layer vocabulary is complete on both sides (docs/conventions.md, "Adding a layer type"):
// every type of the torch-free table (src/arch/types/<family>.cpp) has a LibTorch builder in the
// file of the same family (src/model/build/<family>.cpp), a section in docs/architecture.md, and
// appears in at least one parity case of tests/zoo (an arch.toml with the model.py that
// tests/model/test_zoo.cpp compares with PyTorch). The lists come from the table itself: no count
// to update when a type is added.
// Torch first: Catch2's CHECK must be the definition that wins over c10's.
#include "model/internal.h"

#include <catch2/catch.hpp>
#include <set>

#include "arch/arch.h"
#include "arch/layer_types.h"
#include "support.h"

namespace {

namespace fs = std::filesystem;
using namespace mvc;

/// The types used by the parity cases' arch.toml files (blocks and repetitions expanded), with
/// the cases that use each.
std::map<std::string, std::set<std::string>> parity_types() {
  std::map<std::string, std::set<std::string>> used;
  for (const auto& name : test::zoo_cases()) {
    fs::path dir = test::source_dir() / "tests" / "zoo" / name;
    std::string hp;
    if (fs::exists(dir / "hparams.toml")) hp = test::read_file(dir / "hparams.toml");
    auto a = arch::parse_architecture(test::read_file(dir / "arch.toml"), (dir / "arch.toml").string(), hp,
                                      (dir / "hparams.toml").string());
    for (const auto& l : a.layers) used[l.type].insert(name);
  }
  return used;
}

}  // namespace

TEST_CASE("layer families: every arch type has a builder in the same family", "[model][families]") {
  const auto& types = arch::detail::layer_types();
  const auto& builders = model::builders();
  const auto& families = model::builder_families();
  REQUIRE(!types.empty());
  std::set<std::string> family_names;
  for (const auto& t : types) {
    INFO(t.name << " (" << t.family << ")");
    CHECK(builders.count(t.name) == 1);
    REQUIRE(families.count(t.name) == 1);
    CHECK(families.at(t.name) == t.family);
    family_names.insert(t.family);
  }
  // No builder for a type the table does not know (it could never be reached).
  for (const auto& [name, b] : builders) {
    INFO(name);
    CHECK(arch::detail::find_layer_type(name) != nullptr);
  }
  // The families are mirrored file for file.
  CHECK(family_names.count("ops") == 1);
  for (const auto& f : family_names) {
    INFO(f);
    CHECK(fs::exists(test::source_dir() / "src" / "arch" / "types" / (f + ".cpp")));
    CHECK(fs::exists(test::source_dir() / "src" / "model" / "build" / (f + ".cpp")));
  }
}

TEST_CASE("layer families: every arch type has a doc section and a parity case", "[model][families][docs]") {
  std::string doc = test::read_file(test::source_dir() / "docs" / "architecture.md");
  auto used = parity_types();
  for (const auto& t : arch::detail::layer_types()) {
    INFO(t.name << " (" << t.family << ")");
    CHECK(doc.find("\n### " + t.name + "\n") != std::string::npos);
    CHECK(used.count(t.name) == 1);
  }
}

TEST_CASE("layer families: every parity case is data: arch.toml and its PyTorch model", "[model][families]") {
  auto cases = test::zoo_cases();
  REQUIRE(!cases.empty());
  for (const auto& name : cases) {
    INFO(name);
    fs::path dir = test::source_dir() / "tests" / "zoo" / name;
    CHECK(fs::exists(dir / "arch.toml"));
    CHECK(fs::exists(dir / "model.py"));
    // Its fixtures were generated (tests/fixtures/zoo.py, the CTest fixture fixtures.zoo).
    CHECK(fs::exists(test::fixture_dir() / "zoo" / name / "output.safetensors"));
  }
}
