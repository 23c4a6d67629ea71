#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>

#include "mvc/error.h"
#include "support.h"
#include "weights/safetensors.h"

using namespace mvc::weights;
using mvc::Error;
using mvc::Exit;
namespace t = mvc::test;
namespace fs = std::filesystem;

namespace {

std::string le64(std::uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return s;
}

/// A file: size prefix, `header` verbatim, then `data_size` zero bytes.
std::string st_file(const std::string& header, std::size_t data_size = 0) {
  return le64(header.size()) + header + std::string(data_size, '\0');
}

/// Reads `bytes` as a file named weights.safetensors (and through the in-memory entry point)
/// and requires an Error(Exit::model) of one line naming the file and holding every `parts`.
void require_model_error(const std::string& bytes, const std::vector<std::string>& parts) {
  t::TempDir dir;
  fs::path p = dir / "weights.safetensors";
  t::write_file(p, bytes);
  for (int via_memory = 0; via_memory < 2; ++via_memory) {
    INFO((via_memory ? "parse_safetensors_bytes" : "read_safetensors_header"));
    std::string what = via_memory ? std::string("mem.safetensors") : p.string();
    try {
      if (via_memory)
        parse_safetensors_bytes(bytes, what);
      else
        read_safetensors_header(p);
      FAIL("no error for a bad file");
    } catch (const Error& e) {
      std::string msg = e.what();
      INFO(msg);
      CHECK(e.code() == Exit::model);
      CHECK(msg.rfind(what + ": ", 0) == 0);
      CHECK(msg.find('\n') == std::string::npos);
      for (const auto& part : parts) CHECK(msg.find(part) != std::string::npos);
    }
  }
}

SafetensorsHeader parse_ok(const std::string& bytes) { return parse_safetensors_bytes(bytes, "mem"); }

const std::string kEntryF32x2 = R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})";

/// The fixture's tensors as TensorBytes viewing `file`.
std::vector<TensorBytes> tensors_of(const SafetensorsHeader& h, const std::string& file) {
  std::vector<TensorBytes> out;
  for (const auto& ti : h.tensors)
    out.push_back(
        {ti.name, ti.dtype, ti.shape, std::string_view(file).substr(h.data_offset + ti.begin, ti.end - ti.begin)});
  return out;
}

