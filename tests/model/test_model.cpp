// src/model: the LibTorch module rebuilt from arch.toml against PyTorch's own outputs
// (tests/fixtures/generate.py), the strict load, the safetensors writer, the C bridge.
#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "arch/arch.h"
#include "mvc/error.h"
#include "mvc/model.h"
#include "support.h"

namespace {

using namespace mvc;
using mvc::test::fixture_dir;
using mvc::test::read_file;
using mvc::test::TempDir;
using mvc::test::write_file;
namespace fs = std::filesystem;

Model load_fixture(const std::string& name) { return Model::load(ModelSource::from_directory(fixture_dir() / name)); }

at::Tensor tensor_from(const fs::path& file, const std::string& name) {
  for (auto& [k, t] : load_safetensors(file))
    if (k == name) return t;
  FAIL("no tensor " << name << " in " << file);
  return {};
}

std::string torch_dtype(c10::ScalarType t) {
  switch (t) {
    case c10::kFloat:
      return "float32";
    case c10::kDouble:
      return "float64";
    case c10::kHalf:
      return "float16";
    case c10::kBFloat16:
      return "bfloat16";
    case c10::kLong:
      return "int64";
    case c10::kInt:
      return "int32";
    case c10::kShort:
      return "int16";
    case c10::kChar:
      return "int8";
    case c10::kByte:
      return "uint8";
    case c10::kBool:
      return "bool";
    default:
      return c10::toString(t);
  }
}

/// Runs `f`, REQUIREs an mvc::Error with `code`, returns its message.
template <class F>
std::string error_of(F&& f, Exit code = Exit::model) {
  try {
    f();
  } catch (const Error& e) {
    INFO(e.what());
    CHECK(e.code() == code);
    return e.what();
  }
  FAIL("no mvc::Error thrown");
  return {};
}

// The MLP of the fixtures (tests/fixtures/generate.py writes its arch.toml and hparams.toml).
std::string mlp_arch() { return test::read_file(fixture_dir() / "mlp_v1" / "arch.toml"); }

ModelSource mlp_source(const fs::path& weights = {}) {
  ModelSource s;
  s.arch_toml = mlp_arch();
  s.hparams_toml = test::read_file(fixture_dir() / "mlp_v1" / "hparams.toml");
  s.weights = weights;
  return s;
}

}  // namespace

TEST_CASE("model: forward equals PyTorch's eval output", "[model]") {
  for (std::string name : {"mlp_v1", "mlp_v2", "cnn", "emb"}) {
    DYNAMIC_SECTION(name) {
      Model m = load_fixture(name);
      fs::path io = fixture_dir() / (name + ".io");
      at::Tensor x = tensor_from(io / "input.safetensors", "x");
      at::Tensor want = tensor_from(io / "output.safetensors", "y");
      at::Tensor got = m.forward(x);
      REQUIRE(got.sizes() == want.sizes());
      REQUIRE(got.scalar_type() == want.scalar_type());
      double diff = (got - want).abs().max().item<double>();
      INFO("max abs diff " << diff);
      CHECK(torch::allclose(got, want, 1e-4, 1e-5));
      if (name.rfind("mlp", 0) == 0) CHECK(diff <= 1e-6);
      CHECK_FALSE(m.module()->is_training());
      CHECK_FALSE(got.requires_grad());
    }
  }
}

TEST_CASE("model: built state_dict equals the torch-free expected_state_dict, key for key", "[model]") {
  for (std::string name : {"mlp_v1", "mlp_v2", "cnn", "emb"}) {
    DYNAMIC_SECTION(name) {
      fs::path dir = fixture_dir() / name;
      auto expected = arch::expected_state_dict(arch::load_architecture(dir));
      Model m = load_fixture(name);
      auto got = m.state_dict();
      REQUIRE(got.size() == expected.size());
      std::set<std::string> params;
      for (auto& p : m.module()->named_parameters()) params.insert(p.key());
      std::uint64_t trainable = 0;
      for (std::size_t i = 0; i < got.size(); ++i) {
        INFO(expected[i].key);
        CHECK(got[i].first == expected[i].key);
        CHECK(got[i].second.sizes().vec() == expected[i].shape);
        CHECK(torch_dtype(got[i].second.scalar_type()) == expected[i].dtype);
        CHECK(params.count(got[i].first) == (expected[i].is_buffer ? 0u : 1u));
        if (!expected[i].is_buffer) trainable += static_cast<std::uint64_t>(got[i].second.numel());
      }
      CHECK(m.parameter_count() == trainable);
      // And the file PyTorch wrote has exactly these keys.
      std::set<std::string> file_keys, module_keys;
      for (auto& [k, t] : load_safetensors(dir / "weights.safetensors")) file_keys.insert(k);
      for (auto& [k, t] : got) module_keys.insert(k);
      CHECK(file_keys == module_keys);
    }
  }
  CHECK(load_fixture("mlp_v1").parameter_count() == 241);
}

