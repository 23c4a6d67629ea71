// torch.save checkpoints, torch-free: the restricted unpickler, the state-dict description of
// real checkpoints written by Debian's python3-torch (tests/fixtures/generate_checkpoints.py),
// and conversion to safetensors compared byte for byte with what Python wrote.
#include <catch2/catch.hpp>

#include <map>

#include "mvc/error.h"
#include "support.h"
#include "weights/convert.h"
#include "weights/pickle.h"
#include "weights/safetensors.h"
#include "weights/torch_zip.h"

using namespace mvc::weights;
using mvc::Error;
using mvc::Exit;
namespace t = mvc::test;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using namespace std::string_literals;

namespace {

fs::path ckpt(const std::string& name) { return t::fixture_dir() / "ckpt" / name; }

struct Plain {
  DType dtype;
  std::vector<std::int64_t> shape;
  std::string bytes;
  bool operator==(const Plain& o) const { return dtype == o.dtype && shape == o.shape && bytes == o.bytes; }
};

/// Every tensor of a safetensors file: dtype, shape, bytes.
std::map<std::string, Plain> read_st(const fs::path& p) {
  SafetensorsHeader h = read_safetensors_header(p);
  std::string all = t::read_file(p);
  std::map<std::string, Plain> out;
  for (const auto& x : h.tensors)
    out[x.name] = {x.dtype, x.shape, all.substr(h.data_offset + x.begin, x.end - x.begin)};
  return out;
}

/// A checkpoint converted to safetensors, then read back.
std::map<std::string, Plain> converted(const fs::path& src, const StateDictOptions& opts, const fs::path& dst) {
  convert_to_safetensors(src, dst, opts);
  return read_st(dst);
}

std::string error_of(const std::function<void()>& f, Exit want = Exit::model) {
  try {
    f();
  } catch (const Error& e) {
    CHECK(e.code() == want);
    return e.what();
  }
  FAIL("no error");
  return {};
}

// --- pickle bytes by hand ----------------------------------------------------------------

std::string pk(std::initializer_list<std::string> parts) {
  std::string s = "\x80\x02";
  for (const auto& p : parts) s += p;
  return s + ".";
}
std::string ustr(const std::string& s) {  // SHORT_BINUNICODE
  return std::string("\x8c") + static_cast<char>(s.size()) + s;
}
std::string global(const std::string& m, const std::string& n) { return "c" + m + "\n" + n + "\n"; }
const std::string kEmptyDict = "}";
const std::string kMark = "(";
/// A tensor of `numel` floats in storage "0" of `storage_numel` elements, as _rebuild_tensor_v2.
std::string tensor_pk(int offset, const std::string& size_tuple, const std::string& stride_tuple, int storage_numel) {
  return global("torch._utils", "_rebuild_tensor_v2") + kMark + kMark + ustr("storage") +
         global("torch", "FloatStorage") + ustr("0") + ustr("cpu") + "K" + static_cast<char>(storage_numel) + "t" +
         "Q" + "K" + static_cast<char>(offset) + size_tuple + stride_tuple + "\x89" + kEmptyDict + "tR";
}
std::string tup1(int a) { return std::string("K") + static_cast<char>(a) + "\x85"; }

}  // namespace

TEST_CASE("torch.save: the zoo's tensors are described as Python saved them", "[weights][torch]") {
  TorchCheckpoint c = read_torch_checkpoint(ckpt("zoo.pt"), {}, "zoo.pt");
  CHECK(c.prefix == "zoo");
  CHECK(c.key.empty());
  REQUIRE(c.tensors.size() == 19);
  auto get = [&](const char* n) -> const TorchTensorInfo& {
    const TorchTensorInfo* x = c.find(n);
    REQUIRE(x);
    return *x;
  };
  // Tied: the same storage, the same view.
  CHECK(get("tied.a").storage == get("tied.b").storage);
  CHECK(get("view.row").storage == get("tied.a").storage);
  CHECK(get("view.row").storage_offset == 6);
  CHECK(get("view.row").shape == std::vector<std::int64_t>{6});
  CHECK(get("transposed").shape == std::vector<std::int64_t>{6, 4});
  CHECK(get("transposed").strides == std::vector<std::int64_t>{1, 6});
  CHECK_FALSE(get("transposed").contiguous());
  CHECK(get("sliced").strides == std::vector<std::int64_t>{6, 2});
  CHECK(get("sliced").storage_offset == 6);
  CHECK(get("expanded").strides == std::vector<std::int64_t>{1, 0});
  CHECK(get("scalar").shape.empty());
  CHECK(get("empty").shape == std::vector<std::int64_t>{0, 3});
  CHECK(get("bf16").dtype == DType::BF16);
  CHECK(get("f16").dtype == DType::F16);
  CHECK(get("i64").dtype == DType::I64);
  CHECK(get("bool").dtype == DType::BOOL);
  CHECK(get("u8").dtype == DType::U8);
  CHECK(get("param").parameter);
  CHECK_FALSE(get("tied.a").parameter);
  CHECK(c.storages.at(get("tied.a").storage).numel == 24);
}

