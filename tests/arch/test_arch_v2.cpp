// Format mvc.arch/2 (docs/architecture.md, "Format versions" and "Sizes read from inputs"):
// its vocabulary is refused in mvc.arch/1 files, read in mvc.arch/2 files, and every bad option
// of it is Exit::model naming the file, line and option. Free Parameters and Buffers have the
// layer's name as their key, in PyTorch's state_dict order.
#include <catch2/catch.hpp>

#include "arch/arch.h"
#include "mvc/error.h"

using namespace mvc;
using namespace mvc::arch;

namespace {

const std::string kV1 = "format = \"mvc.arch/1\"\nname = \"t\"\n";  // 2 lines
const std::string kV2 = "format = \"mvc.arch/2\"\nname = \"t\"\n";

const std::string kInputs = "[inputs]\nx = { shape = [\"batch\", 4, 6, 6] }\n";  // 2 lines

Architecture parse(const std::string& text) { return parse_architecture(text, "models/m/arch.toml", "", ""); }

std::string error_of(const std::string& arch) {
  try {
    parse(arch);
  } catch (const Error& e) {
    CHECK(e.code() == Exit::model);
    std::string m = e.what();
    CHECK(m.find('\n') == std::string::npos);
    return m;
  }
  FAIL("no error for:\n" << arch);
  return {};
}

std::string layer(const std::string& name, const std::string& type, const std::string& extra = "") {
  return "[[layers]]\nname = \"" + name + "\"\ntype = \"" + type + "\"\n" + extra;
}

}  // namespace

#define CHECK_CONTAINS(msg, part) CHECK_THAT(msg, Catch::Matchers::Contains(part))

TEST_CASE("arch v2: its constructs need format mvc.arch/2", "[arch][errors][v2]") {
  // The header is 2 lines, the inputs 2: the layer table is line 5.
  CHECK(error_of(kV1 + kInputs + layer("gate", "Hardsigmoid")) ==
        "models/m/arch.toml:5:1: layer 'gate' (Hardsigmoid): layer type 'Hardsigmoid' needs format = "
        "\"mvc.arch/2\" (this file says mvc.arch/1)");
  CHECK_CONTAINS(error_of(kV1 + kInputs + layer("h", "mul", "scalar = 0.5\n")),
                 "layer 'h' (mul): option 'scalar' of mul needs format = \"mvc.arch/2\"");
  CHECK_CONTAINS(
      error_of(kV1 + kInputs + layer("v", "view", "inputs = [\"x\", \"x\"]\nshape = [\"in1.size(0)\", -1]\n")),
      "layer 'v' (view): a size read from an input (in1.size(0)) in 'shape' needs format = \"mvc.arch/2\"");
  CHECK_CONTAINS(error_of(kV1 + layer("p", "Parameter", "shape = [2]\n")), "layer type 'Parameter' needs format");

  // The same files say mvc.arch/2: read.
  CHECK(parse(kV2 + kInputs + layer("gate", "Hardsigmoid")).format == "mvc.arch/2");
  CHECK(parse(kV2 + kInputs + layer("h", "mul", "scalar = 0.5\n")).layers.size() == 1);
  // A file without them stays what it says.
  CHECK(parse(kV1 + kInputs + layer("r", "ReLU")).format == "mvc.arch/1");
  CHECK(parse(kV2 + kInputs + layer("r", "ReLU")).format == "mvc.arch/2");
  // Integer-only view shapes are mvc.arch/1 as before.
  CHECK(parse(kV1 + kInputs + layer("v", "view", "shape = [-1, 144]\n")).layers.size() == 1);
}

