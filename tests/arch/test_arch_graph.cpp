// The full form of arch.toml: graphs, several outputs, blocks with arguments, repetition,
// conditional layers and expressions — what they expand to, and every error they can raise.
#include <catch2/catch.hpp>

#include "arch/arch.h"
#include "mvc/error.h"
#include "support.h"

using namespace mvc;
using namespace mvc::arch;

namespace {

const std::string kHead = "format = \"mvc.arch/1\"\nname = \"t\"\n";

Architecture parse(const std::string& arch, const std::string& hp = "") {
  return parse_architecture(arch, "m/arch.toml", hp, "m/hparams.toml");
}

std::string error_of(const std::string& arch, const std::string& hp = "") {
  try {
    parse(arch, hp);
  } catch (const Error& e) {
    CHECK(e.code() == Exit::model);
    return e.what();
  }
  FAIL("no error for:\n" << arch);
  return "";
}

std::vector<std::string> names(const Architecture& a) {
  std::vector<std::string> r;
  for (const auto& l : a.layers) r.push_back(l.name);
  return r;
}

const std::string kBlock = R"(
[blocks.Res]
args = ["width"]
defaults = { scale = 2, extra = false }

[[blocks.Res.layers]]
name = "fc"
type = "Linear"
in_features = "${args.width}"
out_features = "${args.width * args.scale // 2}"

[[blocks.Res.layers]]
name = "proj.0"
type = "Linear"
when = "${args.extra}"
inputs = ["x"]
in_features = "${args.width}"
out_features = "${args.width}"

[[blocks.Res.layers]]
name = "sum"
type = "add"
inputs = ["fc", "${args.extra ? 'proj.0' : 'x'}"]
)";

}  // namespace

TEST_CASE("graph: blocks, repetition and conditions expand to module paths", "[arch][graph]") {
  Architecture a = parse(kHead + "[inputs]\nx = { shape = [\"batch\", 4] }\n" + kBlock + R"(
[[layers]]
name = "blocks"
type = "Res"
repeat = 3
width = 4
extra = "${index == 1}"

[[layers]]
name = "head"
type = "Linear"
in_features = 4
out_features = "${hparams.out}"
)",
                         "out = 2\n");
  CHECK(names(a) == std::vector<std::string>{"blocks.0.fc", "blocks.0.sum", "blocks.1.fc", "blocks.1.proj.0",
                                             "blocks.1.sum", "blocks.2.fc", "blocks.2.sum", "head"});
  CHECK(a.layers[0].inputs == std::vector<std::string>{"x"});
  CHECK(a.layers[1].inputs == (std::vector<std::string>{"blocks.0.fc", "x"}));
  CHECK(a.layers[2].inputs == std::vector<std::string>{"blocks.0.sum"});
  CHECK(a.layers[3].inputs == std::vector<std::string>{"blocks.0.sum"});
  CHECK(a.layers[4].inputs == (std::vector<std::string>{"blocks.1.fc", "blocks.1.proj.0"}));
  CHECK(a.layers[7].inputs == std::vector<std::string>{"blocks.2.sum"});
  CHECK(a.outputs.size() == 1);
  CHECK(a.outputs[0].ref == "head");
  std::vector<std::string> keys;
  for (const auto& t : expected_state_dict(a)) keys.push_back(t.key);
  // Module tree order: blocks.0, blocks.1 (fc, proj), blocks.2, head.
  CHECK(keys == std::vector<std::string>{"blocks.0.fc.weight", "blocks.0.fc.bias", "blocks.1.fc.weight",
                                         "blocks.1.fc.bias", "blocks.1.proj.0.weight", "blocks.1.proj.0.bias",
                                         "blocks.2.fc.weight", "blocks.2.fc.bias", "head.weight", "head.bias"});
  auto rows = summarize(a);
  CHECK(rows.back().output_shape == "[batch, 2]");
  CHECK(rows[1].output_shape == "[batch, 4]");
}

