// src/arch: parsing the fixture models, expected state_dicts against the weights PyTorch wrote,
// summaries, hparams references, per-type tensors and shapes.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>
#include <nlohmann/json.hpp>

#include "arch/arch.h"
#include "arch/layer_types.h"
#include "mvc/error.h"
#include "support.h"
#include "util/fs.h"

using namespace mvc;
using namespace mvc::arch;
namespace fs = std::filesystem;

namespace {

Architecture parse(const std::string& arch, const std::string& hp = "") {
  return parse_architecture(arch, "arch.toml", hp, "hparams.toml");
}

const char* kHead = "format = \"mvc.arch/1\"\nname = \"t\"\n";

/// The tensors of a safetensors file's header: key -> (dtype code, shape).
std::map<std::string, std::pair<std::string, std::vector<std::int64_t>>> header_of(const fs::path& p) {
  std::string bytes = test::read_file(p);
  REQUIRE(bytes.size() >= 8);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
  auto j = nlohmann::json::parse(bytes.substr(8, n));
  std::map<std::string, std::pair<std::string, std::vector<std::int64_t>>> r;
  for (auto& [k, v] : j.items()) {
    if (k == "__metadata__") continue;
    r[k] = {v["dtype"].get<std::string>(), v["shape"].get<std::vector<std::int64_t>>()};
  }
  return r;
}

std::string st_code(const std::string& torch_dtype) {
  if (torch_dtype == "float32") return "F32";
  if (torch_dtype == "int64") return "I64";
  if (torch_dtype == "float64") return "F64";
  return "?";
}

/// expected_state_dict agrees with the header of the weights PyTorch saved, key for key.
void check_against_weights(const Architecture& a, const fs::path& weights) {
  auto header = header_of(weights);
  auto sd = expected_state_dict(a);
  REQUIRE(sd.size() == header.size());
  for (const auto& t : sd) {
    INFO(t.key);
    REQUIRE(header.count(t.key) == 1);
    CHECK(header[t.key].first == st_code(t.dtype));
    CHECK(header[t.key].second == t.shape);
  }
}

using Row = std::tuple<std::string, std::vector<std::int64_t>, std::string, bool>;
std::vector<Row> rows(const std::vector<ExpectedTensor>& sd) {
  std::vector<Row> r;
  for (const auto& t : sd) r.emplace_back(t.key, t.shape, t.dtype, t.is_buffer);
  return r;
}

using SRow = std::tuple<std::string, std::string, std::string, std::uint64_t>;
std::vector<SRow> srows(const std::vector<LayerSummary>& s) {
  std::vector<SRow> r;
  for (const auto& x : s) r.emplace_back(x.name, x.type, x.output_shape, x.parameters);
  return r;
}

}  // namespace

TEST_CASE("arch: the MLP fixture parses with its hparams", "[arch]") {
  Architecture a = load_architecture(test::fixture_dir() / "mlp_v1");
  CHECK(a.format == "mvc.arch/1");
  CHECK(a.name == "mlp");
  CHECK(a.dtype == "float32");
  CHECK(a.file == (test::fixture_dir() / "mlp_v1" / "arch.toml").string());
  REQUIRE(a.inputs.size() == 1);
  CHECK(a.inputs[0].name == "x");
  CHECK(a.inputs[0].dtype == "float32");
  CHECK(shape_str(a.inputs[0].shape) == "[batch, 10]");
  CHECK(a.inputs[0].shape == Shape{std::string("batch"), std::int64_t{10}});
  REQUIRE(a.layers.size() == 3);
  CHECK(a.layers[0].name == "linear1");
  CHECK(a.layers[0].type == "Linear");
  CHECK(a.layers[0].int_opt("in_features") == 10);
  CHECK(a.layers[0].int_opt("out_features") == 20);
  CHECK(a.layers[0].options.at("in_features").kind == Value::Kind::integer);
  CHECK(a.layers[0].options.at("in_features").pos.str() == a.file + ":10:15");
  CHECK(a.layers[0].pos.str() == a.file + ":7:1");
  CHECK(a.layers[0].inputs == std::vector<std::string>{"x"});  // resolved: the declared input
  CHECK(a.layers[1].inputs == std::vector<std::string>{"linear1"});
  CHECK(a.layers[1].type == "ReLU");
  CHECK(a.layers[1].options.empty());
  CHECK(a.layers[2].int_opt("in_features") == 20);
  CHECK(a.layers[2].int_opt("out_features") == 1);

  CHECK(rows(expected_state_dict(a)) == std::vector<Row>{
                                            {"linear1.weight", {20, 10}, "float32", false},
                                            {"linear1.bias", {20}, "float32", false},
                                            {"linear2.weight", {1, 20}, "float32", false},
                                            {"linear2.bias", {1}, "float32", false},
                                        });
  check_against_weights(a, test::fixture_dir() / "mlp_v1" / "weights.safetensors");

  CHECK(srows(summarize(a)) == std::vector<SRow>{
                                   {"linear1", "Linear", "[batch, 20]", 220},
                                   {"relu", "ReLU", "[batch, 20]", 0},
                                   {"linear2", "Linear", "[batch, 1]", 21},
                               });
}