TEST_CASE("arch v2: bad options are refused with the file, line and option", "[arch][errors][v2]") {
  auto e = [](const std::string& body) { return error_of(kV2 + kInputs + body); };
  CHECK(e(layer("sd", "StochasticDepth", "p = 0.2\nmode = \"col\"\n")) ==
        "models/m/arch.toml:9:8: layer 'sd' (StochasticDepth): option 'mode' must be one of \"batch\", \"row\", got "
        "string \"col\"");
  CHECK_CONTAINS(e(layer("sd", "StochasticDepth", "p = 1.5\nmode = \"row\"\n")),
                 "models/m/arch.toml:8:5: layer 'sd' (StochasticDepth): option 'p' must be a number between 0.0 and "
                 "1.0, got float 1.5");
  CHECK_CONTAINS(e(layer("sd", "StochasticDepth", "p = 0.2\n")),
                 "missing required option 'mode' (StochasticDepth needs: p, mode)");
  CHECK_CONTAINS(e(layer("ln", "LayerNorm2d", "normalized_shape = 5\n")),
                 "models/m/arch.toml:8:20: layer 'ln' (LayerNorm2d): normalized_shape = 5 but its input has shape "
                 "[batch, 4, 6, 6] (4 channels)");
  CHECK_CONTAINS(e(layer("ln", "LayerNorm2d", "normalized_shape = [4, 4]\n")), "option 'normalized_shape' must be");
  CHECK_CONTAINS(e(layer("p", "Parameter", "shape = \"big\"\n")),
                 "models/m/arch.toml:8:9: layer 'p' (Parameter): option 'shape' must be");
  CHECK_CONTAINS(e(layer("p", "Parameter", "inputs = [\"x\"]\nshape = [2]\n")),
                 "models/m/arch.toml:8:10: layer 'p' (Parameter): takes no input (its output is its own tensor)");
  CHECK_CONTAINS(e(layer("b", "Buffer", "shape = [2]\ndtype = \"float32\"\n")),
                 "models/m/arch.toml:9:9: layer 'b' (Buffer): option 'dtype' must be one of \"int64\"");
  CHECK_CONTAINS(e(layer("c", "expand", "inputs = [\"x\"]\nsize = [\"in1.size(0)\", -1, -1, -1]\n")),
                 "models/m/arch.toml:9:8: layer 'c' (expand): size reads in1.size(0) but the layer has 1 input");
  CHECK_CONTAINS(e(layer("c", "expand", "inputs = [\"x\", \"x\"]\nsize = [\"in1.size(7)\", -1, -1, -1]\n")),
                 "size reads in1.size(7) but input 1 has shape [batch, 4, 6, 6]");
  CHECK_CONTAINS(e(layer("c", "expand", "size = [-1, -1, -1, -1, -1]\n")),
                 "-1 is not allowed for a new leading dimension (entry 0)");
  CHECK_CONTAINS(e(layer("c", "expand", "size = [-1, 3, -1, -1]\n")),
                 "cannot expand an input of shape [batch, 4, 6, 6] to size 3 in dimension 1");
  CHECK_CONTAINS(e(layer("c", "expand", "size = [\"in1.size\", -1]\n")),
                 "models/m/arch.toml:8:8: layer 'c' (expand): option 'size' must be a non-empty list of sizes");
  CHECK_CONTAINS(e(layer("c", "expand", "size = [\"in0.size(0)\", -1]\n")), "option 'size' must be");
  CHECK_CONTAINS(e(layer("a", "add", "inputs = [\"x\", \"x\"]\nscalar = 1\n")),
                 "models/m/arch.toml:9:10: layer 'a' (add): takes one input with 'scalar', got 2");
  CHECK_CONTAINS(e(layer("a", "sub", "inputs = [\"x\", \"x\"]\nscalar_first = true\n")),
                 "scalar_first is only meaningful with 'scalar'");
  CHECK_CONTAINS(e(layer("a", "sub", "scalar = \"one\"\n")), "option 'scalar' must be a number, got string \"one\"");
  CHECK_CONTAINS(e(layer("a", "sub")), "takes 2 inputs (or one and 'scalar'), got 1");
  CHECK_CONTAINS(e(layer("m", "masked_fill", "inputs = [\"x\", \"x\"]\n")),
                 "missing required option 'value' (masked_fill needs: value)");
  CHECK_CONTAINS(e(layer("p", "pad", "pad = [1, 1, 1]\n")),
                 "models/m/arch.toml:8:7: layer 'p' (pad): pad must have an even number of entries");
  CHECK_CONTAINS(e(layer("p", "pad", "pad = [1, 1]\nmode = \"reflect\"\nvalue = 1.0\n")),
                 "value is only used with mode \"constant\"");
  CHECK_CONTAINS(e(layer("p", "pad", "pad = [1, 1]\nmode = \"mirror\"\n")), "option 'mode' must be one of");
  CHECK_CONTAINS(e(layer("p", "pad", "pad = [-4, -4]\n")), "pad makes dimension 3 negative");
  CHECK_CONTAINS(e(layer("i", "interpolate", "size = 3\nscale_factor = 2.0\n")),
                 "exactly one of size and scale_factor must be given");
  CHECK_CONTAINS(e(layer("i", "interpolate", "scale_factor = 2.0\nalign_corners = true\n")),
                 "align_corners can only be set with mode linear, bilinear, bicubic or trilinear");
  CHECK_CONTAINS(e(layer("i", "interpolate", "size = [1, 2, 3]\n")), "size has 3 values for 2 spatial dimensions");
  CHECK_CONTAINS(e(layer("u", "unflatten", "dim = 2\nsizes = [4, 4]\n")),
                 "sizes do not multiply to dimension 2 of the input [batch, 4, 6, 6]");
  CHECK_CONTAINS(e(layer("u", "unflatten", "dim = 9\nsizes = [2, 3]\n")), "dim = 9 is out of range");
  CHECK_CONTAINS(e(layer("c", "gt", "inputs = [\"x\", \"x\", \"x\"]\n")), "takes 1 to 2 inputs, got 3");
}

