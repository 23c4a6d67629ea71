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

const char* kZoo[] = {
    // Conv2d with tuples, strides, dilation, groups, "same"/"valid", padding modes; MaxPool2d
    // with ceil_mode; BatchNorm2d without affine; Flatten into a Linear.
    R"(format = "mvc.arch/1"
name = "convs"
[inputs]
x = { shape = ["batch", 3, 17, 23] }
[[layers]]
name = "c1"
type = "Conv2d"
in_channels = 3
out_channels = 8
kernel_size = [3, 5]
stride = [2, 1]
padding = [1, 2]
dilation = [1, 2]
bias = false
[[layers]]
name = "p1"
type = "MaxPool2d"
kernel_size = 3
stride = 2
padding = 1
ceil_mode = true
[[layers]]
name = "b1"
type = "BatchNorm2d"
num_features = 8
affine = false
[[layers]]
name = "c2"
type = "Conv2d"
in_channels = 8
out_channels = 8
kernel_size = 3
padding = "same"
dilation = 2
groups = 4
padding_mode = "reflect"
[[layers]]
name = "c3"
type = "Conv2d"
in_channels = 8
out_channels = 4
kernel_size = 2
padding = "valid"
padding_mode = "circular"
[[layers]]
name = "p2"
type = "MaxPool2d"
kernel_size = [2, 3]
stride = [1, 2]
[[layers]]
name = "f"
type = "Flatten"
[[layers]]
name = "fc"
type = "Linear"
in_features = 48
out_features = 5
)",
    // ceil_mode's last-window rule: the window that would start in the padding is dropped.
    R"(format = "mvc.arch/1"
name = "ceil"
[inputs]
x = { shape = ["batch", 2, 5, 7] }
[[layers]]
name = "p"
type = "MaxPool2d"
kernel_size = 2
padding = 1
ceil_mode = true
[[layers]]
name = "q"
type = "MaxPool2d"
kernel_size = [2, 1]
stride = [2, 3]
dilation = [1, 1]
ceil_mode = true
[[layers]]
name = "b"
type = "BatchNorm2d"
num_features = 2
track_running_stats = false
)",
    // Unbatched (C, H, W) input; Flatten from dim 0; LayerNorm, Dropout, Sigmoid.
    R"(format = "mvc.arch/1"
name = "unbatched"
[inputs]
x = { shape = [3, 9, 9] }
[[layers]]
name = "conv"
type = "Conv2d"
in_channels = 3
out_channels = 2
kernel_size = 3
[[layers]]
name = "pool"
type = "MaxPool2d"
kernel_size = 2
[[layers]]
name = "flat"
type = "Flatten"
start_dim = 0
[[layers]]
name = "fc"
type = "Linear"
in_features = 18
out_features = 4
[[layers]]
name = "ln"
type = "LayerNorm"
normalized_shape = 4
eps = 1e-3
elementwise_affine = false
[[layers]]
name = "drop"
type = "Dropout"
p = 0.3
inplace = true
[[layers]]
name = "sig"
type = "Sigmoid"
)",
    // Token ids through an Embedding with its options, a 2-d LayerNorm, BatchNorm1d without
    // running stats, GELU(tanh), Linear without bias, ReLU(inplace), Identity.
    R"(format = "mvc.arch/1"
name = "tokens"
[inputs]
ids = { shape = ["batch", 7], dtype = "int64" }
[[layers]]
name = "emb"
type = "Embedding"
num_embeddings = 20
embedding_dim = 6
padding_idx = 0
max_norm = 1.0
norm_type = 1
scale_grad_by_freq = true
sparse = true
[[layers]]
name = "ln"
type = "LayerNorm"
normalized_shape = [7, 6]
[[layers]]
name = "flat"
type = "Flatten"
start_dim = 1
end_dim = 2
[[layers]]
name = "bn"
type = "BatchNorm1d"
num_features = 42
track_running_stats = false
momentum = 0.2
[[layers]]
name = "act"
type = "GELU"
approximate = "tanh"
[[layers]]
name = "proj"
type = "Linear"
in_features = 42
out_features = 3
bias = false
[[layers]]
name = "relu"
type = "ReLU"
inplace = true
[[layers]]
name = "id"
type = "Identity"
)",
    // float64 parameters; BatchNorm1d on (N, C, L); Flatten with a negative start_dim.
    R"(format = "mvc.arch/1"
name = "double"
dtype = "float64"
[inputs]
x = { shape = ["batch", 4, 10] }
[[layers]]
name = "bn"
type = "BatchNorm1d"
num_features = 4
eps = 1e-3
[[layers]]
name = "flat"
type = "Flatten"
start_dim = -2
[[layers]]
name = "t"
type = "Tanh"
[[layers]]
name = "out"
type = "Linear"
in_features = 40
out_features = 2
)",
    // Linear on the last dimension of a 3-d input; Flatten over a named dim gives "?".
    R"(format = "mvc.arch/1"
name = "seq"
[inputs]
x = { shape = ["batch", "seq", 8] }
[[layers]]
name = "fc"
type = "Linear"
in_features = 8
out_features = 16
[[layers]]
name = "ln"
type = "LayerNorm"
normalized_shape = [16]
[[layers]]
name = "flat"
type = "Flatten"
[[layers]]
name = "id"
type = "Identity"
)",
};

json to_json(const Value& v) {
  switch (v.kind) {
    case Value::Kind::boolean: return v.b;
    case Value::Kind::integer: return v.i;
    case Value::Kind::floating: return v.f;
    case Value::Kind::string: return v.s;
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
    bool numeric = !d.empty() && std::all_of(d.begin(), d.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    std::int64_t v = numeric ? std::stoll(d) : kSymbolicSize;
    if (v != torch_shape[i]) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("arch: expected state_dict and output shapes agree with PyTorch", "[arch][torch]") {
  std::vector<Architecture> archs;
  json cases = json::array();
  for (const char* text : kZoo) {
    archs.push_back(parse_architecture(text, "zoo.toml", "", "hparams.toml"));
    cases.push_back(case_json(archs.back()));
  }
  auto r = test::run({MVC_PYTHON, (test::source_dir() / "tests/arch/torch_reference.py").string()}, {}, {},
                     cases.dump());
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
                                           "[batch, 8, 5, 10]", "[batch, 4, 4, 9]", "[batch, 4, 3, 4]",
                                           "[batch, 48]", "[batch, 5]"});
  shapes.clear();
  for (const auto& s : summarize(archs[1])) shapes.push_back(s.output_shape);
  CHECK(shapes == std::vector<std::string>{"[batch, 2, 3, 4]", "[batch, 2, 2, 2]", "[batch, 2, 2, 2]"});
}