template <class T>
T value_at(const std::string& file, std::uint64_t off) {
  T v;
  std::memcpy(&v, file.data() + off, sizeof v);
  return v;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Reading real files written by Python.

TEST_CASE("safetensors: reads every dtype of the dtypes fixture", "[weights][safetensors]") {
  fs::path p = t::fixture_dir() / "dtypes" / "weights.safetensors";
  std::string file = t::read_file(p);
  SafetensorsHeader h = read_safetensors_header(p);

  CHECK(h.file_size == file.size());
  CHECK(h.header_size % 8 == 0);
  CHECK(h.data_offset == 8 + h.header_size);
  CHECK(h.file_size - h.data_offset == 109);
  CHECK(h.metadata == std::map<std::string, std::string>{{"format", "pt"}, {"note", "dtypes"}});

  struct Want {
    const char* name;
    DType dtype;
    std::vector<std::int64_t> shape;
    std::uint64_t begin, end;
  };
  const std::vector<Want> want = {
      {"bf16", DType::BF16, {2}, 0, 4}, {"bool", DType::BOOL, {3}, 4, 7},     {"empty", DType::F32, {0, 4}, 7, 7},
      {"f16", DType::F16, {3}, 7, 13},  {"f32", DType::F32, {2}, 13, 21},     {"f64", DType::F64, {2, 3}, 21, 69},
      {"i16", DType::I16, {2}, 69, 73}, {"i32", DType::I32, {1, 1}, 73, 77},  {"i64", DType::I64, {3}, 77, 101},
      {"i8", DType::I8, {1}, 101, 102}, {"scalar", DType::F32, {}, 102, 106}, {"u8", DType::U8, {3}, 106, 109},
  };
  REQUIRE(h.tensors.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    const TensorInfo& ti = h.tensors[i];
    INFO(want[i].name);
    CHECK(ti.name == want[i].name);
    CHECK(ti.dtype == want[i].dtype);
    CHECK(ti.shape == want[i].shape);
    CHECK(ti.begin == want[i].begin);
    CHECK(ti.end == want[i].end);
    CHECK(ti.numel() * dtype_size(ti.dtype) == ti.end - ti.begin);
    CHECK(h.find(want[i].name) == &ti);
  }
  CHECK(h.find("scalar")->numel() == 1);
  CHECK(h.find("empty")->numel() == 0);
  CHECK(h.find("nope") == nullptr);
  CHECK(h.find("") == nullptr);

  // The offsets point at the right bytes.
  const auto d = h.data_offset;
  CHECK(value_at<float>(file, d + h.find("f32")->begin) == 1.5f);
  CHECK(value_at<float>(file, d + h.find("f32")->begin + 4) == -2.25f);
  CHECK(value_at<double>(file, d + h.find("f64")->begin + 5 * 8) == 5.0);
  CHECK(value_at<std::int64_t>(file, d + h.find("i64")->begin + 8) == -2);
  CHECK(value_at<std::int32_t>(file, d + h.find("i32")->begin) == 7);
  CHECK(value_at<std::uint8_t>(file, d + h.find("u8")->begin) == 255);
  CHECK(value_at<float>(file, d + h.find("scalar")->begin) == 3.0f);
  CHECK(value_at<std::uint16_t>(file, d + h.find("bf16")->begin) == 0x3F80);  // bfloat16 1.0
  CHECK(value_at<std::uint16_t>(file, d + h.find("f16")->begin) == 0x3800);   // float16 0.5
}

TEST_CASE("safetensors: reads the MLP fixture", "[weights][safetensors]") {
  SafetensorsHeader h = read_safetensors_header(t::fixture_dir() / "mlp_v1" / "weights.safetensors");
  REQUIRE(h.tensors.size() == 4);
  CHECK(h.metadata.empty());
  CHECK(h.tensors[0].name == "linear1.bias");
  CHECK(h.tensors[0].shape == std::vector<std::int64_t>{20});
  CHECK(h.tensors[1].name == "linear1.weight");
  CHECK(h.tensors[1].shape == std::vector<std::int64_t>{20, 10});
  CHECK(h.tensors[2].name == "linear2.bias");
  CHECK(h.tensors[2].shape == std::vector<std::int64_t>{1});
  CHECK(h.tensors[3].name == "linear2.weight");
  CHECK(h.tensors[3].shape == std::vector<std::int64_t>{1, 20});
  std::uint64_t pos = 0, params = 0;
  for (const auto& ti : h.tensors) {
    CHECK(ti.dtype == DType::F32);
    CHECK(ti.begin == pos);
    pos = ti.end;
    params += ti.numel();
  }
  CHECK(params == 241);
  CHECK(h.file_size - h.data_offset == 241 * 4);
}

// ---------------------------------------------------------------------------------------------
// The writer.

TEST_CASE("safetensors: writer reproduces Python's bytes for every fixture", "[weights][safetensors]") {
  int checked = 0;
  for (const auto& e : fs::recursive_directory_iterator(t::fixture_dir())) {
    if (e.path().extension() != ".safetensors") continue;
    INFO(e.path().string());
    std::string file = t::read_file(e.path());
    SafetensorsHeader h = read_safetensors_header(e.path());
    auto tensors = tensors_of(h, file);
    CHECK(safetensors_header_bytes(tensors, h.metadata) == file.substr(0, h.data_offset));

    t::TempDir dir;
    write_safetensors(dir / "out.safetensors", tensors, h.metadata);
    CHECK(t::read_file(dir / "out.safetensors") == file);
    ++checked;
  }
  CHECK(checked >= 10);
}

TEST_CASE("safetensors: writer is deterministic whatever the input order", "[weights][safetensors]") {
  fs::path p = t::fixture_dir() / "dtypes" / "weights.safetensors";
  std::string file = t::read_file(p);
  SafetensorsHeader h = read_safetensors_header(p);
  auto tensors = tensors_of(h, file);
  const std::string want = safetensors_header_bytes(tensors, h.metadata);

  std::reverse(tensors.begin(), tensors.end());
  CHECK(safetensors_header_bytes(tensors, h.metadata) == want);
  std::mt19937 rng(42);
  t::TempDir dir;
  for (int i = 0; i < 5; ++i) {
    std::shuffle(tensors.begin(), tensors.end(), rng);
    CHECK(safetensors_header_bytes(tensors, h.metadata) == want);
    write_safetensors(dir / "w.safetensors", tensors, h.metadata);
    CHECK(t::read_file(dir / "w.safetensors") == file);
  }
}

TEST_CASE("safetensors: writer output round-trips through the reader", "[weights][safetensors]") {
  const std::string a(24, '\x01'), b(2, '\x02'), c;
  std::vector<TensorBytes> tensors = {
      {"z.weight", DType::F64, {3}, a},
      {"a.flag", DType::BOOL, {2, 1}, b},
      {"m.empty", DType::I32, {4, 0}, c},
  };
  std::map<std::string, std::string> meta = {{"format", "pt"}, {"author", "caf\xc3\xa9 \"x\"\n"}};
  t::TempDir dir;
  fs::path p = dir / "sub.safetensors";
  write_safetensors(p, tensors, meta);
  SafetensorsHeader h = read_safetensors_header(p);
  CHECK(h.metadata == meta);
  REQUIRE(h.tensors.size() == 3);
  CHECK(h.tensors[0].name == "a.flag");
  CHECK(h.tensors[0].dtype == DType::BOOL);
  CHECK(h.tensors[0].shape == std::vector<std::int64_t>{2, 1});
  CHECK((h.tensors[0].begin == 0 && h.tensors[0].end == 2));
  CHECK(h.tensors[1].name == "m.empty");
  CHECK((h.tensors[1].begin == 2 && h.tensors[1].end == 2));
  CHECK(h.tensors[2].name == "z.weight");
  CHECK((h.tensors[2].begin == 2 && h.tensors[2].end == 26));
  CHECK(h.header_size % 8 == 0);
  std::string file = t::read_file(p);
  CHECK(file.substr(h.data_offset) == b + a);
  CHECK((fs::status(p).permissions() & fs::perms::all) ==
        (fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read));
  // No temp file left behind.
  int n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++n;
  CHECK(n == 1);
}

TEST_CASE("safetensors: writer header layout", "[weights][safetensors]") {
  // Same bytes as the reference writer for an empty file: "{}" padded to 8.
  CHECK(safetensors_header_bytes({}, {}) == le64(8) + "{}      ");
  CHECK(safetensors_header_bytes({}, {{"framework", "pt"}}) ==
        le64(40) + R"({"__metadata__":{"framework":"pt"}})" + "     ");
  const std::string data(24, '\0');
  std::string h = safetensors_header_bytes({{"attn.0", DType::F32, {1, 2, 3}, data}}, {});
  CHECK(h == le64(64) + R"({"attn.0":{"data_offsets":[0,24],"dtype":"F32","shape":[1,2,3]}})");
  // Non-ASCII and control characters escaped as Python's json.dumps (ensure_ascii) does.
  std::string u =
      safetensors_header_bytes({{"caf\xc3\xa9\x7f\xf0\x9f\x98\x80", DType::U8, {}, "x"}}, {{"k", "a\tb\x01"}});
  CHECK(u.find(R"("caf\u00e9\u007f\ud83d\ude00")") != std::string::npos);
  CHECK(u.find(R"({"k":"a\tb\u0001"})") != std::string::npos);
  CHECK(parse_safetensors_bytes(u + "x", "mem").tensors.at(0).name == "caf\xc3\xa9\x7f\xf0\x9f\x98\x80");
}

TEST_CASE("safetensors: writer refuses inconsistent tensors", "[weights][safetensors]") {
  auto require_err = [](const std::vector<TensorBytes>& ts, const std::string& part,
                        const std::map<std::string, std::string>& meta = {}) {
    try {
      safetensors_header_bytes(ts, meta);
      FAIL("no error");
    } catch (const Error& e) {
      INFO(e.what());
      CHECK(e.code() == Exit::model);
      CHECK(std::string(e.what()).find(part) != std::string::npos);
    }
  };
  const std::string d8(8, '\0');
  require_err({{"a", DType::F32, {2}, d8}, {"a", DType::F32, {2}, d8}}, "tensor 'a': duplicate tensor name");
  require_err({{"a", DType::F32, {3}, d8}}, "tensor 'a': data is 8 bytes but shape [3] of F32 needs 12");
  require_err({{"a", DType::F32, {-2}, d8}}, "tensor 'a': shape [-2] has a negative dimension");
  require_err({{"a", DType::U8, {1LL << 32, 1LL << 32}, d8}}, "overflows 64 bits");
  require_err({{"__metadata__", DType::U8, {8}, d8}}, "reserved");
  require_err({{"bad\xff", DType::U8, {8}, d8}}, "not valid UTF-8");
  require_err({}, "__metadata__: entry 'k' is not valid UTF-8", {{"k", "\xc3"}});

  // write_safetensors names the file and leaves nothing behind.
  t::TempDir dir;
  fs::path p = dir / "w.safetensors";
  try {
    write_safetensors(p, {{"a", DType::F32, {3}, d8}});
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == Exit::model);
    CHECK(std::string(e.what()).rfind(p.string() + ": tensor 'a': ", 0) == 0);
  }
  CHECK(fs::is_empty(dir.path()));
}