TEST_CASE("arch v2: free Parameters and Buffers are keyed by the layer's name, in PyTorch's order", "[arch][v2]") {
  auto a = parse(kV2 + "[inputs]\nx = { shape = [\"batch\", 3, 8] }\n" +
                 "[blocks.B]\n[[blocks.B.layers]]\nname = \"lin\"\ntype = \"Linear\"\nin_features = 8\n"
                 "out_features = 8\n[[blocks.B.layers]]\nname = \"layer_scale\"\ntype = \"Parameter\"\nshape = 8\n"
                 "[[blocks.B.layers]]\nname = \"scaled\"\ntype = \"mul\"\ninputs = [\"lin\", \"layer_scale\"]\n" +
                 layer("encoder.blocks.0", "B", "inputs = [\"x\"]\n") +
                 layer("encoder.pos", "Parameter", "shape = [1, 3, 8]\n") +
                 layer("pos_add", "add", "inputs = [\"encoder.blocks.0\", \"encoder.pos\"]\n") +
                 layer("cls", "expand", "inputs = [\"encoder.pos\", \"x\"]\nsize = [\"in1.size(0)\", -1, -1]\n") +
                 layer("mask", "Buffer", "shape = [3, 3]\ndtype = \"bool\"\n") +
                 layer("scale", "Buffer", "shape = [1]\n") + layer("class_token", "Parameter", "shape = [1, 1, 8]\n"));
  auto sd = expected_state_dict(a);
  std::vector<std::string> keys;
  for (const auto& t : sd) keys.push_back(t.key);
  // The root's parameters, then its buffers, then its children; in encoder: its own parameter
  // first, then the block (whose own layer_scale precedes its child lin).
  CHECK(keys == std::vector<std::string>{"class_token", "mask", "scale", "encoder.pos", "encoder.blocks.0.layer_scale",
                                         "encoder.blocks.0.lin.weight", "encoder.blocks.0.lin.bias"});
  CHECK(sd[1].dtype == "bool");
  CHECK(sd[1].is_buffer);
  CHECK(sd[2].dtype == "float32");
  CHECK(sd[2].shape == std::vector<std::int64_t>{1});
  CHECK(sd[3].shape == std::vector<std::int64_t>{1, 3, 8});
  CHECK(!sd[3].is_buffer);
  auto rows = summarize(a);
  std::map<std::string, LayerSummary> by;
  for (const auto& r : rows) by[r.name] = r;
  CHECK(by["cls"].output_shape == "[batch, 3, 8]");
  CHECK(by["encoder.pos"].parameters == 24);
  CHECK(by["mask"].parameters == 0);
  CHECK(by["pos_add"].output_shape == "[batch, 3, 8]");
}