TEST_CASE("model: Model::build without weights, in the architecture's dtype", "[model]") {
  Model m = Model::build(mlp_source());
  CHECK(m.parameter_count() == 241);
  CHECK(m.forward(torch::randn({3, 10})).sizes() == std::vector<std::int64_t>{3, 1});

  ModelSource s = mlp_source();
  s.arch_toml = std::string("dtype = \"float64\"\n") + mlp_arch();
  s.arch_toml.replace(s.arch_toml.find("dtype = \"float32\""), std::strlen("dtype = \"float32\""),
                      "dtype = \"float64\"");
  Model d = Model::build(s);
  auto expected =
      arch::expected_state_dict(arch::parse_architecture(s.arch_toml, "arch.toml", s.hparams_toml, "hparams.toml"));
  auto got = d.state_dict();
  REQUIRE(got.size() == expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    CHECK(got[i].second.scalar_type() == c10::kDouble);
    CHECK(expected[i].dtype == "float64");
  }
  CHECK(d.forward(torch::randn({2, 10}, torch::kDouble)).scalar_type() == c10::kDouble);
}

TEST_CASE("model: BatchNorm buffers keep int64 num_batches_tracked, PyTorch order", "[model]") {
  Model m = load_fixture("cnn");
  auto sd = m.state_dict();
  std::vector<std::string> keys;
  for (auto& [k, t] : sd) keys.push_back(k);
  std::vector<std::string> bn{"bn.weight", "bn.bias", "bn.running_mean", "bn.running_var", "bn.num_batches_tracked"};
  auto it = std::search(keys.begin(), keys.end(), bn.begin(), bn.end());
  REQUIRE(it != keys.end());
  for (auto& [k, t] : sd)
    if (k == "bn.num_batches_tracked") CHECK(t.scalar_type() == c10::kLong);
  // The running statistics came from the file (PyTorch trained 5 steps), not the init.
  at::Tensor file_mean = tensor_from(fixture_dir() / "cnn" / "weights.safetensors", "bn.running_mean");
  for (auto& [k, t] : sd)
    if (k == "bn.running_mean") CHECK(torch::equal(t, file_mean));
}

TEST_CASE("model: weights that do not fit are refused, naming key and difference", "[model]") {
  auto msg = [](const std::string& name) {
    fs::path w = fixture_dir() / name / "weights.safetensors";
    std::string m = error_of([&] { load_fixture(name); });
    CHECK(m.find(w.string()) != std::string::npos);
    CHECK(m.find('\n') == std::string::npos);
    return m;
  };
  SECTION("missing") {
    auto m = msg("mlp_missing");
    CHECK(m.find("missing keys: linear2.bias") != std::string::npos);
  }
  SECTION("unexpected") {
    auto m = msg("mlp_extra");
    CHECK(m.find("unexpected keys: linear3.weight") != std::string::npos);
  }
  SECTION("shape") {
    auto m = msg("mlp_shape");
    CHECK(m.find("linear1.weight") != std::string::npos);
    CHECK(m.find("expected [20, 10], file has [20, 11]") != std::string::npos);
  }
  SECTION("dtype") {
    auto m = msg("mlp_dtype");
    CHECK(m.find("linear2.weight") != std::string::npos);
    CHECK(m.find("expected float32, file has float64") != std::string::npos);
  }
}