TEST_CASE("arch: the CNN fixture: Conv2d, BatchNorm, pooling, LayerNorm, Dropout", "[arch]") {
  Architecture a = load_architecture(test::fixture_dir() / "cnn");
  CHECK(a.name == "cnn");
  REQUIRE(a.layers.size() == 13);
  CHECK(a.layers[0].int_opt("out_channels") == 4);  // from ${hparams.channels}
  CHECK(a.inputs[0].dtype == "float32");            // the architecture's dtype by default

  CHECK(rows(expected_state_dict(a)) == std::vector<Row>{
                                            {"conv.weight", {4, 1, 3, 3}, "float32", false},
                                            {"conv.bias", {4}, "float32", false},
                                            {"bn.weight", {4}, "float32", false},
                                            {"bn.bias", {4}, "float32", false},
                                            {"bn.running_mean", {4}, "float32", true},
                                            {"bn.running_var", {4}, "float32", true},
                                            {"bn.num_batches_tracked", {}, "int64", true},
                                            {"fc.weight", {16, 64}, "float32", false},
                                            {"fc.bias", {16}, "float32", false},
                                            {"norm.weight", {16}, "float32", false},
                                            {"norm.bias", {16}, "float32", false},
                                            {"bn1.weight", {16}, "float32", false},
                                            {"bn1.bias", {16}, "float32", false},
                                            {"bn1.running_mean", {16}, "float32", true},
                                            {"bn1.running_var", {16}, "float32", true},
                                            {"bn1.num_batches_tracked", {}, "int64", true},
                                            {"head.weight", {3, 16}, "float32", false},
                                            {"head.bias", {3}, "float32", false},
                                        });
  check_against_weights(a, test::fixture_dir() / "cnn" / "weights.safetensors");

  CHECK(srows(summarize(a)) == std::vector<SRow>{
                                   {"conv", "Conv2d", "[batch, 4, 8, 8]", 40},
                                   {"bn", "BatchNorm2d", "[batch, 4, 8, 8]", 8},
                                   {"act", "ReLU", "[batch, 4, 8, 8]", 0},
                                   {"pool", "MaxPool2d", "[batch, 4, 4, 4]", 0},
                                   {"flat", "Flatten", "[batch, 64]", 0},
                                   {"fc", "Linear", "[batch, 16]", 1040},
                                   {"norm", "LayerNorm", "[batch, 16]", 32},
                                   {"gelu", "GELU", "[batch, 16]", 0},
                                   {"drop", "Dropout", "[batch, 16]", 0},
                                   {"bn1", "BatchNorm1d", "[batch, 16]", 32},
                                   {"head", "Linear", "[batch, 3]", 51},
                                   {"tanh", "Tanh", "[batch, 3]", 0},
                                   {"out", "Sigmoid", "[batch, 3]", 0},
                               });
}

TEST_CASE("arch: the Embedding fixture (no hparams.toml, int64 input, bias = false)", "[arch]") {
  REQUIRE(!fs::exists(test::fixture_dir() / "emb" / "hparams.toml"));
  Architecture a = load_architecture(test::fixture_dir() / "emb");
  REQUIRE(a.inputs.size() == 1);
  CHECK(a.inputs[0].name == "tokens");
  CHECK(a.inputs[0].dtype == "int64");
  CHECK(a.layers[2].bool_opt("bias", true) == false);
  CHECK(rows(expected_state_dict(a)) == std::vector<Row>{
                                            {"embed.weight", {50, 8}, "float32", false},
                                            {"proj.weight", {4, 40}, "float32", false},
                                        });
  check_against_weights(a, test::fixture_dir() / "emb" / "weights.safetensors");
  CHECK(srows(summarize(a)) == std::vector<SRow>{
                                   {"embed", "Embedding", "[batch, 5, 8]", 400},
                                   {"flatten", "Flatten", "[batch, 40]", 0},
                                   {"proj", "Linear", "[batch, 4]", 160},
                                   {"act", "Tanh", "[batch, 4]", 0},
                               });
}