TEST_CASE("torch.save: converting checkpoints gives Python's values bit for bit, twice the same bytes",
          "[weights][torch][import]") {
  t::TempDir tmp;
  SECTION("the zoo: views gathered, every dtype, 0-d and empty tensors") {
    auto got = converted(ckpt("zoo.pt"), {}, tmp / "zoo.safetensors");
    auto want = read_st(ckpt("zoo.expected.safetensors"));
    REQUIRE(got.size() == want.size());
    for (const auto& [name, w] : want) {
      INFO(name);
      REQUIRE(got.count(name));
      CHECK(got.at(name) == w);
    }
    convert_to_safetensors(ckpt("zoo.pt"), tmp / "again.safetensors", {});
    CHECK(t::read_file(tmp / "zoo.safetensors") == t::read_file(tmp / "again.safetensors"));
  }
  SECTION("plain, wrapped, DataParallel, torch.compile, float16") {
    struct Case {
      const char* name;
      StateDictOptions opts;
    };
    for (const Case& k :
         {Case{"pt_plain", {}}, Case{"pt_wrapped", {}}, Case{"pt_wrapped", {"model_state_dict", ""}},
          Case{"pt_dp", {"", "module."}}, Case{"pt_compiled", {"", "_orig_mod."}}, Case{"pt_fp16", {}}}) {
      INFO(k.name << " key=" << k.opts.key << " strip=" << k.opts.strip_prefix);
      auto got = converted(ckpt(k.name) / "weights.pt", k.opts, tmp / (std::string(k.name) + ".safetensors"));
      CHECK(got == read_st(ckpt(std::string(k.name) + ".expected.safetensors")));
      // The Python writer of the fixtures writes canonical safetensors too: same bytes.
      CHECK(t::read_file(tmp / (std::string(k.name) + ".safetensors")) ==
            t::read_file(ckpt(std::string(k.name) + ".expected.safetensors")));
    }
  }
}

TEST_CASE("torch.save: a wrapped checkpoint's state dict is found, or the choice is asked for", "[weights][torch]") {
  TorchCheckpoint c = read_torch_checkpoint(ckpt("pt_wrapped/weights.pt"), {}, "w.pt");
  CHECK(c.key == "model_state_dict");
  CHECK(c.key_detected);
  CHECK(c.top_keys == std::vector<std::string>{"epoch", "model_state_dict", "optimizer_state_dict", "loss"});
  CHECK(c.tensors.size() == 4);

  std::string e = error_of([] { read_torch_checkpoint(ckpt("pt_ambiguous/weights.pt"), {}, "amb.pt"); });
  CHECK_THAT(e, Contains("amb.pt: the checkpoint holds several state dicts ('student', 'teacher')"));
  CHECK_THAT(e, Contains("top-level keys: 'student', 'teacher', 'step'"));
  CHECK_THAT(e, Contains("--key KEY"));
  CHECK(read_torch_checkpoint(ckpt("pt_ambiguous/weights.pt"), {"teacher", ""}, "amb.pt").key == "teacher");

  e = error_of([] { read_torch_checkpoint(ckpt("pt_wrapped/weights.pt"), {"model", ""}, "w.pt"); });
  CHECK_THAT(e, Contains("no key 'model' in the checkpoint (top-level keys: 'epoch', 'model_state_dict'"));
  e = error_of([] { read_torch_checkpoint(ckpt("pt_wrapped/weights.pt"), {"epoch", ""}, "w.pt"); });
  CHECK_THAT(e, Contains("'epoch' holds a int, not a state dict"));
  e = error_of([] { read_torch_checkpoint(ckpt("pt_wrapped/weights.pt"), {"optimizer_state_dict", ""}, "w.pt"); });
  CHECK_THAT(e, Contains("state dict entry 'state' is a dict, not a tensor"));
}