TEST_CASE("model: every defect is reported at once, with the prefix hint", "[model]") {
  TempDir tmp;
  Model m = load_fixture("mlp_v1");
  auto sd = m.state_dict();
  std::vector<std::pair<std::string, at::Tensor>> bad;
  for (auto& [k, t] : sd) {
    if (k == "linear1.bias") continue;  // missing
    if (k == "linear1.weight")
      bad.emplace_back(k, torch::zeros({3, 3}));  // shape
    else if (k == "linear2.weight")
      bad.emplace_back(k, t.to(torch::kHalf));  // dtype
    else
      bad.emplace_back(k, t);
  }
  bad.emplace_back("extra.one", torch::zeros({1}));
  bad.emplace_back("extra.two", torch::zeros({1}));
  save_safetensors(bad, tmp / "bad.safetensors");
  std::string e = error_of([&] { Model::load(mlp_source(tmp / "bad.safetensors")); });
  CHECK(e.find("missing keys: linear1.bias") != std::string::npos);
  CHECK(e.find("unexpected keys: extra.one, extra.two") != std::string::npos);
  CHECK(e.find("shape of linear1.weight: expected [20, 10], file has [3, 3]") != std::string::npos);
  CHECK(e.find("dtype of linear2.weight: expected float32, file has float16") != std::string::npos);

  std::vector<std::pair<std::string, at::Tensor>> ddp;
  for (auto& [k, t] : sd) ddp.emplace_back("module." + k, t);
  save_safetensors(ddp, tmp / "ddp.safetensors");
  e = error_of([&] { Model::load(mlp_source(tmp / "ddp.safetensors")); });
  CHECK(e.find("strip_prefix = \"module.\"") != std::string::npos);
}

TEST_CASE("model: invalid or absent weights files", "[model]") {
  TempDir tmp;
  write_file(tmp / "short.safetensors", "abc");
  std::string e = error_of([&] { Model::load(mlp_source(tmp / "short.safetensors")); });
  CHECK(e.find("short.safetensors") != std::string::npos);
  write_file(tmp / "huge.safetensors", std::string("\xff\xff\xff\xff\x00\x00\x00\x00{}", 10));
  error_of([&] { Model::load(mlp_source(tmp / "huge.safetensors")); });
  error_of([&] { Model::load(mlp_source(tmp / "absent.safetensors")); }, Exit::failure);
  CHECK(error_of([&] { ModelSource::from_directory(tmp.path() / "nowhere"); }, Exit::usage)
            .find("not a model directory") != std::string::npos);
}

TEST_CASE("model: unaligned tensor data is copied correctly", "[model]") {
  // A header whose length is odd puts every tensor's data at an odd address in the mapping.
  Model ref = load_fixture("mlp_v1");
  auto sd = ref.state_dict();
  std::sort(sd.begin(), sd.end(), [](auto& a, auto& b) { return a.first < b.first; });
  nlohmann::json h = nlohmann::json::object();
  std::string data;
  for (auto& [k, t] : sd) {
    at::Tensor c = t.contiguous();
    std::uint64_t begin = data.size();
    data.append(static_cast<const char*>(c.data_ptr()), c.nbytes());
    h[k] = {{"dtype", "F32"}, {"shape", c.sizes().vec()}, {"data_offsets", {begin, data.size()}}};
  }
  std::string json = h.dump();
  if (json.size() % 2 == 0) json += " ";
  std::uint64_t n = json.size();
  std::string file(reinterpret_cast<const char*>(&n), 8);
  file += json + data;
  TempDir tmp;
  write_file(tmp / "odd.safetensors", file);
  Model m = Model::load(mlp_source(tmp / "odd.safetensors"));
  auto got = m.state_dict();
  std::sort(got.begin(), got.end(), [](auto& a, auto& b) { return a.first < b.first; });
  REQUIRE(got.size() == sd.size());
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(torch::equal(got[i].second, sd[i].second));
}

TEST_CASE("model: save_safetensors is byte-identical to PyTorch's file", "[model]") {
  TempDir tmp;
  Model m = load_fixture("mlp_v1");
  std::string want = read_file(fixture_dir() / "mlp_v1" / "weights.safetensors");
  save_safetensors(m.state_dict(), tmp / "a.safetensors");
  CHECK(read_file(tmp / "a.safetensors") == want);
  save_safetensors(*m.module(), tmp / "b.safetensors");
  CHECK(read_file(tmp / "b.safetensors") == want);
  // cnn: BatchNorm buffers (int64 num_batches_tracked) too.
  Model c = load_fixture("cnn");
  save_safetensors(*c.module(), tmp / "c.safetensors");
  CHECK(read_file(tmp / "c.safetensors") == read_file(fixture_dir() / "cnn" / "weights.safetensors"));
}

