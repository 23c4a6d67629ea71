// The LibTorch side of torch.save checkpoints: tensors equal to Python's (views, tied storages,
// every dtype, 0-d and empty), strict loads of plain / wrapped / prefixed / float16 checkpoints
// into the rebuilt module, dtype rules, and the public API through a repository.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <cstring>

#include "mvc/error.h"
#include "mvc/model.h"
#include "mvc/repository.h"
#include "support.h"

using namespace mvc::test;
using Catch::Matchers::Contains;

namespace {

fs::path ckpt(const std::string& name) { return fixture_dir() / "ckpt" / name; }

std::map<std::string, at::Tensor> as_map(const std::vector<std::pair<std::string, at::Tensor>>& v) {
  return {v.begin(), v.end()};
}

/// Same dtype, shape and elements (bitwise for floats: compared through their bytes).
void check_equal(const at::Tensor& got, const at::Tensor& want, const std::string& name) {
  INFO(name);
  CHECK(got.scalar_type() == want.scalar_type());
  CHECK(got.sizes().vec() == want.sizes().vec());
  at::Tensor g = got.contiguous(), w = want.contiguous();
  REQUIRE(g.nbytes() == w.nbytes());
  CHECK(std::memcmp(g.data_ptr(), w.data_ptr(), g.nbytes()) == 0);
}

std::string load_error(const mvc::ModelSource& src) {
  try {
    mvc::Model::load(src);
  } catch (const mvc::Error& e) {
    CHECK(e.code() == mvc::Exit::model);
    return e.what();
  }
  FAIL("the load did not fail");
  return {};
}

}  // namespace

TEST_CASE("checkpoint: every zoo tensor equals Python's, tied and viewed storages stay shared", "[torch-zip]") {
  auto got = as_map(mvc::load_state_dict(ckpt("zoo.pt")));
  auto want = as_map(mvc::load_safetensors(ckpt("zoo.expected.safetensors")));
  REQUIRE(got.size() == want.size());
  for (const auto& [name, w] : want) {
    REQUIRE(got.count(name));
    check_equal(got.at(name), w, name);
  }
  const at::Tensor& a = got.at("tied.a");
  CHECK(got.at("tied.b").data_ptr() == a.data_ptr());
  CHECK(static_cast<char*>(got.at("view.row").data_ptr()) == static_cast<char*>(a.data_ptr()) + 6 * 4);
  CHECK(got.at("transposed").strides().vec() == std::vector<std::int64_t>{1, 6});
  CHECK(got.at("transposed").storage().data() == a.storage().data());
  CHECK(got.at("expanded").strides().vec() == std::vector<std::int64_t>{1, 0});
  CHECK(got.at("scalar").dim() == 0);
  CHECK(got.at("scalar").item<float>() == 3.25f);
  CHECK(got.at("scalar_i").item<std::int64_t>() == -7);
  CHECK(got.at("empty").numel() == 0);
  CHECK(got.at("i64")[2].item<std::int64_t>() == (std::int64_t{1} << 62) + 7);
}

