// core::diff: tensors read with mvc's own readers across formats and dtypes, widened to double.
#include "core/diff.h"

#include <catch2/catch.hpp>
#include <cstring>
#include <nlohmann/json.hpp>

#include "mvc/error.h"
#include "support.h"
#include "weights/safetensors.h"

namespace mvc::test {

namespace {

using core::TensorDiff;
using weights::DType;

fs::path ckpt(const std::string& name) { return fixture_dir() / "ckpt" / name; }

template <typename T>
std::string raw(std::initializer_list<T> v) {
  std::string s(v.size() * sizeof(T), '\0');
  std::memcpy(s.data(), std::data(v), s.size());
  return s;
}

}  // namespace

TEST_CASE("compare_tensor widens half types and counts differing elements", "[core][diff]") {
  std::string f32 = raw<float>({1.0f, 2.0f, -0.5f, 4.0f});
  std::string f16 = raw<std::uint16_t>({0x3C00, 0x4000, 0xB800, 0x4400});   // 1, 2, -0.5, 4
  std::string bf16 = raw<std::uint16_t>({0x3F80, 0x4040, 0xBF00, 0x4080});  // 1, 3, -0.5, 4
  core::TensorStats same = core::compare_tensor(DType::F32, f32, DType::F16, f16, 4, "w", "t");
  CHECK(same.differing == 0);
  CHECK(same.relative == 0);
  core::TensorStats s = core::compare_tensor(DType::F32, f32, DType::BF16, bf16, 4, "w", "t");
  CHECK(s.differing == 1);
  CHECK(s.fraction == 0.25);
  CHECK(s.max_abs == 1.0);
  // ‖B−A‖ = 1, ‖A‖ = sqrt(1 + 4 + 0.25 + 16)
  CHECK(s.relative == Approx(1.0 / std::sqrt(21.25)).epsilon(1e-15));
  std::string i64 = raw<std::int64_t>({1, 2, 0, 4});
  core::TensorStats si = core::compare_tensor(DType::F32, f32, DType::I64, i64, 4, "w", "t");
  CHECK(si.differing == 1);
  CHECK(si.max_abs == 0.5);
}

TEST_CASE("a dtype mvc cannot widen is refused naming the tensor, only when its bytes differ", "[core][diff]") {
  TempDir tmp;
  std::string z1 = raw<float>({1.0f, 0.0f, 2.0f, 0.0f}), z2 = raw<float>({1.0f, 0.5f, 2.0f, 0.0f});
  std::string w = raw<float>({1.0f, 2.0f});
  weights::write_safetensors(tmp / "a.safetensors", {{"w", DType::F32, {2}, w}, {"z", DType::C64, {2}, z1}});
  weights::write_safetensors(tmp / "b.safetensors", {{"w", DType::F32, {2}, w}, {"z", DType::C64, {2}, z2}});
  core::TensorFile a(tmp / "a.safetensors", {}, "a.safetensors");
  core::TensorFile a2(tmp / "a.safetensors", {}, "a.safetensors");
  core::TensorFile b(tmp / "b.safetensors", {}, "b.safetensors");
  core::WeightsDiff same = core::diff_weights(a, a2);  // identical bytes: no arithmetic, no error
  CHECK(same.changed_tensors() == 0);
  try {
    core::diff_weights(a, b);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == Exit::model);
    CHECK(std::string(e.what()) ==
          "b.safetensors: tensor 'z': dtype complex64 cannot be widened to a real number for comparison");
  }
}

