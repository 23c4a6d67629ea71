// core::diff: tensors read with mvc's own readers across formats and dtypes, widened to double.
#include "core/diff.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/tensor_split.h"
#include "mvc/error.h"
#include "store/object_store.h"
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

TEST_CASE("a NaN among the changed elements makes the largest change and the relative change NaN", "[core][diff]") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::string a = raw<float>({1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f, 7.0f, 8.0f, 9.0f});
  std::string b = raw<float>({1.0f, 2.5f, 3.0f, 4.0f, nan, 6.0f, 7.0f, 8.0f, 9.0f});  // SSE2 lanes and the tail
  core::TensorStats s = core::compare_tensor(DType::F32, a, DType::F32, b, 9, "w", "t");
  CHECK(s.differing == 2);
  CHECK(std::isnan(s.max_abs));
  CHECK(std::isnan(s.relative));
  std::string a16 = raw<std::uint16_t>({0x3C00, 0x4000});  // float16 1, 2
  std::string b16 = raw<std::uint16_t>({0x3C00, 0x7E00});  // 1, NaN
  core::TensorStats h = core::compare_tensor(DType::F16, a16, DType::F16, b16, 2, "w", "t");
  CHECK(h.differing == 1);
  CHECK(std::isnan(h.max_abs));
  // Equal NaN bytes are unchanged, and the rest is compared as usual.
  core::TensorStats same = core::compare_tensor(DType::F32, b, DType::F32, b, 9, "w", "t");
  CHECK(same.differing == 0);
  CHECK(same.max_abs == 0);
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

namespace mvc::test {

namespace {

// Floats of a tensor: a smooth pattern, `bump` added to every `every`-th element.
std::string floats(std::size_t n, float scale, float bump = 0, std::size_t every = 0) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) {
    v[i] = scale * static_cast<float>(std::sin(0.001 * static_cast<double>(i)));
    if (every && i % every == 0) v[i] += bump;
  }
  std::string s(n * sizeof(float), '\0');
  std::memcpy(s.data(), v.data(), s.size());
  return s;
}

void check_same(const core::WeightsDiff& x, const core::WeightsDiff& y) {
  REQUIRE(x.tensors.size() == y.tensors.size());
  CHECK(x.parameters_changed == y.parameters_changed);
  CHECK(x.parameters_total == y.parameters_total);
  for (std::size_t i = 0; i < x.tensors.size(); ++i) {
    INFO(x.tensors[i].name);
    CHECK(x.tensors[i].name == y.tensors[i].name);
    CHECK(x.tensors[i].change == y.tensors[i].change);
    REQUIRE(x.tensors[i].stats.has_value() == y.tensors[i].stats.has_value());
    if (!x.tensors[i].stats) continue;
    CHECK(x.tensors[i].stats->relative == y.tensors[i].stats->relative);  // bit for bit: same sums, same order
    CHECK(x.tensors[i].stats->max_abs == y.tensors[i].stats->max_abs);
    CHECK(x.tensors[i].stats->differing == y.tensors[i].stats->differing);
  }
}

}  // namespace