TEST_CASE("graph: expressions", "[arch][graph]") {
  auto value = [](const std::string& expr) {
    Architecture a =
        parse(kHead + "[[layers]]\nname = \"f\"\ntype = \"Linear\"\nin_features = 1\nout_features = " + expr + "\n",
              "d = 8\nname = \"x\"\n[t]\nk = 3\n");
    return a.layers[0].int_opt("out_features");
  };
  CHECK(value("\"${4 * hparams.d}\"") == 32);
  CHECK(value("\"${hparams.d // 3 + hparams.t.k % 2}\"") == 3);
  CHECK(value("\"${-7 // 2 + 10}\"") == 6);  // floor division, as Python
  CHECK(value("\"${(1 + 2) * 3 - 1}\"") == 8);
  CHECK(value("\"${hparams.d > 4 && !(hparams.d == 5) ? 1 : 2}\"") == 1);
  CHECK(value("\"${hparams.name == 'x' ? 7 : hparams.missing}\"") == 7);  // the other branch is not evaluated
  CHECK(value("\"${hparams.d / 2}\"") == 4);
  Architecture a = parse(kHead + "[[layers]]\nname = \"${hparams.n + '_1'}\"\ntype = \"ReLU\"\n", "n = \"act\"\n");
  CHECK(a.layers[0].name == "act_1");
}

TEST_CASE("graph: several outputs are indexed", "[arch][graph]") {
  const std::string base = kHead +
                           "[inputs]\nx = { shape = [\"batch\", 6] }\n[[layers]]\nname = \"c\"\ntype = "
                           "\"chunk\"\nchunks = 3\ndim = 1\n";
  Architecture a = parse(base + "[[layers]]\nname = \"m\"\ntype = \"mul\"\ninputs = [\"c[0]\", \"c[2]\"]\n");
  CHECK(a.layers[1].inputs == (std::vector<std::string>{"c[0]", "c[2]"}));
  CHECK(summarize(a)[1].output_shape == "[batch, 2]");
  CHECK(error_of(base + "[[layers]]\nname = \"m\"\ntype = \"relu\"\ninputs = [\"c\"]\n") ==
        "m/arch.toml:13:11: layer 'm' (relu): input 'c' has 3 outputs; name one (c[0], c[1], c[2])");
  CHECK(error_of(base + "[[layers]]\nname = \"m\"\ntype = \"relu\"\ninputs = [\"c[3]\"]\n") ==
        "m/arch.toml:13:11: layer 'm' (relu): input 'c[3]': 'c' has 3 outputs (indices 0..2)");
  CHECK(error_of(base + "[[layers]]\nname = \"m\"\ntype = \"relu\"\n") ==
        "m/arch.toml:10:1: layer 'm' (relu): the previous node has 3 outputs; name the one this layer reads, e.g. "
        "inputs = [\"c[0]\"]");
  // PyTorch's rule: chunks of ceil(4 / 3) = 2 give only 2 pieces.
  CHECK(error_of(kHead + "[inputs]\nx = { shape = [\"batch\", 4] }\n[[layers]]\nname = \"c\"\ntype = "
                         "\"chunk\"\nchunks = 3\ndim = 1\n") ==
        "m/arch.toml:8:10: layer 'c' (chunk): an input of size 4 in dim 1 gives 2 chunks, not 3");
}

TEST_CASE("graph: outputs", "[arch][graph]") {
  const std::string base = kHead +
                           "outputs = OUT\n[inputs]\nx = { shape = [2] }\n[[layers]]\nname = \"a\"\ntype = "
                           "\"relu\"\n[[layers]]\nname = \"b\"\ntype = \"tanh\"\ninputs = [\"x\"]\n";
  auto with = [&](const std::string& o) {
    std::string s = base;
    s.replace(s.find("OUT"), 3, o);
    return s;
  };
  Architecture a = parse(with("[\"a\", \"b\"]"));
  REQUIRE(a.outputs.size() == 2);
  CHECK(a.outputs[0].name == "a");
  CHECK(a.outputs[1].ref == "b");
  CHECK(error_of(with("[\"c\"]")) ==
        "m/arch.toml:3:12: outputs: unknown input 'c' (valid: the declared inputs and earlier layers: a, b, x)");
  CHECK(error_of(with("[]")) == "m/arch.toml:3:11: 'outputs' must name at least one layer");
  CHECK(error_of(with("[\"a\", \"a\"]")) == "m/arch.toml:3:17: outputs: 'a' is listed twice");
}