// ---------------------------------------------------------------------------------------------
// Valid but unusual files.

TEST_CASE("safetensors: accepts what the reference accepts", "[weights][safetensors]") {
  SECTION("offsets in another order than names") {
    auto h = parse_ok(st_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},)"
                              R"("b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                              8));
    REQUIRE(h.tensors.size() == 2);
    CHECK(h.tensors[0].name == "a");
    CHECK(h.tensors[0].begin == 4);
    CHECK(h.tensors[1].name == "b");
    CHECK(h.tensors[1].begin == 0);
  }
  SECTION("several empty tensors at one offset") {
    auto h = parse_ok(st_file(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},)"
                              R"("b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                              R"("c":{"dtype":"I8","shape":[3,0],"data_offsets":[4,4]}})",
                              4));
    CHECK(h.tensors.size() == 3);
  }
  SECTION("no tensors, no data") {
    auto h = parse_ok(st_file("{}"));
    CHECK(h.tensors.empty());
    CHECK(h.metadata.empty());
    CHECK(h.data_offset == 10);
  }
  SECTION("null metadata and whitespace padding") {
    auto h = parse_ok(st_file("{\"__metadata__\":null}  \n\t\r  "));
    CHECK(h.metadata.empty());
  }
  SECTION("pretty-printed header, key order free") {
    auto h =
        parse_ok(st_file("{ \"x\" : { \"data_offsets\" : [ 0 , 2 ] , \"shape\" : [ ] , \"dtype\" : \"BF16\" } }", 2));
    REQUIRE(h.tensors.size() == 1);
    CHECK(h.tensors[0].shape.empty());
    CHECK(h.tensors[0].dtype == DType::BF16);
  }
  SECTION("C64") {
    auto h = parse_ok(st_file(R"({"c":{"dtype":"C64","shape":[2],"data_offsets":[0,16]}})", 16));
    CHECK(h.tensors.at(0).dtype == DType::C64);
  }
  SECTION("empty name and escaped names") {
    auto h = parse_ok(st_file(R"({"":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                              R"("\u00e9\n":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})",
                              2));
    REQUIRE(h.tensors.size() == 2);
    CHECK(h.tensors[0].name.empty());
    CHECK(h.tensors[1].name == "\xc3\xa9\n");
    CHECK(h.find("") == &h.tensors[0]);
  }
}