TEST_CASE("model: load_safetensors reads every dtype", "[model]") {
  fs::path f = fixture_dir() / "dtypes" / "weights.safetensors";
  auto all = load_safetensors(f);
  std::map<std::string, at::Tensor> t(all.begin(), all.end());
  REQUIRE(t.size() == 12);
  CHECK(std::is_sorted(all.begin(), all.end(), [](auto& a, auto& b) { return a.first < b.first; }));
  CHECK(torch::equal(t["f64"], torch::arange(6, torch::kDouble).reshape({2, 3})));
  CHECK(torch::equal(t["f32"], torch::tensor({1.5f, -2.25f})));
  CHECK(torch::equal(t["f16"], torch::tensor({0.5, 1.0, -3.0}).to(torch::kHalf)));
  CHECK(torch::equal(t["bf16"], torch::tensor({1.0, -0.5}).to(torch::kBFloat16)));
  CHECK(torch::equal(t["i64"], torch::tensor({1, -2, 3}, torch::kLong)));
  CHECK(torch::equal(t["i32"], torch::tensor({7}, torch::kInt).reshape({1, 1})));
  CHECK(torch::equal(t["i16"], torch::tensor({-4, 4}, torch::kShort)));
  CHECK(torch::equal(t["i8"], torch::tensor({-8}, torch::kChar)));
  CHECK(torch::equal(t["u8"], torch::tensor({255, 0, 1}, torch::kInt).to(torch::kByte)));
  CHECK(torch::equal(t["bool"], torch::tensor({1, 0, 1}, torch::kInt).to(torch::kBool)));
  CHECK(t["scalar"].dim() == 0);
  CHECK(t["scalar"].item<float>() == 3.0f);
  CHECK(t["empty"].sizes() == std::vector<std::int64_t>{0, 4});
  // Writing them back gives PyTorch's bytes (with the same metadata).
  TempDir tmp;
  save_safetensors(all, tmp / "d.safetensors", {{"format", "pt"}, {"note", "dtypes"}});
  CHECK(read_file(tmp / "d.safetensors") == read_file(f));
}

TEST_CASE("model: forward checks its input, forward_train records autograd", "[model]") {
  Model m = load_fixture("mlp_v1");
  std::string e = error_of([&] { m.forward(torch::randn({3, 10}, torch::kDouble)); });
  CHECK(e.find("float32 [batch, 10]") != std::string::npos);
  CHECK(e.find("float64 [3, 10]") != std::string::npos);
  error_of([&] { m.forward(torch::randn({3, 11})); });
  error_of([&] { m.forward(torch::randn({10})); });

  m.module()->train();
  at::Tensor y = m.forward_train(torch::randn({4, 10}));
  CHECK(y.requires_grad());
  y.sum().backward();
  for (auto& p : m.module()->parameters()) CHECK(p.grad().defined());
  // forward() runs in eval mode and leaves the module's mode as it was.
  CHECK_FALSE(m.forward(torch::randn({4, 10})).requires_grad());
  CHECK(m.module()->is_training());
}

TEST_CASE("model: architecture errors surface as Exit::model", "[model]") {
  ModelSource s = mlp_source();
  s.arch_toml += "\n[[layers]]\nname = \"bad\"\ntype = \"NoSuchLayer\"\n";
  error_of([&] { Model::build(s); });
}

extern "C" char* mvc_torch_call(const char*);
extern "C" void mvc_torch_free(char*);