TEST_CASE("arch: load_architecture reads hparams.toml only when present", "[arch]") {
  test::TempDir d;
  test::write_file(d / "arch.toml", std::string(kHead) +
                                        "[[layers]]\nname = \"l\"\ntype = \"Linear\"\n"
                                        "in_features = \"${hparams.n}\"\nout_features = 2\n");
  try {
    load_architecture(d.path());
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == Exit::model);
    std::string m = e.what();
    INFO(m);
    CHECK(m.find((d / "arch.toml").string() + ":6:15: unknown reference '${hparams.n}'") == 0);
    CHECK(m.find((d / "hparams.toml").string() + " has no key 'n'") != std::string::npos);
  }
  test::write_file(d / "hparams.toml", "n = 7\n");
  Architecture a = load_architecture(d.path());
  CHECK(a.layers[0].int_opt("in_features") == 7);
  CHECK(a.inputs.empty());
  CHECK(srows(summarize(a)) == std::vector<SRow>{{"l", "Linear", "?", 16}});

  test::TempDir empty;
  try {
    load_architecture(empty.path());
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find((empty / "arch.toml").string()) != std::string::npos);
  }
}

TEST_CASE("arch: hparams references keep their TOML type or are substituted as text", "[arch][hparams]") {
  const std::string hp = R"(width = 8
rate = 0.25
use_bias = false
act = "GELU"
kernel = [3, 5]
eps = 1e-3
tag = "v2"

[model]
depth = 2
  [model.norm]
  eps = 0.001
)";
  Architecture a = parse(std::string(kHead) + R"(
[inputs]
x = { shape = ["${hparams.tag}-batch", 3, "${hparams.width}", 16] }

[[layers]]
name = "conv_${hparams.width}x${hparams.model.depth}"
type = "Conv2d"
in_channels = 3
out_channels = "${hparams.width}"
kernel_size = "${hparams.kernel}"
bias = "${hparams.use_bias}"

[[layers]]
name = "act"
type = "${hparams.act}"
approximate = "tanh"

[[layers]]
name = "drop"
type = "Dropout"
p = "${hparams.rate}"

[[layers]]
name = "flat"
type = "Flatten"

[[layers]]
name = "norm"
type = "LayerNorm"
normalized_shape = 576
eps = "${hparams.model.norm.eps}"
)",
                         hp);
  REQUIRE(a.layers.size() == 5);
  const Layer& conv = a.layers[0];
  CHECK(conv.name == "conv_8x2");
  CHECK(conv.options.at("out_channels").kind == Value::Kind::integer);
  CHECK(conv.int_opt("out_channels") == 8);
  CHECK(conv.options.at("kernel_size").kind == Value::Kind::array);
  CHECK(conv.ints_opt("kernel_size", 2) == std::vector<std::int64_t>{3, 5});
  CHECK(conv.options.at("bias").kind == Value::Kind::boolean);
  CHECK(conv.bool_opt("bias", true) == false);
  CHECK(a.layers[1].type == "GELU");
  CHECK(a.layers[2].options.at("p").kind == Value::Kind::floating);
  CHECK(a.layers[2].float_opt("p", 0.5) == 0.25);
  CHECK(a.layers[4].float_opt("eps", 1e-5) == 0.001);
  CHECK(shape_str(a.inputs[0].shape) == "[v2-batch, 3, 8, 16]");
  CHECK(a.inputs[0].shape[2] == Dim{std::int64_t{8}});

  CHECK(rows(expected_state_dict(a)) == std::vector<Row>{
                                            {"conv_8x2.weight", {8, 3, 3, 5}, "float32", false},
                                            {"norm.weight", {576}, "float32", false},
                                            {"norm.bias", {576}, "float32", false},
                                        });
  auto s = summarize(a);
  CHECK(s[0].output_shape == "[v2-batch, 8, 6, 12]");
  CHECK(s[3].output_shape == "[v2-batch, 576]");
  CHECK(s[4].parameters == 1152);

  SECTION("floats and booleans embedded in text use their TOML spelling") {
    Architecture b = parse(std::string(kHead) +
                               "[inputs]\nx = { shape = [\"d_${hparams.rate}_${hparams.use_bias}_${hparams.eps}\"] }\n"
                               "[[layers]]\nname = \"i\"\ntype = \"Identity\"\n",
                           hp);
    CHECK(shape_str(b.inputs[0].shape) == "[d_0.25_false_0.001]");
    CHECK(summarize(b)[0].output_shape == "[d_0.25_false_0.001]");
  }
}