// ---------------------------------------------------------------------------------------------
// Invalid files: each fails with Exit::model, naming the file (and the tensor).

TEST_CASE("safetensors: rejects files too short or with a bad size prefix", "[weights][safetensors]") {
  require_model_error("", {"0 bytes, too short"});
  require_model_error(std::string("\x02\0\0\0\0\0\0", 7), {"7 bytes, too short"});
  require_model_error(le64(100) + "{}", {"header size 100 extends past the end of the file (10 bytes)"});
  require_model_error(le64(~0ULL) + "{}", {"exceeds the limit of 100000000 bytes"});
  require_model_error(le64(kMaxHeaderSize + 1) + "{}", {"header size 100000001 exceeds the limit"});
}

TEST_CASE("safetensors: a header size of 1e12 bytes fails fast", "[weights][safetensors]") {
  auto start = std::chrono::steady_clock::now();
  require_model_error(le64(1'000'000'000'000ULL) + "{}", {"header size 1000000000000 exceeds the limit"});
  // A sparse file as large as the claimed header: still refused before any allocation.
  t::TempDir dir;
  fs::path p = dir / "big.safetensors";
  t::write_file(p, le64(1'000'000'000'000ULL) + "{}");
  fs::resize_file(p, 1'000'000'000'008ULL);
  CHECK_THROWS_MATCHES(read_safetensors_header(p), Error, Catch::Matchers::Predicate<Error>([](const Error& e) {
                         return e.code() == Exit::model &&
                                std::string(e.what()).find("exceeds the limit") != std::string::npos;
                       }));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}