TEST_CASE("arch v2: tied weights", "[arch][v2][ties]") {
  const std::string layers = "[inputs]\nidx = { shape = [\"batch\", 5], dtype = \"int64\" }\n" +
                             layer("wte", "Embedding", "num_embeddings = 11\nembedding_dim = 8\n") +
                             layer("ln", "LayerNorm", "normalized_shape = 8\n") +
                             layer("lm_head", "Linear", "in_features = 8\nout_features = 11\nbias = false\n") +
                             layer("small", "Linear", "inputs = [\"ln\"]\nin_features = 8\nout_features = 4\n");
  auto a = parse(kV2 + "[ties]\n\"lm_head.weight\" = \"wte.weight\"\n" + layers);
  REQUIRE(a.ties.size() == 1);
  CHECK(a.ties[0].key == "lm_head.weight");
  CHECK(a.ties[0].source == "wte.weight");
  std::vector<std::string> keys;
  for (const auto& t : expected_state_dict(a)) keys.push_back(t.key);
  // The weights file holds the tensor once, under the first key.
  CHECK(keys == std::vector<std::string>{"wte.weight", "ln.weight", "ln.bias", "small.weight", "small.bias"});
  std::uint64_t params = 0;
  for (const auto& r : summarize(a)) params += r.parameters;
  CHECK(params == 88 + 16 + 36);  // lm_head's weight is wte's: counted once

  auto e = [&](const std::string& ties, const std::string& head = kV2) {
    return error_of(head + "[ties]\n" + ties + layers);
  };
  // [ties] is on line 3, its first entry on line 4.
  CHECK(e("\"lm_head.weight\" = \"wte.weight\"\n", kV1) ==
        "models/m/arch.toml:3:1: 'ties' needs format = \"mvc.arch/2\" (this file says mvc.arch/1)");
  CHECK(e("\"wte.weight\" = \"lm_head.weight\"\n") ==
        "models/m/arch.toml:4:16: ties: 'wte.weight' comes before 'lm_head.weight' in the state_dict; write "
        "\"lm_head.weight\" = \"wte.weight\" (the weights file holds a tied tensor under its first key)");
  CHECK(e("\"lm_head.weigth\" = \"wte.weight\"\n") ==
        "models/m/arch.toml:4:1: ties: 'lm_head.weigth' is not a key of the state_dict; did you mean "
        "'lm_head.weight'?");
  CHECK_CONTAINS(e("\"lm_head.weight\" = \"wte.wieght\"\n"),
                 "models/m/arch.toml:4:20: ties: 'wte.wieght' is not a key");
  CHECK_CONTAINS(e("\"small.weight\" = \"wte.weight\"\n"),
                 "ties: 'small.weight' ([4, 8] float32) and 'wte.weight' ([11, 8] float32) differ in shape or dtype");
  CHECK_CONTAINS(e("\"wte.weight\" = \"wte.weight\"\n"), "ties: 'wte.weight' cannot be tied to itself");
  CHECK_CONTAINS(e("\"lm_head.weight\" = 3\n"),
                 "ties: 'lm_head.weight' must name the key it shares (a string), got integer 3");
  CHECK_CONTAINS(error_of(kV2 + "ties = 3\n" + layers), "'ties' must be a table");
}