TEST_CASE("arch: dtype and input dtypes accept torch names and aliases", "[arch]") {
  Architecture a = parse(R"(format = "mvc.arch/1"
name = "d"
dtype = "double"
[inputs]
ids = { shape = ["batch"], dtype = "long" }
[[layers]]
name = "e"
type = "Embedding"
num_embeddings = 10
embedding_dim = 3
padding_idx = -1
[[layers]]
name = "bn"
type = "BatchNorm1d"
num_features = 3
affine = false
)");
  CHECK(a.dtype == "float64");
  CHECK(a.inputs[0].dtype == "int64");
  CHECK(rows(expected_state_dict(a)) == std::vector<Row>{
                                            {"e.weight", {10, 3}, "float64", false},
                                            {"bn.running_mean", {3}, "float64", true},
                                            {"bn.running_var", {3}, "float64", true},
                                            {"bn.num_batches_tracked", {}, "int64", true},
                                        });
  CHECK(srows(summarize(a)) == std::vector<SRow>{
                                   {"e", "Embedding", "[batch, 3]", 30},
                                   {"bn", "BatchNorm1d", "[batch, 3]", 0},
                               });

  Architecture b = parse(std::string(kHead) +
                         "dtype = \"torch.bfloat16\"\n[inputs]\nx = { shape = [2, 4] }\n"
                         "[[layers]]\nname = \"l\"\ntype = \"Linear\"\nin_features = 4\nout_features = 2\n");
  CHECK(b.dtype == "bfloat16");
  CHECK(b.inputs[0].dtype == "bfloat16");  // inputs default to the architecture's dtype
  CHECK(expected_state_dict(b)[0].dtype == "bfloat16");
  CHECK(summarize(b)[0].output_shape == "[2, 2]");
}

TEST_CASE("arch: known layer types, sorted", "[arch]") {
  const auto& known = known_layer_types();
  CHECK(std::is_sorted(known.begin(), known.end()));
  // One name per type of the table (the union of its families), none twice.
  CHECK(known.size() == detail::layer_types().size());
  CHECK(std::adjacent_find(known.begin(), known.end()) == known.end());
  for (const auto& t : std::vector<std::string>{
           "BatchNorm1d",        "BatchNorm2d",     "Conv2d",    "Dropout", "Embedding", "Flatten", "GELU", "Identity",
           "LayerNorm",          "Linear",          "MaxPool2d", "ReLU",    "Sigmoid",   "Tanh",    "LSTM", "GRU",
           "MultiheadAttention", "ConvTranspose2d", "add",       "cat"})
    CHECK(std::find(known.begin(), known.end(), t) != known.end());
}

TEST_CASE("arch: small helpers", "[arch]") {
  CHECK(SourcePos{"a/arch.toml", 12, 5}.str() == "a/arch.toml:12:5");
  CHECK(SourcePos{"a/arch.toml", 0, 0}.str() == "a/arch.toml");
  CHECK(shape_str({}) == "[]");
  CHECK(shape_str({std::string("batch"), std::int64_t{10}}) == "[batch, 10]");
  Value v;
  CHECK(v.type_name() == "integer");
  v.kind = Value::Kind::floating;
  CHECK(v.type_name() == "float");
  v.kind = Value::Kind::array;
  CHECK(v.type_name() == "array");
  v.kind = Value::Kind::boolean;
  CHECK(v.type_name() == "boolean");
  v.kind = Value::Kind::string;
  CHECK(v.type_name() == "string");
}