TEST_CASE("safetensors: rejects headers that are not a JSON object", "[weights][safetensors]") {
  require_model_error(st_file(""), {"not a JSON object"});
  require_model_error(st_file("[1,2]"), {"not a JSON object"});
  require_model_error(st_file("\"str\""), {"not a JSON object"});
  require_model_error(st_file(" {}"), {"does not start with '{'"});
  require_model_error(st_file("\xEF\xBB\xBF{}"), {"does not start with '{'"});
  require_model_error(st_file("{\"a\":"), {"header is not valid JSON"});
  require_model_error(st_file("{} x"), {"header is not valid JSON"});
  require_model_error(st_file(std::string("{}\0\0", 4)), {"header is not valid JSON: NUL byte at offset 2"});
  require_model_error(st_file(std::string("{}\0x", 4)), {"NUL byte"});
  require_model_error(st_file(std::string("{\"a\0\":1}", 8)), {"NUL byte"});
  require_model_error(st_file("{\"a\xff\":1}"), {"not valid JSON", "ill-formed UTF-8", "\\xff"});
  require_model_error(st_file("{\"a\xed\xa0\x80\":1}"), {"not valid JSON"});  // UTF-8-encoded surrogate
  require_model_error(st_file("{\"a\xc0\xaf\":1}"), {"not valid JSON"});      // overlong
  require_model_error(st_file("{/* c */}"), {"not valid JSON"});
  require_model_error(st_file("{\"a\":1,}"), {"not valid JSON"});
}

TEST_CASE("safetensors: rejects deep nesting without recursing", "[weights][safetensors]") {
  std::string deep = "{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  require_model_error(st_file(deep), {"nests JSON deeper"});
}

