// Issue "first working mvc", check 1: the model trained in Python is committed as v1 and v2
// with the real mvc binary, v1 is restored, and the rebuilt model (public C++ API) reproduces
// Python's outputs within 1e-6 — from the restored work tree and straight from the revision.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include "mvc/error.h"
#include "mvc/model.h"
#include "mvc/repository.h"
#include "support.h"

using namespace mvc::test;

namespace {

at::Tensor tensor_named(const fs::path& file, const std::string& name) {
  for (auto& [k, t] : mvc::load_safetensors(file))
    if (k == name) return t;
  FAIL("no tensor " << name << " in " << file);
  return {};
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

}  // namespace

TEST_CASE("v1 and v2 committed, v1 restored: byte-identical weights, Python's outputs within 1e-6", "[e2e]") {
  TempDir tmp;
  fs::path root = tmp / "repo";
  git_init(root);
  REQUIRE(run_mvc({"init"}, root).exit_code == 0);
  copy_fixture_model("mlp_v1", root / "models/clf");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v1", "--tag", "clf-v1"}, root).exit_code == 0);
  copy_fixture_model("mlp_v2", root / "models/clf");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v2", "--tag", "clf-v2"}, root).exit_code == 0);

  RunResult r = run_mvc({"checkout", "clf-v1", "--", "models/clf"}, root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(root / "models/clf/weights.safetensors") == read_file(fixture_dir() / "mlp_v1/weights.safetensors"));

  at::Tensor x = tensor_named(fixture_dir() / "mlp_v1.io/input.safetensors", "x");
  at::Tensor y1 = tensor_named(fixture_dir() / "mlp_v1.io/output.safetensors", "y");
  at::Tensor y2 = tensor_named(fixture_dir() / "mlp_v2.io/output.safetensors", "y");
  REQUIRE(max_abs_diff(y1, y2) > 1e-3);  // the two versions really compute different things

  mvc::Model restored = mvc::Model::load(mvc::ModelSource::from_directory(root / "models/clf"));
  CHECK(restored.parameter_count() == 241);
  CHECK(max_abs_diff(restored.forward(x), y1) <= 1e-6);

  // Straight from the revisions, without a checkout (weights verified from the cache).
  mvc::Repository repo = mvc::Repository::open(root / "models");
  CHECK(max_abs_diff(mvc::Model::load(repo.source("clf-v1", "models/clf")).forward(x), y1) <= 1e-6);
  CHECK(max_abs_diff(mvc::Model::load(repo.source("clf-v2", "models/clf")).forward(x), y2) <= 1e-6);
  CHECK(max_abs_diff(mvc::Model::load(repo.source("", "models/clf")).forward(x), y1) <= 1e-6);
}

TEST_CASE("Repository::source refuses a corrupt object with exit 4", "[e2e]") {
  TempDir tmp;
  fs::path root = tmp / "repo";
  git_init(root);
  REQUIRE(run_mvc({"init"}, root).exit_code == 0);
  copy_fixture_model("mlp_v1", root / "models/clf");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v1"}, root).exit_code == 0);
  for (auto& e : fs::recursive_directory_iterator(root / ".git/mvc/cache/objects")) {
    if (!e.is_regular_file()) continue;
    fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
    std::string b = read_file(e.path());
    b.back() ^= 1;
    write_file(e.path(), b);
  }
  mvc::Repository repo = mvc::Repository::open(root);
  try {
    repo.source("HEAD", "models/clf");
    FAIL("no error");
  } catch (const mvc::Error& e) {
    CHECK(e.code() == mvc::Exit::integrity);
  }
}

TEST_CASE("checkout refuses a version whose weights do not load, and changes nothing", "[e2e]") {
  // A commit made by hand (git CLI) whose arch.toml says hidden_size 30 while the weights have 20:
  // the torch-free commit check never saw it; checkout's strict load must catch it.
  TempDir tmp;
  fs::path root = tmp / "repo";
  git_init(root);
  REQUIRE(run_mvc({"init"}, root).exit_code == 0);
  copy_fixture_model("mlp_v1", root / "models/clf");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v1"}, root).exit_code == 0);
  std::string hp = read_file(root / "models/clf/hparams.toml");
  write_file(root / "models/clf/hparams.toml", hp.replace(hp.find("hidden_size = 20"), 16, "hidden_size = 30"));
  git({"commit", "-qam", "break hparams"}, root);
  write_file(root / "models/clf/hparams.toml", read_file(fixture_dir() / "mlp_v1/hparams.toml"));
  git({"commit", "-qam", "fix hparams"}, root);
  fs::remove(root / "models/clf/weights.safetensors");
  RunResult r = run_mvc({"checkout", "HEAD~1", "--", "models/clf"}, root);
  CHECK(r.exit_code == 7);
  CHECK(r.err.find("linear1.weight") != std::string::npos);
  // It names the work-tree file, not the verified temp copy (removed by then).
  CHECK(r.err.rfind("mvc: error: models/clf/weights.safetensors: ", 0) == 0);
  CHECK(r.err.find(".tmp.") == std::string::npos);
  CHECK_FALSE(fs::exists(root / "models/clf/weights.safetensors"));
  CHECK(read_file(root / "models/clf/hparams.toml").find("hidden_size = 20") != std::string::npos);
}