TEST_CASE("arch: layer inputs are stored, defaults and option forms", "[arch]") {
  Architecture a = parse(std::string(kHead) + R"(
[inputs]
img = { shape = ["batch", 2, 6, 6] }

[[layers]]
name = "c"
type = "Conv2d"
inputs = ["img"]
in_channels = 2
out_channels = 4
kernel_size = [3, 1]
padding = "${hparams.pad}"

[[layers]]
name = "r"
type = "ReLU"
inputs = "c"

[[layers]]
name = "p"
type = "MaxPool2d"
kernel_size = 3
stride = 1
dilation = [1, 2]
)",
                         "pad = \"same\"\n");
  CHECK(a.layers[0].inputs == std::vector<std::string>{"img"});
  CHECK(a.layers[1].inputs == std::vector<std::string>{"c"});
  CHECK(a.layers[2].inputs == std::vector<std::string>{a.layers[1].name});  // the previous layer
  CHECK(a.layers[0].str_opt("padding", "") == "same");
  CHECK(a.layers[0].ints_opt("stride", 2, 1) == std::vector<std::int64_t>{1, 1});
  CHECK(a.layers[0].int_opt("groups", 1) == 1);
  CHECK(a.layers[0].bool_opt("bias", true));
  CHECK(a.layers[0].str_opt("padding_mode", "zeros") == "zeros");
  CHECK(a.layers[2].ints_opt("dilation", 2) == std::vector<std::int64_t>{1, 2});
  CHECK(rows(expected_state_dict(a)) == std::vector<Row>{
                                            {"c.weight", {4, 2, 3, 1}, "float32", false},
                                            {"c.bias", {4}, "float32", false},
                                        });
  CHECK(srows(summarize(a)) == std::vector<SRow>{
                                   {"c", "Conv2d", "[batch, 4, 6, 6]", 28},
                                   {"r", "ReLU", "[batch, 4, 6, 6]", 0},
                                   {"p", "MaxPool2d", "[batch, 4, 4, 2]", 0},
                               });

  SECTION("unknown dimensions stay unknown") {
    Architecture b = parse(std::string(kHead) + R"(
[inputs]
img = { shape = ["batch", 2, "h", 6] }
[[layers]]
name = "c"
type = "Conv2d"
in_channels = 2
out_channels = 4
kernel_size = 3
[[layers]]
name = "f"
type = "Flatten"
[[layers]]
name = "s"
type = "Conv2d"
in_channels = 2
out_channels = 2
kernel_size = 1
padding = "same"
inputs = ["img"]
)");
    CHECK(srows(summarize(b)) == std::vector<SRow>{
                                     {"c", "Conv2d", "[batch, 4, ?, 4]", 76},
                                     {"f", "Flatten", "[batch, ?]", 0},
                                     {"s", "Conv2d", "[batch, 2, h, 6]", 6},
                                 });
  }
}

TEST_CASE("arch: docs/architecture.md documents every type and option", "[arch][docs]") {
  std::string doc = test::read_file(test::source_dir() / "docs" / "architecture.md");
  for (const auto& type : known_layer_types()) {
    INFO(type);
    CHECK(doc.find("### " + type) != std::string::npos);
  }
  for (const char* option : {"in_features",
                             "out_features",
                             "in_channels",
                             "out_channels",
                             "kernel_size",
                             "stride",
                             "padding",
                             "dilation",
                             "groups",
                             "padding_mode",
                             "num_features",
                             "eps",
                             "momentum",
                             "affine",
                             "track_running_stats",
                             "normalized_shape",
                             "elementwise_affine",
                             "num_embeddings",
                             "embedding_dim",
                             "padding_idx",
                             "max_norm",
                             "norm_type",
                             "scale_grad_by_freq",
                             "sparse",
                             "inplace",
                             "start_dim",
                             "end_dim",
                             "return_indices",
                             "ceil_mode",
                             "approximate",
                             "num_batches_tracked"}) {
    INFO(option);
    CHECK(doc.find(std::string("`") + option) != std::string::npos);
  }
}

TEST_CASE("arch: the worked example's error in docs/architecture.md is the real one", "[arch][docs]") {
  std::string arch = test::read_file(test::fixture_dir() / "mlp_v1" / "arch.toml");
  std::string hp = test::read_file(test::fixture_dir() / "mlp_v1" / "hparams.toml");
  auto at = arch.find("out_features = \"${hparams.hidden_size}\"");
  REQUIRE(at != std::string::npos);
  arch.replace(at, std::strlen("out_features = \"${hparams.hidden_size}\""),
               "out_features = \"${hparams.hiden_size}\"");
  try {
    parse_architecture(arch, "models/mlp/arch.toml", hp, "models/mlp/hparams.toml");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == Exit::model);
    CHECK(std::string(e.what()) ==
          "models/mlp/arch.toml:11:16: unknown reference '${hparams.hiden_size}': models/mlp/hparams.toml has no key "
          "'hiden_size' (keys: input_size, hidden_size, output_size, optimizer); did you mean 'hidden_size'?");
  }
}