TEST_CASE("safetensors: rejects duplicate keys at every level", "[weights][safetensors]") {
  require_model_error(st_file("{\"linear1.weight\":" + kEntryF32x2 + ",\"linear1.weight\":" + kEntryF32x2 + "}", 8),
                      {"tensor 'linear1.weight': duplicate tensor name"});
  require_model_error(st_file(R"({"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8),
                      {"tensor 'a': duplicate key 'dtype'"});
  require_model_error(st_file(R"({"__metadata__":{"k":"1","k":"2"}})"), {"__metadata__: duplicate key 'k'"});
  require_model_error(st_file(R"({"__metadata__":{},"__metadata__":{}})"), {"duplicate key '__metadata__'"});
  // The same name spelled with an escape is the same key.
  require_model_error(st_file("{\"a\":" + kEntryF32x2 + ",\"\\u0061\":" + kEntryF32x2 + "}", 8),
                      {"tensor 'a': duplicate tensor name"});
}

TEST_CASE("safetensors: rejects bad metadata", "[weights][safetensors]") {
  require_model_error(st_file(R"({"__metadata__":{"epoch":1}})"), {"__metadata__: value of 'epoch' is not a string"});
  require_model_error(st_file(R"({"__metadata__":{"k":null}})"), {"value of 'k' is not a string (got null"});
  require_model_error(st_file(R"({"__metadata__":{"k":{"x":"y"}}})"), {"value of 'k' is not a string (got object"});
  require_model_error(st_file(R"({"__metadata__":"x"})"), {"__metadata__ is not an object of strings"});
  require_model_error(st_file(R"({"__metadata__":["a","b"]})"), {"__metadata__ is not an object of strings"});
}

TEST_CASE("safetensors: rejects bad dtypes", "[weights][safetensors]") {
  require_model_error(st_file(R"({"linear1.weight":{"dtype":"F99","shape":[2],"data_offsets":[0,8]}})", 8),
                      {"tensor 'linear1.weight': dtype 'F99' unknown (valid: BF16, BOOL, C64, F16, F32, F64, I16, "
                       "I32, I64, I8, U8)"});
  require_model_error(st_file(R"({"a":{"dtype":"f32","shape":[2],"data_offsets":[0,8]}})", 8),
                      {"tensor 'a': dtype 'f32' unknown"});
  require_model_error(st_file(R"({"a":{"dtype":"U16","shape":[4],"data_offsets":[0,8]}})", 8),
                      {"tensor 'a': dtype 'U16' is not supported by mvc"});
  require_model_error(st_file(R"({"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]}})", 8),
                      {"tensor 'a': dtype is not a string"});
}

TEST_CASE("safetensors: rejects bad shapes", "[weights][safetensors]") {
  require_model_error(st_file(R"({"w":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]}})"),
                      {"tensor 'w': shape [4294967296, 4294967296] of U8", "overflows 64 bits"});
  // The element count fits, the byte count does not.
  require_model_error(st_file(R"({"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}})"),
                      {"tensor 'w'", "overflows 64 bits"});
  require_model_error(st_file(R"({"w":{"dtype":"F32","shape":[2,-3],"data_offsets":[0,8]}})", 8),
                      {"tensor 'w': shape [2, -3]: dimension 1 is negative (-3)"});
  require_model_error(st_file(R"({"w":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", 8),
                      {"tensor 'w': shape [2.0]: dimension 0 is not an integer (2.0)"});
  require_model_error(st_file(R"({"w":{"dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,8]}})", 8),
                      {"tensor 'w'", "dimension 0 is too large (1.8446744073709552e+19)"});
  require_model_error(st_file(R"({"w":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}})", 8),
                      {"tensor 'w'", "not an integer (got string)"});
  require_model_error(st_file(R"({"w":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", 8),
                      {"tensor 'w': shape is not an array"});
  require_model_error(st_file(R"({"w":{"dtype":"U8","shape":[0,9223372036854775808],"data_offsets":[0,0]}})"),
                      {"tensor 'w'", "dimension 1 is too large"});
}