TEST_CASE("torch.save: legacy files and TorchScript archives are refused with how to re-save", "[weights][torch]") {
  CHECK(detect_weights_format(ckpt("legacy.pt")) == WeightsFormat::torch_legacy);
  CHECK(detect_weights_format(ckpt("torchscript.pt")) == WeightsFormat::torchscript);
  CHECK(detect_weights_format(ckpt("zoo.pt")) == WeightsFormat::torch_zip);
  CHECK(detect_weights_format(ckpt("zoo.expected.safetensors")) == WeightsFormat::safetensors);
  std::string e = error_of([] { read_torch_checkpoint(ckpt("legacy.pt"), {}, "legacy.pt"); });
  CHECK_THAT(e, Contains("legacy.pt: a legacy torch.save file (PyTorch < 1.6, not a zip archive)"));
  CHECK_THAT(e, Contains("torch.save(torch.load(f), 'weights.pt')"));
  e = error_of([] { read_torch_checkpoint(ckpt("torchscript.pt"), {}, "ts.pt"); });
  CHECK_THAT(e, Contains("ts.pt: a TorchScript archive (torch.jit.save)"));
  CHECK_THAT(e, Contains("torch.save(model.state_dict(), 'weights.pt')"));
}

TEST_CASE("torch.save: a pickle that would call os.system or exec is refused, naming the global", "[weights][torch]") {
  std::string e = error_of([] { read_torch_checkpoint(ckpt("evil_system.pt"), {}, "evil.pt"); });
  CHECK_THAT(e, Contains("evil.pt: global 'posix.system' is not allowed in a weights file"));
  CHECK_THAT(e, Contains("nothing is ever called"));
  e = error_of([] { read_torch_checkpoint(ckpt("evil_exec.pt"), {}, "evil.pt"); });
  CHECK_THAT(e, Contains("global '__builtin__.exec' is not allowed"));
}

TEST_CASE("unpickler: reads what torch.save writes by hand-built pickles", "[weights][pickle]") {
  // {"w": tensor([3] of storage of 4, offset 1)}
  std::string p = pk({kEmptyDict, ustr("w"), tensor_pk(1, tup1(3), tup1(1), 4), "s"});
  TorchCheckpoint c = describe_torch_pickle(p, {}, "p");
  REQUIRE(c.tensors.size() == 1);
  CHECK(c.tensors[0].storage_offset == 1);
  CHECK(c.tensors[0].shape == std::vector<std::int64_t>{3});
  CHECK(c.storages.at("0").entry == "archive/data/0");
  CHECK(gather_tensor_bytes(c.tensors[0], std::string("0123456789abcdef")) == "456789abcdef");

  auto v = pickle::unpickle(
      pk({"(", "J\xff\xff\xff\xff", "\x8a\x02\x00\x80"s, "\x88", "N", "G?\xf8\x00\x00\x00\x00\x00\x00"s, "t"}), "p");
  REQUIRE(v->items.size() == 5);
  CHECK(v->items[0]->i == -1);
  CHECK(v->items[1]->i == -32768);
  CHECK(v->items[2]->kind == pickle::Value::Kind::boolean);
  CHECK(v->items[2]->b);
  CHECK(v->items[3]->kind == pickle::Value::Kind::none);
  CHECK(v->items[4]->f == 1.5);
}