TEST_CASE("graph: block errors", "[arch][graph][errors]") {
  const std::string in = "[inputs]\nx = { shape = [\"batch\", 4] }\n";
  auto use = [&](const std::string& extra) {
    return kHead + in + kBlock + "\n[[layers]]\nname = \"b\"\ntype = \"Res\"\n" + extra;
  };
  CHECK(error_of(use("widht = 4\n")) ==
        "m/arch.toml:32:1: layer 'b' (Res): unknown argument 'widht' (valid: width, scale, extra); did you mean "
        "'width'?");
  CHECK(error_of(use("")) == "m/arch.toml:29:1: layer 'b' (Res): missing argument 'width' (block 'Res' needs: width)");
  CHECK(error_of(use("width = 4\nrepeat = 0\n")) ==
        "m/arch.toml:33:10: 'repeat' must be an integer between 1 and 10000, got integer 0");
  CHECK(error_of(use("width = 4\nwhen = 1\n")) == "m/arch.toml:33:8: 'when' must be true or false, got integer 1");
  CHECK(error_of(use("width = 4\ninputs = [\"x\", \"x\"]\n")) ==
        "m/arch.toml:29:1: layer 'b' (Res): block 'Res' takes 1 input (x), got 2");
  // Shapes are checked through the expansion: scale 3 makes fc 6 wide, which cannot be added to x.
  CHECK(error_of(use("width = 4\nscale = 3\n")) ==
        "m/arch.toml:24:1: layer 'b.sum' (add): the shapes [batch, 6] and [batch, 4] cannot be broadcast together");
}

TEST_CASE("graph: more block errors", "[arch][graph][errors]") {
  const std::string kHead = ::kHead + "[inputs]\nx = { shape = [2] }\n";
  CHECK(error_of(kHead + "[blocks.B]\nargs = [\"n\"]\n[[blocks.B.layers]]\nname = \"inner\"\ntype = \"B\"\nn = 1\n"
                         "[[layers]]\nname = \"b\"\ntype = \"B\"\nn = 1\n")
            .find("blocks nested more than 16 deep (is block 'B' used inside itself?)") != std::string::npos);
  CHECK(error_of(kHead + "[blocks.Linear]\n[[blocks.Linear.layers]]\nname = \"r\"\ntype = \"ReLU\"\n[[layers]]\n"
                         "name = \"r\"\ntype = \"ReLU\"\n") ==
        "m/arch.toml:5:9: block 'Linear' has the name of a layer type; choose another name");
  CHECK(error_of(kHead + "[blocks.B]\nlayer = 1\n[[layers]]\nname = \"r\"\ntype = \"ReLU\"\n") ==
        "m/arch.toml:6:1: block 'B': unknown key 'layer' (valid: args, defaults, inputs, outputs, layers); did you "
        "mean 'layers'?");
  CHECK(error_of(kHead + "[blocks.B]\nargs = [\"n\"]\n[[layers]]\nname = \"r\"\ntype = \"ReLU\"\n") ==
        "m/arch.toml:5:9: block 'B' has no layers ([[blocks.B.layers]])");
  CHECK(error_of(kHead + "[blocks.B]\nargs = [\"n\"]\n[[blocks.B.layers]]\nname = \"r\"\ntype = \"ReLU\"\n"
                         "[[layers]]\nname = \"b\"\ntype = \"B\"\nn = \"${args.m}\"\n") ==
        "m/arch.toml:13:5: unknown reference '${args.m}': 'args' exists only inside a block");
  CHECK(error_of(kHead + "[blocks.B]\nargs = [\"n\"]\n[[blocks.B.layers]]\nname = \"r\"\ntype = \"Linear\"\n"
                         "in_features = \"${args.m}\"\nout_features = 1\n"
                         "[[layers]]\nname = \"b\"\ntype = \"B\"\nn = 1\n") ==
        "m/arch.toml:10:15: unknown reference '${args.m}': block 'B' has no argument 'm' (arguments: n)");
  // Expansion is bounded even when conditions leave every layer out.
  CHECK(error_of(kHead + "[blocks.A]\n[[blocks.A.layers]]\nname = \"r\"\ntype = \"ReLU\"\nwhen = false\n"
                         "[blocks.B]\n[[blocks.B.layers]]\nname = \"a\"\ntype = \"A\"\nrepeat = 10000\n"
                         "[[layers]]\nname = \"b\"\ntype = \"B\"\nrepeat = 10000\n")
            .find("expands to more than 1000000 layers") != std::string::npos);
  // The same layer name twice after expansion.
  CHECK(error_of(kHead + "[[layers]]\nname = \"a.0\"\ntype = \"ReLU\"\n[[layers]]\nname = \"a\"\ntype = \"ReLU\"\n"
                         "repeat = 2\n") ==
        "m/arch.toml:8:1: duplicate layer name 'a.0' (first defined at m/arch.toml:5:1)");
}