TEST_CASE("safetensors: rejects malformed entries", "[weights][safetensors]") {
  require_model_error(st_file(R"({"w":[1]})"), {"tensor 'w': entry is not a JSON object (got array)"});
  require_model_error(st_file(R"({"w":{"shape":[2],"data_offsets":[0,8]}})", 8), {"tensor 'w': missing 'dtype'"});
  require_model_error(st_file(R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", 8), {"tensor 'w': missing 'shape'"});
  require_model_error(st_file(R"({"w":{"dtype":"F32","shape":[2]}})", 8), {"tensor 'w': missing 'data_offsets'"});
  require_model_error(st_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"offsets":[0,8]}})", 8),
                      {"tensor 'w': unknown field 'offsets'"});
  require_model_error(st_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}})", 8),
                      {"tensor 'w': data_offsets is not a pair"});
  require_model_error(st_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[-1,7]}})", 8),
                      {"tensor 'w'", "begin is negative"});
}

TEST_CASE("safetensors: rejects offsets that do not tile the data", "[weights][safetensors]") {
  SECTION("size mismatch between shape and offsets") {
    require_model_error(st_file(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,12]}})", 12),
                        {"tensor 'w': data_offsets [0, 12] hold 12 bytes but shape [2, 3] of F32 needs 24"});
  }
  SECTION("end before begin") {
    require_model_error(st_file(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", 8),
                        {"tensor 'w': data_offsets [8, 4] end before they begin"});
  }
  SECTION("out of bounds") {
    require_model_error(st_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4),
                        {"tensor 'w': data_offsets [0, 8] extend past the end of the data (4 bytes)"});
    require_model_error(
        st_file(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[18446744073709551614,18446744073709551615]}})", 4),
        {"tensor 'w'", "past the end of the data"});
  }
  SECTION("overlap") {
    require_model_error(st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                12),
                        {"tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]"});
    // Two tensors on the same bytes.
    require_model_error(st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                R"("b":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}})",
                                8),
                        {"tensor 'b': data_offsets [0, 8] overlap tensor 'a' [0, 8]"});
  }
  SECTION("gap") {
    require_model_error(st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                R"("b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})",
                                20),
                        {"tensor 'b': data_offsets [12, 20] leave a gap of 4 bytes after tensor 'a' [0, 8]"});
    require_model_error(st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
                        {"tensor 'a'", "starts with 4 unused bytes"});
  }
  SECTION("trailing bytes") {
    require_model_error(st_file("{\"a\":" + kEntryF32x2 + "}", 9), {"1 trailing bytes after the last tensor"});
    require_model_error(st_file("{}", 3), {"3 trailing bytes"});
  }
}

TEST_CASE("safetensors: error messages stay on one line", "[weights][safetensors]") {
  require_model_error(st_file(R"({"evil\nname\u0000":{"dtype":"X","shape":[],"data_offsets":[0,0]}})"),
                      {"tensor 'evil\\x0aname\\x00': dtype 'X' unknown"});
  std::string longname(5000, 'n');
  require_model_error(st_file("{\"" + longname + "\":{\"dtype\":\"X\",\"shape\":[],\"data_offsets\":[0,0]}}"),
                      {"tensor 'nnnn", "...': dtype 'X'"});
}

TEST_CASE("safetensors: I/O errors are not model errors", "[weights][safetensors]") {
  t::TempDir dir;
  try {
    read_safetensors_header(dir / "missing.safetensors");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == Exit::failure);
    CHECK(std::string(e.what()).find("missing.safetensors") != std::string::npos);
  }
  try {
    read_safetensors_header(dir.path());
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == Exit::failure);
  }
}

