// A large sharded model through S3 (issue 16's opt-in test): commit, push to s3rver on
// loopback, pull into a second clone, run there. Label `slow` (tests/CMakeLists.txt runs it by
// name as cli.shards_s3_6gib; hidden from the default list): it writes ~6 GiB five times
// (work tree, cache, s3rver's bucket, the clone's cache and work tree): set TMPDIR to a
// filesystem with ~35 GB free.
#include <cmath>
#include <cstring>
#include <fstream>

#include "cli/remote_support.h"
#include "weights/safetensors.h"

using namespace mvc::test;
using nlohmann::json;

namespace {

/// A safetensors file holding one float32 tensor `name` of `shape`, every value `value`,
/// written in 64 MiB pieces (never whole in memory).
void write_constant_tensor(const fs::path& p, const std::string& name, const std::vector<std::uint64_t>& shape,
                           float value) {
  std::uint64_t count = 1;
  std::string dims;
  for (auto d : shape) {
    count *= d;
    dims += (dims.empty() ? "" : ",") + std::to_string(d);
  }
  const std::uint64_t n = count * 4;
  std::string json =
      "{\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[" + dims + "],\"data_offsets\":[0," + std::to_string(n) + "]}}";
  json += std::string((8 - json.size() % 8) % 8, ' ');
  std::string head(8, '\0');
  for (int i = 0; i < 8; ++i) head[static_cast<std::size_t>(i)] = static_cast<char>((json.size() >> (8 * i)) & 0xFF);
  std::ofstream f(p, std::ios::binary);
  f << head << json;
  std::vector<float> chunk((64u << 20) / 4, value);
  for (std::uint64_t left = count; left > 0;) {
    const std::uint64_t k = std::min<std::uint64_t>(left, chunk.size());
    f.write(reinterpret_cast<const char*>(chunk.data()), static_cast<std::streamsize>(k * 4));
    left -= k;
  }
  REQUIRE(f.good());
}

/// The float32 values of the one tensor `name` of a (small) safetensors file.
std::vector<float> floats(const fs::path& file, const std::string& name) {
  std::string bytes = read_file(file);
  auto h = mvc::weights::parse_safetensors_bytes(bytes, file.string());
  const auto* t = h.find(name);
  REQUIRE(t != nullptr);
  std::vector<float> v((t->end - t->begin) / 4);
  std::memcpy(v.data(), bytes.data() + h.data_offset + t->begin, v.size() * 4);
  return v;
}

std::string sha256sum(const fs::path& p) {
  RunResult r = run({"sha256sum", p.string()});
  REQUIRE(r.exit_code == 0);
  return r.out.substr(0, 64);
}

}  // namespace

// x [1, 40000] -> l1 Linear(40000, 30000) -> l2 Linear(30000, 14000), no biases: l1's weight
// (4.8 GB, over 4 GiB) in shard 1, l2's (1.7 GB) in shard 2, with Hugging Face's index; 6.0 GiB.
// Weights 2^-10 each and an input of ones: every l1 output is 40000 * 2^-10 = 39.0625 (exact)
// and every l2 output 30000 * 39.0625 * 2^-10 = 1144.04296875.
TEST_CASE("shards: a 6 GiB sharded model with a shard over 4 GiB goes through S3 and runs in a clone",
          "[.][slow][shards][s3]") {
  if (!s3rver_usable()) return;
  S3Server s3;
  Repo a;
  REQUIRE(run_mvc({"remote", "add", "origin", "s3://mvc-test/big", "--default"}, a.root).exit_code == 0);
  configure_s3_remote(a.root, "origin", s3);
  const fs::path d = a / "models/big";
  fs::create_directories(d);
  write_file(d / "arch.toml",
             "format = \"mvc.arch/1\"\nname = \"big\"\n\n[inputs]\nx = { shape = [\"batch\", 40000], dtype = "
             "\"float32\" }\n\n[[layers]]\nname = \"l1\"\ntype = \"Linear\"\nin_features = 40000\nout_features = "
             "30000\nbias = false\n\n[[layers]]\nname = \"l2\"\ntype = \"Linear\"\nin_features = 30000\n"
             "out_features = 14000\nbias = false\n");
  const char* s1 = "model-00001-of-00002.safetensors";
  const char* s2 = "model-00002-of-00002.safetensors";
  const float w = 1.0f / 1024;
  write_constant_tensor(d / s1, "l1.weight", {30000, 40000}, w);
  write_constant_tensor(d / s2, "l2.weight", {14000, 30000}, w);
  write_file(d / "model.safetensors.index.json", std::string("{\"metadata\": {}, \"weight_map\": {\"l1.weight\": \"") +
                                                     s1 + "\", \"l2.weight\": \"" + s2 + "\"}}\n");
  REQUIRE(fs::file_size(d / s1) > (4ull << 30));
  REQUIRE(fs::file_size(d / s1) + fs::file_size(d / s2) > (6ull << 30));
  const std::string sha1 = sha256sum(d / s1), sha2 = sha256sum(d / s2);

  RunResult r = run_mvc({"commit", "models/big", "-m", "6 GiB in 2 shards", "--tag", "big-v1"}, a.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  r = run_mvc({"push"}, a.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);

  // A second clone: git brings the pointer and the index, mvc pull the shards from S3.
  fs::path b = a.tmp.path() / "b";
  git_clone(a.root, b);
  configure_s3_remote(b, "origin", s3);
  fs::remove_all(a.root / ".git/mvc");  // the first clone's cache is no source any more
  fs::remove(d / s1);
  fs::remove(d / s2);
  r = run_mvc({"pull"}, b);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  const fs::path bd = b / "models/big";
  CHECK(fs::file_size(bd / s1) > (4ull << 30));
  CHECK(sha256sum(bd / s1) == sha1);
  CHECK(sha256sum(bd / s2) == sha2);
  CHECK(json::parse(run_mvc({"status", "--json"}, b).out)["models"][0]["changes"].empty());

  // Loaded and run there: the union of the shards, every value as computed above.
  write_constant_tensor(b / "x.safetensors", "x", {1, 40000}, 1.0f);
  r = run_mvc({"run", "big-v1", "models/big", "--input", (b / "x.safetensors").string(), "--output",
               (b / "y.safetensors").string()},
              b);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  std::vector<float> y = floats(b / "y.safetensors", "l2");
  REQUIRE(y.size() == 14000);
  for (std::size_t i = 0; i < y.size(); i += 997) CHECK(std::abs(y[i] - 1144.04296875f) <= 1e-3f * 1144.0f);
}