TEST_CASE("checkpoint: plain, wrapped, prefixed and float16 checkpoints load strictly with Python's values",
          "[torch-zip]") {
  auto src = [](const std::string& name) {
    return mvc::ModelSource::from_directory(ckpt(name), ckpt(name) / "weights.pt");
  };
  auto check_state = [](const mvc::Model& m, const std::string& expected, bool cast_to_float) {
    auto want = as_map(mvc::load_safetensors(ckpt(expected)));
    auto state = m.state_dict();
    REQUIRE(state.size() == want.size());
    for (auto& [k, v] : state) check_equal(v, cast_to_float ? want.at(k).to(torch::kFloat) : want.at(k), k);
  };
  check_state(mvc::Model::load(src("pt_plain")), "pt_plain.expected.safetensors", false);
  check_state(mvc::Model::load(src("pt_wrapped")), "pt_wrapped.expected.safetensors", false);

  mvc::ModelSource dp = src("pt_dp");
  std::string e = load_error(dp);
  CHECK_THAT(e, Contains("missing keys: linear1.weight"));
  CHECK_THAT(e, Contains("commit with --strip-prefix module."));
  dp.strip_prefix = "module.";
  check_state(mvc::Model::load(dp), "pt_dp.expected.safetensors", false);
  mvc::ModelSource compiled = src("pt_compiled");
  compiled.strip_prefix = "_orig_mod.";
  check_state(mvc::Model::load(compiled), "pt_compiled.expected.safetensors", false);

  mvc::ModelSource half = src("pt_fp16");
  e = load_error(half);
  CHECK_THAT(e, Contains("dtype of linear1.weight: expected float32, file has float16"));
  CHECK_THAT(e, Contains("commit --cast float32"));
  half.cast = "float32";
  check_state(mvc::Model::load(half), "pt_fp16.expected.safetensors", true);

  mvc::ModelSource amb = src("pt_ambiguous");
  CHECK_THAT(load_error(amb), Contains("--key KEY"));
  amb.weights_key = "student";
  check_state(mvc::Model::load(amb), "pt_plain.expected.safetensors", false);
}

TEST_CASE("checkpoint: weights larger than a copy piece load whole, from either format, with a cast", "[torch-zip]") {
  auto want = as_map(mvc::load_safetensors(ckpt("big_st/weights.safetensors")));
  REQUIRE(want.at("fc.weight").nbytes() > 2 * (16u << 20));
  for (const char* dir : {"big_st", "big_pt"}) {
    INFO(dir);
    mvc::Model m = mvc::Model::load(mvc::ModelSource::from_directory(ckpt(dir)));
    for (auto& [k, v] : m.state_dict()) check_equal(v, want.at(k), k);
  }
  mvc::ModelSource half = mvc::ModelSource::from_directory(ckpt("big_pt16"));
  half.cast = "float32";
  mvc::Model m = mvc::Model::load(half);
  auto half_state = as_map(mvc::load_state_dict(ckpt("big_pt16/weights.pt")));  // whole-storage path
  for (auto& [k, v] : m.state_dict()) check_equal(v, half_state.at(k).to(torch::kFloat), k);
}

TEST_CASE("checkpoint: an integer buffer never takes float values, even with cast", "[torch-zip]") {
  TempDir tmp;
  auto state = mvc::load_safetensors(fixture_dir() / "cnn/weights.safetensors");
  bool changed = false;
  for (auto& [k, v] : state)
    if (k.find("num_batches_tracked") != std::string::npos) {
      v = v.to(torch::kFloat);
      changed = true;
    }
  REQUIRE(changed);
  mvc::save_safetensors(state, tmp / "w.safetensors");
  mvc::ModelSource s = mvc::ModelSource::from_directory(fixture_dir() / "cnn", tmp / "w.safetensors");
  s.cast = "float32";
  CHECK_THAT(load_error(s), Contains("num_batches_tracked: expected int64, file has float32"));
}

TEST_CASE("checkpoint: a committed .pt loads through Repository::source with its [load] options", "[torch-zip]") {
  TempDir tmp;
  fs::path root = tmp / "repo";
  git_init(root);
  REQUIRE(run_mvc({"init"}, root).exit_code == 0);
  fs::create_directories(root / "models/clf");
  for (auto& e : fs::directory_iterator(ckpt("pt_dp")))
    fs::copy_file(e.path(), root / "models/clf" / e.path().filename());
  RunResult r = run_mvc({"commit", "models/clf", "-m", "dp", "--strip-prefix", "module.", "--tag", "dp"}, root);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  mvc::Repository repo = mvc::Repository::open(root);
  mvc::ModelSource s = repo.source("dp", "models/clf");
  CHECK(s.strip_prefix == "module.");
  mvc::Model m = mvc::Model::load(s);
  auto want = as_map(mvc::load_safetensors(ckpt("pt_dp.expected.safetensors")));
  for (auto& [k, v] : m.state_dict()) check_equal(v, want.at(k), k);
  CHECK(mvc::Model::load(repo.source("", "models/clf")).parameter_count() == 241);
}
