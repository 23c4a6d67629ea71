// src/arch against PyTorch itself: for a zoo of architectures exercising every option that
// changes tensors or shapes, the torch-free expected_state_dict and summarize agree with what
// Python's torch.nn builds and computes (tests/arch/torch_reference.py, Debian's python3-torch).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "arch/arch.h"
#include "support.h"

using namespace mvc;
using namespace mvc::arch;
using nlohmann::json;

namespace {

constexpr std::int64_t kSymbolicSize = 3;  // the size given to "batch" and other named dims

// tests/archs/shapes_*.toml, in this order (the checks below index it).
const char* kZoo[] = {"convs", "ceil", "unbatched", "tokens", "double", "seq"};

json to_json(const Value& v) {
  switch (v.kind) {
    case Value::Kind::boolean:
      return v.b;
    case Value::Kind::integer:
      return v.i;
    case Value::Kind::floating:
      return v.f;
    case Value::Kind::string:
      return v.s;
    case Value::Kind::array: {
      json a = json::array();
      for (const auto& x : v.items) a.push_back(to_json(x));
      return a;
    }
  }
  return nullptr;
}

json case_json(const Architecture& a) {
  json c;
  c["dtype"] = a.dtype;
  json shape = json::array();
  for (const auto& d : a.inputs.at(0).shape)
    shape.push_back(std::holds_alternative<std::int64_t>(d) ? std::get<std::int64_t>(d) : kSymbolicSize);
  c["input"] = {{"shape", shape}, {"dtype", a.inputs.at(0).dtype}};
  c["layers"] = json::array();
  for (const auto& l : a.layers) {
    json opts = json::object();
    for (const auto& [k, v] : l.options) opts[k] = to_json(v);
    c["layers"].push_back({{"name", l.name}, {"type", l.type}, {"options", opts}});
  }
  return c;
}

/// "[batch, 8, ?]" matches torch's [3, 8, 12]: named dims stand for kSymbolicSize, "?" for anything.
bool shape_matches(const std::string& ours, const std::vector<std::int64_t>& torch_shape) {
  std::vector<std::string> dims;
  std::string inner = ours.substr(1, ours.size() - 2), cur;
  for (std::size_t i = 0; i <= inner.size(); ++i) {
    if (i == inner.size() || inner[i] == ',') {
      if (!cur.empty() || i < inner.size()) dims.push_back(cur);
      cur.clear();
      if (i < inner.size() && inner[i + 1] == ' ') ++i;
    } else {
      cur += inner[i];
    }
  }
  if (dims.size() != torch_shape.size()) return false;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    const std::string& d = dims[i];
    if (d == "?") continue;
    bool numeric = !d.empty() &&
                   std::all_of(d.begin(), d.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    std::int64_t v = numeric ? std::stoll(d) : kSymbolicSize;
    if (v != torch_shape[i]) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("arch: expected state_dict and output shapes agree with PyTorch", "[arch][torch]") {
  std::vector<Architecture> archs;
  json cases = json::array();
  for (const char* name : kZoo) {
    std::filesystem::path file = test::source_dir() / "tests/archs" / (std::string("shapes_") + name + ".toml");
    archs.push_back(parse_architecture(test::read_file(file), file.filename().string(), "", "hparams.toml"));
    cases.push_back(case_json(archs.back()));
  }
  auto r =
      test::run({MVC_PYTHON, (test::source_dir() / "tests/arch/torch_reference.py").string()}, {}, {}, cases.dump());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  json results = json::parse(r.out);
  REQUIRE(results.size() == archs.size());

  for (std::size_t c = 0; c < archs.size(); ++c) {
    const Architecture& a = archs[c];
    INFO("architecture " << a.name);
    auto sd = expected_state_dict(a);
    const json& state = results[c]["state"];
    REQUIRE(sd.size() == state.size());
    for (std::size_t i = 0; i < sd.size(); ++i) {
      INFO(sd[i].key);
      CHECK(sd[i].key == state[i][0].get<std::string>());
      CHECK(sd[i].shape == state[i][1].get<std::vector<std::int64_t>>());
      CHECK(sd[i].dtype == state[i][2].get<std::string>());
      CHECK(sd[i].is_buffer == state[i][3].get<bool>());
    }
    auto summary = summarize(a);
    REQUIRE(summary.size() == results[c]["outputs"].size());
    for (std::size_t i = 0; i < summary.size(); ++i) {
      auto torch_shape = results[c]["outputs"][i].get<std::vector<std::int64_t>>();
      INFO("layer " << summary[i].name << ": ours " << summary[i].output_shape << ", torch "
                    << results[c]["outputs"][i].dump());
      CHECK(shape_matches(summary[i].output_shape, torch_shape));
      CHECK(summary[i].parameters == results[c]["parameters"][i].get<std::uint64_t>());
    }
  }
  // The "?" of a Flatten over a named dimension, and the exact shapes of the first model.
  CHECK(summarize(archs[5])[2].output_shape == "[batch, ?]");
  std::vector<std::string> shapes;
  for (const auto& s : summarize(archs[0])) shapes.push_back(s.output_shape);
  CHECK(shapes == std::vector<std::string>{"[batch, 8, 9, 19]", "[batch, 8, 5, 10]", "[batch, 8, 5, 10]",
                                           "[batch, 8, 5, 10]", "[batch, 4, 4, 9]", "[batch, 4, 3, 4]", "[batch, 48]",
                                           "[batch, 5]"});
  shapes.clear();
  for (const auto& s : summarize(archs[1])) shapes.push_back(s.output_shape);
  CHECK(shapes == std::vector<std::string>{"[batch, 2, 3, 4]", "[batch, 2, 2, 2]", "[batch, 2, 2, 2]"});
}