TEST_CASE("unpickler: refuses hostile and malformed pickles with one clear error", "[weights][pickle]") {
  struct Case {
    const char* what;
    std::string bytes;
    const char* message;
  };
  std::string deep;
  for (int i = 0; i < 200; ++i) deep += "]";
  for (int i = 0; i < 199; ++i) deep += "a";
  std::vector<Case> cases = {
      {"os.system", pk({global("os", "system"), ustr("touch x"), "\x85R"}), "global 'os.system' is not allowed"},
      {"STACK_GLOBAL", pk({ustr("builtins"), ustr("eval"), "\x93"}), "global 'builtins.eval' is not allowed"},
      {"INST", "\x80\x02(isubprocess\nPopen\n.", "global 'subprocess.Popen' is not allowed"},
      {"NEWOBJ", pk({")", ")", "\x81"}), "creating an object"},
      {"EXT1", pk({"\x82\x01"}), "copyreg extension registry"},
      {"calling a storage type", pk({global("torch", "FloatStorage"), ")R"}), "cannot be called"},
      {"unknown opcode", pk({"\xff"}), "unsupported pickle opcode 0xff"},
      {"truncated", std::string("\x80\x02X\xff\xff\xff\x7f", 8), "truncated"},
      {"no STOP", std::string("\x80\x02}"), "without a STOP"},
      {"protocol 6", std::string("\x80\x06}."), "protocol 6"},
      {"huge integer", pk({"\x8a\x09", std::string(9, '\x01')}), "does not fit 64 bits"},
      {"memo never stored", pk({"h\x07"}), "memo index 7 was never stored"},
      {"stack underflow", pk({"s"}), "stack underflow"},
      {"self-containing list",
       pk({"]q\x00h\x00"
           "a"s}),
       "contains itself"},
      {"deep nesting", pk({deep}), "nest deeper than 100"},
      {"top level not a dict", pk({"]"}), "holds a list, not a state dict"},
      {"view past its storage", pk({kEmptyDict, ustr("w"), tensor_pk(2, tup1(3), tup1(1), 4), "s"}),
       "view reaches element 4 of storage '0', which has 4"},
      {"negative stride", pk({kEmptyDict, ustr("w"), tensor_pk(0, tup1(2), "J\xff\xff\xff\xff\x85", 4), "s"}),
       "negative stride"},
      {"storage key with a slash",
       pk({global("torch._utils", "_rebuild_tensor_v2"), kMark, kMark, ustr("storage"), global("torch", "FloatStorage"),
           ustr("../x"), ustr("cpu"), "K\x01t", "Q"}),
       "storage key '../x' is not a valid name"},
      {"complex128 storage",
       pk({kMark, ustr("storage"), global("torch", "ComplexDoubleStorage"), ustr("0"), ustr("cpu"), "K\x01t", "Q"}),
       "torch.ComplexDoubleStorage: its dtype is not supported by mvc"},
      {"a non-tensor in the state dict",
       pk({kEmptyDict, ustr("w"), tensor_pk(0, tup1(1), tup1(1), 4), "s", ustr("n"), "K\x01s"}),
       "no state dict (a dict of tensors) found"},
      {"object state on a dict", pk({kEmptyDict, kEmptyDict, "b"}), "BUILD (setting object state) on a dict"},
  };
  for (const auto& k : cases) {
    INFO(k.what);
    std::string e = error_of([&] { describe_torch_pickle(k.bytes, {}, "f.pt"); });
    CHECK_THAT(e, Contains(k.message));
    CHECK_THAT(e, Contains("f.pt: "));
    CHECK(e.find('\n') == std::string::npos);
  }
}

TEST_CASE("state dict: strip_prefix and duplicate names", "[weights][torch]") {
  auto t = [](int off) { return tensor_pk(off, tup1(1), tup1(1), 4); };
  std::string p = pk({kEmptyDict, ustr("module.a"), t(0), "s", ustr("a"), t(1), "s"});
  TorchCheckpoint c = describe_torch_pickle(p, {}, "f");
  CHECK(c.tensors.size() == 2);
  std::string e = error_of([&] { describe_torch_pickle(p, {"", "module."}, "f"); });
  CHECK_THAT(e, Contains("tensor 'a' appears twice in the state dict (after stripping 'module.')"));
  std::string dup = pk({kEmptyDict, ustr("a"), t(0), "s", ustr("a"), t(1), "s"});
  CHECK_THAT(error_of([&] { describe_torch_pickle(dup, {}, "f"); }), Contains("tensor 'a' appears twice"));
}

TEST_CASE("torch.save: storage entries must exist with the size the pickle says", "[weights][torch]") {
  t::TempDir tmp;
  // A copy of pt_plain whose storage 0 is cut short, and one that says it is big-endian.
  t::RunResult r =
      t::run({MVC_PYTHON, "-c",
              "import zipfile,sys\n"
              "src=zipfile.ZipFile(sys.argv[1])\n"
              "for out,fix in ((sys.argv[2],'short'),(sys.argv[3],'big')):\n"
              "  z=zipfile.ZipFile(out,'w')\n"
              "  for i in src.infolist():\n"
              "    b=src.read(i.filename)\n"
              "    if fix=='short' and i.filename.endswith('/data/0'): b=b[:-4]\n"
              "    z.writestr(i.filename,b)\n"
              "  if fix=='big': z.writestr('weights/byteorder','big')\n"
              "  z.close()\n",
              ckpt("pt_plain/weights.pt").string(), (tmp / "short.pt").string(), (tmp / "big.pt").string()});
  REQUIRE(r.exit_code == 0);
  std::string e = error_of([&] { read_torch_checkpoint(tmp / "short.pt", {}, "short.pt"); });
  CHECK_THAT(e, Contains("short.pt: storage '0': zip entry 'weights/data/0' is"));
  CHECK_THAT(e, Contains("elements of float32 need"));
  e = error_of([&] { read_torch_checkpoint(tmp / "big.pt", {}, "big.pt"); });
  CHECK_THAT(e, Contains("saved on a 'big'-endian machine"));
  t::write_file(tmp / "junk.pt", "PK\x03\x04 this is not a zip");
  e = error_of([&] { read_torch_checkpoint(tmp / "junk.pt", {}, "junk.pt"); });
  CHECK_THAT(e, Contains("not a valid zip archive"));
}