TEST_CASE("torch.save and safetensors compare tensor by tensor, fp16 against fp32 as PyTorch computes it",
          "[core][diff]") {
  core::TensorFile st(ckpt("pt_plain.expected.safetensors"), {}, "plain.safetensors");
  core::TensorFile pt(ckpt("pt_plain/weights.pt"), {}, "plain.pt");
  core::WeightsDiff same = core::diff_weights(st, pt);
  REQUIRE(same.tensors.size() == 4);
  CHECK(same.changed_tensors() == 0);  // the same values, in two formats
  CHECK(same.parameters_total == 241);
  CHECK(same.parameters_changed == 0);

  core::TensorFile half(ckpt("pt_fp16/weights.pt"), {}, "half.pt");
  core::WeightsDiff d = core::diff_weights(st, half);
  REQUIRE(d.tensors.size() == 4);
  // The expected values, computed by PyTorch in float64.
  TempDir tmp;
  write_file(tmp / "ref.py", R"(import json, sys, torch
a = torch.load(sys.argv[1]); b = torch.load(sys.argv[2])
out = {}
for k in a:
    x = a[k].double(); y = b[k].double()
    out[k] = {"relative": float((y - x).norm() / x.norm()), "max_abs": float((y - x).abs().max()),
              "fraction": float((y != x).double().mean())}
print(json.dumps(out))
)");
  RunResult r = run({"/usr/bin/python3", (tmp / "ref.py").string(), ckpt("pt_plain/weights.pt").string(),
                     ckpt("pt_fp16/weights.pt").string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto ref = nlohmann::json::parse(r.out);
  for (auto& t : d.tensors) {
    INFO(t.name);
    CHECK(t.change == TensorDiff::Change::dtype);
    CHECK(t.dtype_a == "float32");
    CHECK(t.dtype_b == "float16");
    REQUIRE(t.stats);
    CHECK(t.stats->relative == Approx(ref[t.name]["relative"].get<double>()).epsilon(1e-9));
    CHECK(t.stats->max_abs == Approx(ref[t.name]["max_abs"].get<double>()).epsilon(1e-9));
    CHECK(t.stats->fraction == Approx(ref[t.name]["fraction"].get<double>()).epsilon(1e-12));
    CHECK(t.stats->relative > 0);
    CHECK(t.stats->relative < 1e-3);
  }
}

}  // namespace mvc::test

namespace mvc::test {

TEST_CASE("diff_weights lists added, removed, reshaped and unchanged tensors with the parameter summary",
          "[core][diff]") {
  TempDir tmp;
  std::string a4(16, '\1'), b4(16, '\1'), six(24, '\2'), two(8, '\3');
  weights::write_safetensors(tmp / "a.safetensors", {{"keep", weights::DType::F32, {4}, a4},
                                                     {"gone", weights::DType::F32, {2}, two},
                                                     {"grow", weights::DType::F32, {2}, two}});
  weights::write_safetensors(tmp / "b.safetensors", {{"keep", weights::DType::F32, {4}, b4},
                                                     {"new", weights::DType::F32, {2}, two},
                                                     {"grow", weights::DType::F32, {6}, six}});
  core::TensorFile a(tmp / "a.safetensors", {}, "a"), b(tmp / "b.safetensors", {}, "b");
  core::WeightsDiff d = core::diff_weights(a, b);
  REQUIRE(d.tensors.size() == 4);
  CHECK(d.tensors[0].name == "gone");
  CHECK(d.tensors[0].change == core::TensorDiff::Change::removed);
  CHECK(d.tensors[1].name == "grow");
  CHECK(d.tensors[1].change == core::TensorDiff::Change::shape);
  CHECK(d.tensors[1].shape_a == std::vector<std::int64_t>{2});
  CHECK(d.tensors[1].shape_b == std::vector<std::int64_t>{6});
  CHECK(d.tensors[2].name == "keep");
  CHECK(d.tensors[2].change == core::TensorDiff::Change::unchanged);
  CHECK(!d.tensors[2].stats);
  CHECK(d.tensors[3].name == "new");
  CHECK(d.tensors[3].change == core::TensorDiff::Change::added);
  CHECK(d.changed_tensors() == 3);
  CHECK(d.parameters_total == 12);   // keep 4 + grow 6 + new 2
  CHECK(d.parameters_changed == 8);  // grow + new
}

}  // namespace mvc::test
