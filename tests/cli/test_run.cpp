// mvc run: a committed version rebuilt through the dlopen bridge, run on named inputs; the
// outputs equal PyTorch's (the zoo's LSTM classifier).
#include <cmath>
#include <cstring>

#include "cli/cli_support.h"
#include "weights/safetensors.h"

using namespace mvc::test;

namespace {

/// The float32 values of tensor `name` of a safetensors file.
std::vector<float> floats(const fs::path& file, const std::string& name) {
  std::string bytes = read_file(file);
  auto h = mvc::weights::parse_safetensors_bytes(bytes, file.string());
  for (const auto& t : h.tensors) {
    if (t.name != name) continue;
    std::vector<float> v((t.end - t.begin) / 4);
    std::memcpy(v.data(), bytes.data() + h.data_offset + t.begin, v.size() * 4);
    return v;
  }
  FAIL("no tensor " << name << " in " << file);
  return {};
}

struct LstmRepo : Repo {
  LstmRepo() {
    fs::create_directories(root / "models/lstm");
    fs::copy_file(source_dir() / "tests/zoo/lstm/arch.toml", root / "models/lstm/arch.toml");
    fs::copy_file(fixture_dir() / "zoo/lstm/weights.safetensors", root / "models/lstm/weights.safetensors");
    RunResult r = run_mvc({"commit", "models/lstm", "-m", "lstm", "--tag", "lstm-v1"}, root);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  }
};

}  // namespace

TEST_CASE("run REV PATH computes what PyTorch computed", "[cli][run]") {
  LstmRepo repo;
  // The work-tree weights are gone: run uses the verified cache object.
  fs::remove(repo / "models/lstm/weights.safetensors");
  fs::path in = fixture_dir() / "zoo/lstm/input.safetensors";
  RunResult r =
      run_mvc({"run", "lstm-v1", "models/lstm", "--input", in.string(), "--output", "out.safetensors"}, repo.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("  fc: float32 [2, 4]\n") != std::string::npos);
  auto got = floats(repo / "out.safetensors", "fc");
  auto want = floats(fixture_dir() / "zoo/lstm/output.safetensors", "y0");  // its first output (tests/fixtures/zoo.py)
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(std::abs(got[i] - want[i]) <= 1e-5 + 1e-4 * std::abs(want[i]));
}

TEST_CASE("run refuses inputs that do not match the declared ones", "[cli][run]") {
  LstmRepo repo;
  fs::path in = fixture_dir() / "zoo/lstm/input.safetensors";
  RunResult r = run_mvc({"run", "lstm-v1", "models/lstm", "--input",
                         (fixture_dir() / "zoo/unet/input.safetensors").string(), "--output", "out.safetensors"},
                        repo.root);
  CHECK(r.exit_code == 7);
  CHECK(r.err ==
        "mvc: error: models/lstm/arch.toml: the inputs do not match the declared inputs (tokens); missing: tokens; "
        "unexpected: x\n");
  CHECK(!fs::exists(repo / "out.safetensors"));
  r = run_mvc({"run", "nope", "models/lstm", "--input", in.string(), "--output", "o.safetensors"}, repo.root);
  CHECK(r.exit_code != 0);
  r = run_mvc({"run", "lstm-v1", "models/lstm", "--input", "missing.safetensors", "--output", "o.safetensors"},
              repo.root);
  CHECK(r.exit_code == 1);
  CHECK(r.err == "mvc: error: missing.safetensors: no such file\n");
}
