// Weights format detection (weights::detect_weights_format) is unambiguous: a safetensors file
// is recognised whatever its header size N, including N = 128, 384, 640, ... whose first byte
// 0x80 is also a pickle's first byte; pickles, zips and legacy torch.save files still are what
// they are.
#include <catch2/catch.hpp>

#include <map>

#include "core/model_check.h"
#include "mvc/error.h"
#include "support.h"
#include "weights/safetensors.h"
#include "weights/torch_zip.h"

using namespace mvc::weights;
using mvc::Error;
using mvc::Exit;
namespace t = mvc::test;
namespace fs = std::filesystem;

namespace {

/// mvc's writer's header JSON for `tensors` and `metadata`, without the size prefix and the
/// trailing padding.
std::string writer_json(const std::vector<TensorBytes>& tensors, const std::map<std::string, std::string>& metadata) {
  std::string h = safetensors_header_bytes(tensors, metadata).substr(8);
  while (!h.empty() && h.back() == ' ') h.pop_back();
  return h;
}

std::string le64(std::uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return s;
}

}  // namespace

TEST_CASE("format detection: safetensors files of every header size 1..4096 are safetensors", "[weights][detect]") {
  t::TempDir dir;
  const fs::path p = dir / "weights.safetensors";
  const std::string data(8, '\x11');  // one float32 tensor of 2 elements
  const std::vector<TensorBytes> one = {{"w", DType::F32, {2}, data}};
  const std::size_t base = writer_json(one, {{"p", ""}}).size();  // the shortest header with the tensor
  int with_0x80 = 0;
  for (std::uint64_t n = 1; n <= 4096; ++n) {
    INFO("header size " << n);
    // The longest header of mvc's writer that fits in n bytes, padded with spaces to exactly n
    // (as the format allows): the tensor and metadata of the right length, or no tensor.
    std::string json, body;
    std::size_t tensors = 0;
    if (n >= base) {
      std::size_t pad = n % 4;  // 0-3 spaces of padding, whatever n
      if (n - pad < base) pad = 0;
      json = writer_json(one, {{"p", std::string(n - pad - base, 'x')}});
      body = data;
      tensors = 1;
    } else {
      json = n >= 2 ? writer_json({}, {}) : std::string("{");  // "{}" (or the invalid "{")
    }
    REQUIRE(json.size() <= n);
    std::string header = json + std::string(n - json.size(), ' ');
    std::string file = le64(n) + header + body;
    t::write_file(p, file);
    if (static_cast<unsigned char>(file[0]) == 0x80) ++with_0x80;
    CHECK(detect_weights_format(p) == WeightsFormat::safetensors);
    if (n == 1) {  // "{" is no JSON object: refused as a bad safetensors header, not as a pickle
      try {
        read_safetensors_header(p);
        FAIL("a 1-byte header was accepted");
      } catch (const Error& e) {
        CHECK(e.code() == Exit::model);
        CHECK_THAT(e.what(), Catch::Matchers::Contains("header"));
        CHECK_THAT(e.what(), !Catch::Matchers::Contains("legacy"));
      }
      continue;
    }
    SafetensorsHeader h = read_safetensors_header(p);
    CHECK(h.header_size == n);
    CHECK(h.tensors.size() == tensors);
    if (static_cast<unsigned char>(file[0]) == 0x80) {
      // What commit and status read: the header, as a safetensors file.
      mvc::core::WeightsInfo w = mvc::core::inspect_weights(p, "weights.safetensors", {});
      CHECK(w.kind == "safetensors");
      CHECK(w.tensors.size() == tensors);
    }
  }
  CHECK(with_0x80 == 16);  // 128, 384, ..., 3968
}

TEST_CASE("format detection: pickles, zips and legacy files are still told apart", "[weights][detect]") {
  t::TempDir dir;
  const fs::path p = dir / "w";
  // A bare pickle ({"{": 1}) with '{' at byte 8, whose first 8 bytes, read as a size, exceed
  // the file: not safetensors.
  t::write_file(p, std::string("\x80\x02}q\x00(\x8c\x01{K\x01u.", 13));
  CHECK(detect_weights_format(p) == WeightsFormat::torch_legacy);
  // 0x80 0x01 ... with '{' at byte 8 but a size (384) larger than the file: a pickle.
  t::write_file(p, le64(384) + "{}");
  CHECK(detect_weights_format(p) == WeightsFormat::torch_legacy);
  // The same bytes with the 384-byte header present: safetensors.
  t::write_file(p, le64(384) + "{}" + std::string(382, ' '));
  CHECK(detect_weights_format(p) == WeightsFormat::safetensors);
  // A header size of 0: no header byte, not safetensors.
  t::write_file(p, le64(0) + "{}");
  CHECK(detect_weights_format(p) == WeightsFormat::unknown);
  // Real torch.save files written by PyTorch.
  fs::path ck = t::fixture_dir() / "ckpt";
  CHECK(detect_weights_format(ck / "legacy.pt") == WeightsFormat::torch_legacy);
  CHECK(detect_weights_format(ck / "pt_plain/weights.pt") == WeightsFormat::torch_zip);
  CHECK(detect_weights_format(ck / "torchscript.pt") == WeightsFormat::torchscript);
  CHECK(detect_weights_format(t::fixture_dir() / "mlp_v1/weights.safetensors") == WeightsFormat::safetensors);
}