TEST_CASE("diff_weights reads files stored as segments in place, with the values of the files themselves",
          "[core][diff][stored_file]") {
  TempDir tmp;
  store::ObjectStore st(tmp / "cache");
  st.set_splitter(core::weights_splitter());
  // big.a: 3M floats (12 MiB, three 1M-element chunks), its own segment; small.*: packed together.
  const std::size_t big = 3u << 20;
  std::string big_a = floats(big, 1.0f), big_b = floats(big, 1.0f, 0.25f, 1000);
  std::string small1 = floats(1000, 2.0f), small2 = floats(300000, 3.0f), small2b = floats(300000, 3.0f, 1.0f, 7);
  weights::write_safetensors(tmp / "a.safetensors", {{"big.a", DType::F32, {3, 1 << 20}, big_a},
                                                     {"big.b", DType::F32, {3, 1 << 20}, big_a},
                                                     {"small.1", DType::F32, {1000}, small1},
                                                     {"small.2", DType::F32, {300000}, small2}});
  weights::write_safetensors(tmp / "b.safetensors", {{"big.a", DType::F32, {3, 1 << 20}, big_b},
                                                     {"big.b", DType::F32, {3, 1 << 20}, big_a},
                                                     {"small.1", DType::F32, {1000}, small1},
                                                     {"small.2", DType::F32, {300000}, small2b}});
  auto sa = st.put_file(tmp / "a.safetensors");
  auto sb = st.put_file(tmp / "b.safetensors");
  REQUIRE(sa.segments >= 3);
  REQUIRE(sb.segments >= 3);
  core::TensorFile pa(tmp / "a.safetensors", {}, "a"), pb(tmp / "b.safetensors", {}, "b");
  core::TensorFile ma(std::make_unique<store::StoredFile>(st, sa.sha256), {}, "a");
  core::TensorFile mb(std::make_unique<store::StoredFile>(st, sb.sha256), {}, "b");
  core::WeightsDiff from_files = core::diff_weights(pa, pb);
  core::WeightsDiff from_store = core::diff_weights(ma, mb);
  check_same(from_files, from_store);
  REQUIRE(from_store.tensors.size() == 4);
  CHECK(from_store.tensors[0].name == "big.a");
  CHECK(from_store.tensors[0].change == TensorDiff::Change::changed);
  CHECK(from_store.tensors[0].stats->differing == big / 1000 + 1);
  CHECK(from_store.tensors[0].stats->max_abs == Approx(0.25).epsilon(1e-6));
  CHECK(from_store.tensors[1].change == TensorDiff::Change::unchanged);  // big.b: the same segment object
  CHECK(ma.span(1) == mb.span(1));
  CHECK(from_store.tensors[2].change == TensorDiff::Change::unchanged);  // small.1: the same bytes
  CHECK(from_store.tensors[3].change == TensorDiff::Change::changed);
  CHECK(from_store.tensors[3].stats->differing == 300000 / 7 + 1);
  CHECK(from_store.parameters_changed == big + 300000);
  // The same comparison, the chunks' partial sums in order: equal to compare_tensor's.
  core::TensorStats direct = core::compare_tensor(DType::F32, big_a, DType::F32, big_b, big, "a", "big.a");
  CHECK(direct.relative == from_store.tensors[0].stats->relative);

  // A segment object missing from the cache: exit 5 naming the file and the tensor.
  REQUIRE(ma.span(0));
  st.remove(ma.span(0)->object);
  try {
    core::TensorFile again(std::make_unique<store::StoredFile>(st, sa.sha256), {}, "m/weights.safetensors at v1");
    core::diff_weights(again, mb);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == Exit::missing);
    CHECK(std::string(e.what()).rfind("m/weights.safetensors at v1: tensor 'big.a': object ", 0) == 0);
  }
}

TEST_CASE("diff_weights matches tensors by name across files (shards), wherever they lie", "[core][diff]") {
  TempDir tmp;
  std::string w1 = floats(200, 1.0f), w1b = floats(200, 1.0f, 0.5f, 10), b1 = floats(20, 0.5f), w2 = floats(20, 2.0f);
  weights::write_safetensors(tmp / "a1.safetensors", {{"l1.w", DType::F32, {20, 10}, w1}});
  weights::write_safetensors(tmp / "a2.safetensors",
                             {{"l1.b", DType::F32, {20}, b1}, {"l2.w", DType::F32, {1, 20}, w2}});
  // B: l2.w moved to the first file, l1.w changed
  weights::write_safetensors(tmp / "b1.safetensors",
                             {{"l1.w", DType::F32, {20, 10}, w1b}, {"l2.w", DType::F32, {1, 20}, w2}});
  weights::write_safetensors(tmp / "b2.safetensors", {{"l1.b", DType::F32, {20}, b1}});
  core::TensorFile a1(tmp / "a1.safetensors", {}, "a1"), a2(tmp / "a2.safetensors", {}, "a2");
  core::TensorFile b1f(tmp / "b1.safetensors", {}, "b1"), b2f(tmp / "b2.safetensors", {}, "b2");
  core::WeightsDiff d = core::diff_weights({&a1, &a2}, {&b2f, &b1f});
  REQUIRE(d.tensors.size() == 3);
  CHECK(d.tensors[0].name == "l1.b");
  CHECK(d.tensors[0].change == TensorDiff::Change::unchanged);
  CHECK(d.tensors[1].name == "l1.w");
  CHECK(d.tensors[1].change == TensorDiff::Change::changed);
  CHECK(d.tensors[1].stats->differing == 20);
  CHECK(d.tensors[2].name == "l2.w");
  CHECK(d.tensors[2].change == TensorDiff::Change::unchanged);
  CHECK(d.parameters_changed == 200);
  CHECK(d.parameters_total == 240);
  // One side with a tensor in two files: exit 7 naming both.
  try {
    core::diff_weights({&a1, &a2}, {&b1f, &a2});
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == Exit::model);
    CHECK(std::string(e.what()) == "tensor 'l2.w' is in two files: b1 and a2");
  }
}

}  // namespace mvc::test