TEST_CASE("model: mvc_torch_call replies in JSON, never throws", "[model][bridge]") {
  auto call = [](const nlohmann::json& req) {
    std::string text = req.is_string() ? req.get<std::string>() : req.dump();
    char* r = mvc_torch_call(text.c_str());
    REQUIRE(r != nullptr);
    auto j = nlohmann::json::parse(r);
    mvc_torch_free(r);
    return j;
  };
  auto request = [](const std::string& name) {
    fs::path d = fixture_dir() / name;
    return nlohmann::json{{"op", "load_check"},
                          {"arch", read_file(d / "arch.toml")},
                          {"arch_name", (d / "arch.toml").string()},
                          {"hparams", read_file(d / "hparams.toml")},
                          {"hparams_name", (d / "hparams.toml").string()},
                          {"weights", (d / "weights.safetensors").string()}};
  };

  auto ok = call(request("mlp_v1"));
  CHECK(ok["ok"] == true);
  CHECK(ok["parameters"] == 241);
  CHECK(ok["tensors"] == 4);

  auto bad = call(request("mlp_shape"));
  CHECK(bad["ok"] == false);
  CHECK(bad["exit"] == 7);
  CHECK(bad["error"].get<std::string>().find("linear1.weight") != std::string::npos);

  auto arch_err = request("mlp_v1");
  arch_err["arch"] = "format = \"mvc.arch/1\"\n[[layers]]\nname = 1\n";
  auto a = call(arch_err);
  CHECK(a["ok"] == false);
  CHECK(a["exit"] == 7);

  auto absent = request("mlp_v1");
  absent["weights"] = "/nonexistent/weights.safetensors";
  auto n = call(absent);
  CHECK(n["ok"] == false);
  CHECK(n["exit"] == 1);

  auto junk = call(nlohmann::json("{not json"));
  CHECK(junk["ok"] == false);
  CHECK(junk["exit"] == 1);
  auto unknown = call(nlohmann::json{{"op", "dance"}});
  CHECK(unknown["exit"] == 1);
  char* r = mvc_torch_call(nullptr);
  REQUIRE(r != nullptr);
  CHECK(nlohmann::json::parse(r)["ok"] == false);
  mvc_torch_free(r);
}

TEST_CASE("model: non-default options agree with expected_state_dict and run", "[model]") {
  // The parity case tests/zoo/options_a, whose outputs tests/model/test_zoo.cpp compares with PyTorch's.
  const std::string arch = test::read_file(test::source_dir() / "tests/zoo/options_a/arch.toml");
  ModelSource s;
  s.arch_toml = arch;
  Model m = Model::build(s);
  auto expected = arch::expected_state_dict(arch::parse_architecture(arch, "arch.toml", "", "hparams.toml"));
  auto got = m.state_dict();
  std::vector<std::string> gk, ek;
  for (auto& [k, t] : got) gk.push_back(k + " " + c10::str(t.sizes()) + " " + torch_dtype(t.scalar_type()));
  for (auto& e : expected) ek.push_back(e.key + " " + c10::str(c10::IntArrayRef(e.shape)) + " " + e.dtype);
  CHECK(gk == ek);
  CHECK(m.forward(torch::randn({2, 4, 6, 6})).sizes() == std::vector<std::int64_t>{2, 5});

  const std::string emb = R"(format = "mvc.arch/1"
name = "e"
[inputs]
t = { shape = ["batch", 3], dtype = "int64" }
[[layers]]
name = "embed"
type = "Embedding"
num_embeddings = 7
embedding_dim = 2
padding_idx = 0
)";
  s.arch_toml = emb;
  Model e = Model::build(s);
  auto w = e.state_dict().at(0).second;
  CHECK(e.state_dict().size() == 1);
  CHECK(torch::equal(w[0], torch::zeros({2})));  // PyTorch zeroes the padding row
  CHECK(e.forward(torch::tensor({0, 1, 6}, torch::kLong).reshape({1, 3})).sizes() ==
        std::vector<std::int64_t>{1, 3, 2});
}

TEST_CASE("model: load builds without the random initialisers, build still runs them", "[model]") {
  // Model::load skips uniform_/normal_ while building (the strict load overwrites every
  // value): the global RNG is not advanced, and the loaded values are the file's.
  torch::manual_seed(42);
  float expected = torch::rand({1}).item<float>();
  torch::manual_seed(42);
  Model m = load_fixture("mlp_v1");
  CHECK(torch::rand({1}).item<float>() == expected);
  auto file = load_safetensors(fixture_dir() / "mlp_v1" / "weights.safetensors");
  std::map<std::string, at::Tensor> want(file.begin(), file.end());
  for (auto& [k, t] : m.state_dict()) CHECK(torch::equal(t, want.at(k)));

  // Outside a load, the initialisers run as PyTorch runs them: seeded builds are equal,
  // and differ from zero.
  torch::manual_seed(7);
  auto a = Model::build(mlp_source()).state_dict();
  torch::manual_seed(7);
  auto b = Model::build(mlp_source()).state_dict();
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(torch::equal(a[i].second, b[i].second));
    CHECK(a[i].second.abs().sum().item<double>() > 0);
  }
  at::Tensor u = torch::zeros({1000}).uniform_(1, 2);
  CHECK(u.min().item<float>() >= 1.0f);
  at::Tensor n = torch::zeros({1000}).normal_();
  CHECK(n.abs().sum().item<double>() > 0);
}