TEST_CASE("arch v2: a module that is not run, a shared call, a slice to another input's size", "[arch][v2][run]") {
  const std::string in = "[inputs]\nx = { shape = [\"batch\", 8] }\n";
  auto a = parse(kV2 + in + layer("enc", "Linear", "in_features = 8\nout_features = 8\n") +
                 layer("aux.fc", "Linear", "run = false\nin_features = 8\nout_features = 3\n") +
                 "[[layers]]\nname = \"enc_1\"\nshares = \"enc\"\n" +
                 layer("head", "Linear", "in_features = 8\nout_features = 2\n"));
  REQUIRE(a.layers.size() == 4);
  CHECK(!a.layers[1].run);
  CHECK(a.layers[1].inputs.empty());
  // the layer after a layer not run reads what came before it; the shared call is a Linear
  // with enc's options and enc's module
  CHECK(a.layers[2].inputs == std::vector<std::string>{"enc"});
  CHECK(a.layers[2].shares == "enc");
  CHECK(a.layers[2].type == "Linear");
  CHECK(a.layers[2].int_opt("out_features") == 8);
  CHECK(a.layers[3].inputs == std::vector<std::string>{"enc_1"});
  std::vector<std::string> keys;
  for (const auto& t : expected_state_dict(a)) keys.push_back(t.key);
  // the unused head's tensors are in the state_dict, the shared call registers none
  CHECK(keys ==
        std::vector<std::string>{"enc.weight", "enc.bias", "aux.fc.weight", "aux.fc.bias", "head.weight", "head.bias"});
  std::map<std::string, LayerSummary> by;
  for (const auto& r : summarize(a)) by[r.name] = r;
  CHECK(by["enc_1"].parameters == 0);
  CHECK(by["enc_1"].output_shape == "[batch, 8]");
  CHECK(by["aux.fc"].parameters == 27);

  // In a block, `shares` names a layer of the same instance first.
  auto b = parse(kV2 + in + "[blocks.S]\n[[blocks.S.layers]]\nname = \"fc\"\ntype = \"Linear\"\nin_features = 8\n" +
                 "out_features = 8\n[[blocks.S.layers]]\nname = \"again\"\nshares = \"fc\"\n" +
                 layer("s", "S", "repeat = 2\n"));
  REQUIRE(b.layers.size() == 4);
  CHECK(b.layers[1].shares == "s.0.fc");
  CHECK(b.layers[3].shares == "s.1.fc");

  // slice's end read from another input's size: bias[:, :T] with T = x.size(1)
  auto c =
      parse(kV2 + "[inputs]\nx = { shape = [\"batch\", \"seq\"] }\n" + layer("bias", "Buffer", "shape = [6, 6]\n") +
            layer("cut", "slice", "inputs = [\"bias\", \"x\"]\ndim = 1\nend = \"in1.size(1)\"\n"));
  CHECK(summarize(c)[1].output_shape == "[6, ?]");

  auto e = [&](const std::string& body, const std::string& head = kV2) { return error_of(head + in + body); };
  const std::string enc = layer("enc", "Linear", "in_features = 8\nout_features = 8\n");  // lines 5-9
  CHECK(e(enc + layer("aux", "Linear", "run = false\nin_features = 8\nout_features = 3\n"), kV1) ==
        "models/m/arch.toml:13:7: layer 'aux': 'run' needs format = \"mvc.arch/2\" (this file says mvc.arch/1)");
  CHECK(e(enc + "[[layers]]\nname = \"again\"\nshares = \"enc\"\n", kV1) ==
        "models/m/arch.toml:12:10: layer 'again': 'shares' needs format = \"mvc.arch/2\" (this file says "
        "mvc.arch/1)");
  CHECK_CONTAINS(e(layer("cut", "slice", "inputs = [\"x\", \"x\"]\nend = \"in1.size(1)\"\n"), kV1),
                 "layer 'cut' (slice): a size read from an input (in1.size(1)) in 'end' needs format = "
                 "\"mvc.arch/2\"");
  CHECK(e(enc + "[[layers]]\nname = \"again\"\nshares = \"enk\"\n") ==
        "models/m/arch.toml:12:10: layer 'again': shares 'enk', which is not an earlier layer");
  CHECK_CONTAINS(e(enc + "[[layers]]\nname = \"again\"\nshares = \"enc\"\ntype = \"Linear\"\n"),
                 "models/m/arch.toml:13:8: layer 'again': a layer with 'shares' has the type and options of the "
                 "layer it shares; remove 'type'");
  CHECK_CONTAINS(e(enc + "[[layers]]\nname = \"again\"\nshares = \"enc\"\nout_features = 3\n"),
                 "layer 'again': unknown key 'out_features'");
  CHECK_CONTAINS(e(enc + layer("r", "relu") + "[[layers]]\nname = \"again\"\nshares = \"r\"\n"),
                 "shares 'r' (relu), which is not a module that runs on inputs");
  CHECK_CONTAINS(e(enc + "[[layers]]\nname = \"again\"\nshares = \"enc\"\nrun = false\n"),
                 "a layer with 'shares' is a call; it cannot have run = false");
  CHECK_CONTAINS(e(layer("aux", "Linear", "run = false\ninputs = [\"x\"]\nin_features = 8\nout_features = 3\n")),
                 "layer 'aux' (Linear): takes no input: it is not run (run = false)");
  CHECK_CONTAINS(e(layer("aux", "Linear", "run = false\nin_features = 8\nout_features = 3\n") +
                   layer("h", "relu", "inputs = [\"aux\"]\n")),
                 "layer 'h' (relu): input 'aux' is a layer that is not run (run = false): it has no output");
  CHECK_CONTAINS(e(layer("r", "relu", "run = false\n")), "run = false applies to a module with an input");
  CHECK_CONTAINS(e(layer("r", "ReLU", "run = 0\n")), "'run' must be true or false, got integer 0");
  CHECK_CONTAINS(e(layer("cut", "slice", "end = \"in1.size(1)\"\n")),
                 "end reads in1.size(1) but the layer has 1 input");
  CHECK_CONTAINS(e(layer("cut", "slice", "end = \"x.size(1)\"\n")), "option 'end' must be an integer or");
}