TEST_CASE("safetensors: mutated fixtures fail only with model errors", "[weights][safetensors]") {
  // A cheap deterministic fuzz of the in-memory entry point (tests/weights/fuzz/ has the
  // libFuzzer harness): flip, insert, delete and truncate bytes of a real file.
  const std::string orig = t::read_file(t::fixture_dir() / "dtypes" / "weights.safetensors");
  const std::size_t header_end = 8 + parse_ok(orig).header_size;
  std::mt19937 rng(1234);
  const char interesting[] = {'{', '}', '[', ']', '"', ',', ':', '-', '0', '9', ' ', '\\', 'e', '.', '\0', '\xff'};
  int ok = 0, refused = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string m = orig;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits; ++k) {
      if (m.empty()) break;
      std::size_t pos = rng() % std::min(header_end, m.size());
      switch (rng() % 5) {
        case 0:
          m[pos] = static_cast<char>(rng());
          break;
        case 1:
          m[pos] = interesting[rng() % sizeof interesting];
          break;
        case 2:
          m.insert(pos, 1, interesting[rng() % sizeof interesting]);
          break;
        case 3:
          m.erase(pos, 1);
          break;
        case 4:
          m.resize(rng() % (m.size() + 1));
          break;
      }
    }
    try {
      SafetensorsHeader h = parse_safetensors_bytes(m, "fuzz");
      ++ok;
      // Whatever is accepted is consistent.
      std::uint64_t covered = 0;
      for (const auto& ti : h.tensors) {
        REQUIRE(ti.end >= ti.begin);
        REQUIRE(ti.end <= h.file_size - h.data_offset);
        REQUIRE(ti.numel() * dtype_size(ti.dtype) == ti.end - ti.begin);
        covered += ti.end - ti.begin;
      }
      REQUIRE(covered == h.file_size - h.data_offset);
      REQUIRE(std::is_sorted(h.tensors.begin(), h.tensors.end(),
                             [](const TensorInfo& a, const TensorInfo& b) { return a.name < b.name; }));
    } catch (const Error& e) {
      ++refused;
      REQUIRE(e.code() == Exit::model);
      REQUIRE(std::string(e.what()).rfind("fuzz: ", 0) == 0);
      REQUIRE(std::string(e.what()).find('\n') == std::string::npos);
    }
  }
  CHECK(refused > 2000);
  CHECK(ok + refused == 3000);
}

// Files and tensors over 4 GiB (git-lfs#2434 truncated them): offsets and sizes are 64-bit. A
// sparse file (resize_file: no data written) makes this cheap; the header alone is read.
TEST_CASE("safetensors: a sparse file with a tensor over 4 GiB reads with 64-bit offsets",
          "[weights][safetensors][large]") {
  t::TempDir tmp;
  const fs::path p = tmp.path() / "big.safetensors";
  const std::uint64_t big = 1'200'000'000ull * 4;  // float32 [1200000000]: 4.8 GB
  std::string json = R"({"a":{"dtype":"F32","shape":[30000,40000],"data_offsets":[0,)" + std::to_string(big) +
                     R"(]},"b":{"dtype":"F32","shape":[2],"data_offsets":[)" + std::to_string(big) + "," +
                     std::to_string(big + 8) + "]}}";
  json += std::string((8 - json.size() % 8) % 8, ' ');
  std::string head(8, '\0');
  for (int i = 0; i < 8; ++i) head[static_cast<std::size_t>(i)] = static_cast<char>((json.size() >> (8 * i)) & 0xFF);
  t::write_file(p, head + json);
  fs::resize_file(p, 8 + json.size() + big + 8);
  SafetensorsHeader h = read_safetensors_header(p);
  REQUIRE(h.tensors.size() == 2);
  const TensorInfo* b = h.find("b");
  REQUIRE(b);
  CHECK(b->begin == big);
  CHECK(b->end == big + 8);
  CHECK(h.find("a")->end - h.find("a")->begin == big);
  // One byte short is refused (the size arithmetic does not wrap at 32 bits).
  fs::resize_file(p, 8 + json.size() + big + 7);
  CHECK_THROWS_AS(read_safetensors_header(p), Error);
}
