// src/arch: every error of an architecture or hparams file is Exit::model, one line, and names
// "<file>:<line>:<column>", the offending key or value and the valid choices.
#include <catch2/catch.hpp>

#include "arch/arch.h"
#include "mvc/error.h"

using namespace mvc;
using namespace mvc::arch;

namespace {

const std::string kHead = "format = \"mvc.arch/1\"\nname = \"t\"\n";  // 2 lines

/// Parses and returns the error message; fails the test when there is none.
std::string error_of(const std::string& arch, const std::string& hp = "", Exit code = Exit::model) {
  try {
    parse_architecture(arch, "models/m/arch.toml", hp, "models/m/hparams.toml");
  } catch (const Error& e) {
    CHECK(e.code() == code);
    std::string m = e.what();
    CHECK(m.find('\n') == std::string::npos);
    return m;
  }
  FAIL("no error for:\n" << arch);
  return {};
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

std::string linear(const std::string& name = "l", const std::string& extra = "") {
  return "[[layers]]\nname = \"" + name + "\"\ntype = \"Linear\"\nin_features = 4\nout_features = 2\n" + extra;
}

}  // namespace

#define CHECK_CONTAINS(msg, part) CHECK_THAT(msg, Catch::Matchers::Contains(part))

TEST_CASE("arch errors: TOML syntax errors name the file, line and column", "[arch][errors]") {
  std::string m = error_of(kHead + "[[layers]]\nname = \"l\"\ntype = Linear\n");
  CHECK(starts_with(m, "models/m/arch.toml:5:8: invalid TOML: "));

  m = error_of(kHead + "name = \"again\"\n");
  CHECK(starts_with(m, "models/m/arch.toml:3:"));
  CHECK_CONTAINS(m, "invalid TOML");
}

TEST_CASE("arch errors: hparams.toml syntax errors name hparams.toml", "[arch][errors][hparams]") {
  std::string m = error_of(kHead + linear(), "a = 1\nb = [1, 2\n");
  INFO(m);
  CHECK(starts_with(m, "models/m/hparams.toml:2:11: invalid TOML: "));
  CHECK_CONTAINS(m, "invalid TOML");
  m = error_of(kHead + linear(), "x = 1\n  y = \n");
  CHECK(starts_with(m, "models/m/hparams.toml:2:7: invalid TOML: "));
}

TEST_CASE("arch errors: format", "[arch][errors]") {
  std::string m = error_of("name = \"t\"\n" + linear());
  CHECK(m == "models/m/arch.toml:1:1: missing 'format' (expected format = \"mvc.arch/1\")");
  // A later version of the language needs a newer mvc (exit 3, docs/conventions.md "Compatibility").
  m = error_of("name = \"t\"\nformat = \"mvc.arch/3\"\n" + linear(), "", Exit::not_repo);
  CHECK(m == "models/m/arch.toml:2:10: format 'mvc.arch/3' needs a newer mvc (this one reads mvc.arch/1, mvc.arch/2)");
  m = error_of("name = \"t\"\nformat = \"mvc.arch/x\"\n" + linear());
  CHECK(m == "models/m/arch.toml:2:10: unsupported format 'mvc.arch/x' (supported: mvc.arch/1, mvc.arch/2)");
  m = error_of("format = 1\n" + linear());
  CHECK(starts_with(m, "models/m/arch.toml:1:10: unsupported format (a integer)"));
  CHECK_CONTAINS(m, "(supported: mvc.arch/1, mvc.arch/2)");
}

TEST_CASE("arch errors: top-level keys", "[arch][errors]") {
  std::string m = error_of(kHead + "dtyp = \"float32\"\n" + linear());
  CHECK(
      m ==
      "models/m/arch.toml:3:1: unknown key 'dtyp' (valid: format, name, dtype, inputs, outputs, blocks, layers, ties); "
      "did "
      "you mean "
      "'dtype'?");
  m = error_of("format = \"mvc.arch/1\"\n" + linear());
  CHECK(m == "models/m/arch.toml:1:1: missing 'name' (e.g. name = \"my-model\")");
  m = error_of(kHead);
  CHECK(m == "models/m/arch.toml:1:1: missing 'layers' (add at least one [[layers]] table)");
  m = error_of(kHead + "layers = []\n");
  CHECK(starts_with(m, "models/m/arch.toml:3:10: 'layers' is empty"));
  m = error_of(kHead + "layers = 3\n");
  CHECK(starts_with(m, "models/m/arch.toml:3:10: 'layers' must be an array of tables"));
  m = error_of(kHead + "dtype = \"int64\"\n" + linear());
  CHECK(m == "models/m/arch.toml:3:9: unsupported dtype 'int64' (valid: float64, float32, float16, bfloat16)");
  m = error_of(kHead + "dtype = \"float33\"\n" + linear());
  CHECK(starts_with(m, "models/m/arch.toml:3:9: unsupported dtype 'float33' (valid: float64, float32"));
  m = error_of("format = \"mvc.arch/1\"\nname = 3\n" + linear());
  CHECK(m == "models/m/arch.toml:2:8: name must be a string, got integer 3");
}

TEST_CASE("arch errors: inputs", "[arch][errors]") {
  std::string m = error_of(kHead + "[inputs]\nx = { shape = [\"batch\", 4], dtyp = \"int64\" }\n" + linear());
  CHECK(m == "models/m/arch.toml:4:29: input 'x': unknown key 'dtyp' (valid: shape, dtype); did you mean 'dtype'?");
  m = error_of(kHead + "[inputs]\nx = { dtype = \"int64\" }\n" + linear());
  CHECK(m == "models/m/arch.toml:4:1: input 'x' has no 'shape' (e.g. shape = [\"batch\", 10])");
  m = error_of(kHead + "[inputs]\nx = { shape = [\"batch\", 2.5] }\n" + linear());
  CHECK(m ==
        "models/m/arch.toml:4:25: input 'x': a dimension must be a size >= 0 or a name such as \"batch\", got float "
        "2.5");
  m = error_of(kHead + "[inputs]\nx = { shape = [\"batch\", 4], dtype = \"complex\" }\n" + linear());
  INFO(m);
  CHECK(starts_with(m,
                    "models/m/arch.toml:4:37: input 'x': unsupported dtype 'complex' (valid: float64, float32, "
                    "float16, bfloat16, int64, int32, int16, int8, uint8, bool)"));
  m = error_of(kHead + "[inputs]\nx = 3\n" + linear());
  CHECK(starts_with(m, "models/m/arch.toml:4:1: input 'x' must be a table"));
}

TEST_CASE("arch errors: unknown layer type lists the known ones", "[arch][errors]") {
  std::string m = error_of(kHead + "[[layers]]\nname = \"fc\"\ntype = \"Linaer\"\nin_features = 2\nout_features = 1\n");
  CHECK(starts_with(m, "models/m/arch.toml:5:8: unknown layer type 'Linaer' (known: AdaptiveAvgPool1d, "));
  CHECK_CONTAINS(m, ", Linear, MaxPool2d, ");
  CHECK_CONTAINS(m, ", add, arange, avg_pool2d, cat, ");
  CHECK(m.substr(m.size() - 24) == "; did you mean 'Linear'?");
  m = error_of(kHead + "[[layers]]\nname = \"fc\"\ntype = \"Transformer\"\n");
  CHECK(starts_with(m, "models/m/arch.toml:5:8: unknown layer type 'Transformer' (known: AdaptiveAvgPool1d, "));
  CHECK(m.find("did you mean") == std::string::npos);
}

TEST_CASE("arch errors: missing name or type", "[arch][errors]") {
  std::string m = error_of(kHead + linear("a") + "\n[[layers]]\ntype = \"ReLU\"\n");
  CHECK(m == "models/m/arch.toml:9:1: layer #2 has no 'name'");
  m = error_of(kHead + "[[layers]]\nname = \"fc\"\nin_features = 2\n");
  CHECK(starts_with(m, "models/m/arch.toml:3:1: layer 'fc' has no 'type' (known: AdaptiveAvgPool1d, "));
  m = error_of(kHead + "[[layers]]\nname = \"\"\ntype = \"ReLU\"\n");
  CHECK(m == "models/m/arch.toml:4:8: layer #1: the name is empty");
  m = error_of(kHead + "[[layers]]\nname = \"a..b\"\ntype = \"ReLU\"\n");
  CHECK(m ==
        "models/m/arch.toml:4:8: layer name 'a..b' has an empty part (names are module paths such as "
        "'layer1.0.conv1')");
  m = error_of(kHead + "[[layers]]\nname = \"a[0]\"\ntype = \"ReLU\"\n");
  CHECK(m == "models/m/arch.toml:4:8: layer name 'a[0]' must not contain '[', ']', spaces or control characters");
  m = error_of(kHead + "[[layers]]\nname = \"a\"\ntype = 3\n");
  CHECK(m == "models/m/arch.toml:5:8: layer type must be a string, got integer 3");
}

TEST_CASE("arch errors: unknown options list the valid ones", "[arch][errors]") {
  std::string m = error_of(kHead + linear("fc", "bais = false\n"));
  CHECK(m ==
        "models/m/arch.toml:8:1: layer 'fc' (Linear): unknown option 'bais' (valid: in_features, out_features, bias); "
        "did you mean 'bias'?");
  m = error_of(kHead + "[[layers]]\nname = \"r\"\ntype = \"Tanh\"\ninplace = true\n");
  CHECK(m == "models/m/arch.toml:6:1: layer 'r' (Tanh): unknown option 'inplace' (valid: none)");
  m = error_of(kHead +
               "[[layers]]\nname = \"c\"\ntype = \"Conv2d\"\nin_channels = 1\nout_channels = 2\n"
               "kernel_size = 3\nbias = true\nwhatever = 1\n");
  CHECK(m ==
        "models/m/arch.toml:10:1: layer 'c' (Conv2d): unknown option 'whatever' (valid: in_channels, out_channels, "
        "kernel_size, stride, padding, dilation, groups, bias, padding_mode)");
}

TEST_CASE("arch errors: missing required options", "[arch][errors]") {
  std::string m = error_of(kHead + "\n[[layers]]\nname = \"fc\"\ntype = \"Linear\"\nin_features = 3\n");
  CHECK(m ==
        "models/m/arch.toml:4:1: layer 'fc' (Linear): missing required option 'out_features' (Linear needs: "
        "in_features, out_features)");
  m = error_of(kHead + "[[layers]]\nname = \"p\"\ntype = \"MaxPool2d\"\nstride = 2\n");
  CHECK(m ==
        "models/m/arch.toml:3:1: layer 'p' (MaxPool2d): missing required option 'kernel_size' (MaxPool2d needs: "
        "kernel_size)");
  m = error_of(kHead + "[[layers]]\nname = \"e\"\ntype = \"Embedding\"\nnum_embeddings = 3\n");
  CHECK_CONTAINS(m, "missing required option 'embedding_dim' (Embedding needs: num_embeddings, embedding_dim)");
}

TEST_CASE("arch errors: wrong value types and out-of-range values", "[arch][errors]") {
  auto layer = [](const std::string& type, const std::string& opts) {
    return kHead + "[[layers]]\nname = \"x\"\ntype = \"" + type + "\"\n" + opts;  // options start on line 6
  };
  CHECK(error_of(layer("Linear", "in_features = \"four\"\nout_features = 2\n")) ==
        "models/m/arch.toml:6:15: layer 'x' (Linear): option 'in_features' must be an integer >= 1, got string "
        "\"four\"");
  CHECK(error_of(layer("Linear", "in_features = 4.0\nout_features = 2\n")) ==
        "models/m/arch.toml:6:15: layer 'x' (Linear): option 'in_features' must be an integer >= 1, got float 4.0");
  CHECK(error_of(layer("Linear", "in_features = 0\nout_features = 2\n")) ==
        "models/m/arch.toml:6:15: layer 'x' (Linear): option 'in_features' must be an integer >= 1, got integer 0");
  CHECK(error_of(layer("Linear", "in_features = 4\nout_features = 2\nbias = 1\n")) ==
        "models/m/arch.toml:8:8: layer 'x' (Linear): option 'bias' must be true or false, got integer 1");
  CHECK(error_of(layer("Conv2d", "in_channels = 1\nout_channels = 2\nkernel_size = [3, 3, 3]\n")) ==
        "models/m/arch.toml:8:15: layer 'x' (Conv2d): option 'kernel_size' must be an integer >= 1 or a list of 2 "
        "integers >= 1, got array [3, 3, 3]");
  CHECK(error_of(layer("Conv2d", "in_channels = 1\nout_channels = 2\nkernel_size = 3\npadding = \"full\"\n")) ==
        "models/m/arch.toml:9:11: layer 'x' (Conv2d): option 'padding' must be an integer >= 0 or a list of 2 "
        "integers >= 0, or one of \"same\", \"valid\", got string \"full\"");
  CHECK(error_of(layer("Conv2d", "in_channels = 1\nout_channels = 2\nkernel_size = 3\npadding_mode = \"zero\"\n")) ==
        "models/m/arch.toml:9:16: layer 'x' (Conv2d): option 'padding_mode' must be one of \"zeros\", \"reflect\", "
        "\"replicate\", \"circular\", got string \"zero\"");
  CHECK(error_of(layer("GELU", "approximate = \"fast\"\n")) ==
        "models/m/arch.toml:6:15: layer 'x' (GELU): option 'approximate' must be one of \"none\", \"tanh\", got "
        "string \"fast\"");
  CHECK(error_of(layer("Dropout", "p = 1.5\n")) ==
        "models/m/arch.toml:6:5: layer 'x' (Dropout): option 'p' must be a number between 0.0 and 1.0, got float 1.5");
  CHECK(error_of(layer("Dropout", "p = \"half\"\n")) ==
        "models/m/arch.toml:6:5: layer 'x' (Dropout): option 'p' must be a number, got string \"half\"");
  CHECK(error_of(layer("LayerNorm", "normalized_shape = []\n")) ==
        "models/m/arch.toml:6:20: layer 'x' (LayerNorm): option 'normalized_shape' must be an integer >= 1 or a "
        "non-empty list of integers >= 1, got array []");
  CHECK(error_of(layer("Linear", "in_features = { a = 1 }\nout_features = 2\n")) ==
        "models/m/arch.toml:6:15: a table is not allowed here");
  CHECK(error_of(layer("Embedding", "num_embeddings = 3\nembedding_dim = 2\nmax_norm = true\n")) ==
        "models/m/arch.toml:8:12: layer 'x' (Embedding): option 'max_norm' must be a number, got boolean true");
}

TEST_CASE("arch errors: a value of the wrong type from hparams names the reference", "[arch][errors][hparams]") {
  std::string m = error_of(kHead +
                               "[[layers]]\nname = \"fc\"\ntype = \"Linear\"\nin_features = \"${hparams.lr}\"\n"
                               "out_features = 2\n",
                           "lr = 0.01\n");
  CHECK(m ==
        "models/m/arch.toml:6:15: layer 'fc' (Linear): option 'in_features' must be an integer >= 1, got float 0.01 "
        "(from '${hparams.lr}')");
}

TEST_CASE("arch errors: inconsistent options", "[arch][errors]") {
  auto conv = [](const std::string& opts) {
    return kHead + "[[layers]]\nname = \"c\"\ntype = \"Conv2d\"\nkernel_size = 3\n" + opts;  // opts from line 7
  };
  CHECK(error_of(conv("in_channels = 6\nout_channels = 4\ngroups = 4\n")) ==
        "models/m/arch.toml:9:10: layer 'c' (Conv2d): in_channels = 6 must be divisible by groups = 4");
  CHECK(error_of(conv("in_channels = 4\nout_channels = 6\ngroups = 4\n")) ==
        "models/m/arch.toml:9:10: layer 'c' (Conv2d): out_channels = 6 must be divisible by groups = 4");
  CHECK(error_of(conv("in_channels = 4\nout_channels = 4\npadding = \"same\"\nstride = [1, 2]\n")) ==
        "models/m/arch.toml:9:11: layer 'c' (Conv2d): padding = \"same\" is not supported for strided convolutions");
  CHECK(error_of(kHead + "[[layers]]\nname = \"p\"\ntype = \"MaxPool2d\"\nkernel_size = 2\npadding = 2\n") ==
        "models/m/arch.toml:7:11: layer 'p' (MaxPool2d): padding = 2 must be at most half of kernel_size = 2");
  CHECK(error_of(kHead + "[[layers]]\nname = \"p\"\ntype = \"MaxPool2d\"\nkernel_size = 2\nreturn_indices = true\n") ==
        "models/m/arch.toml:7:18: layer 'p' (MaxPool2d): return_indices = true is not supported in mvc.arch/1 (the "
        "layer would return a pair of tensors, which no layer takes)");
  CHECK(error_of(kHead + "[[layers]]\nname = \"e\"\ntype = \"Embedding\"\nnum_embeddings = 5\nembedding_dim = 2\n"
                         "padding_idx = 5\n") ==
        "models/m/arch.toml:8:15: layer 'e' (Embedding): padding_idx = 5 must be within num_embeddings (-5 <= "
        "padding_idx < 5)");
}

TEST_CASE("arch errors: duplicate layer names", "[arch][errors]") {
  std::string m = error_of(kHead + linear("fc") + "\n" + "[[layers]]\nname = \"act\"\ntype = \"ReLU\"\n\n" +
                           "[[layers]]\nname = \"fc\"\ntype = \"Identity\"\n");
  CHECK(m == "models/m/arch.toml:13:1: duplicate layer name 'fc' (first defined at models/m/arch.toml:3:1)");
  m = error_of(kHead + "[inputs]\nx = { shape = [4] }\n[[layers]]\nname = \"x\"\ntype = \"Identity\"\n");
  CHECK(m ==
        "models/m/arch.toml:5:1: duplicate layer name 'x' (an input of that name is declared at "
        "models/m/arch.toml:4:1)");
}

TEST_CASE("arch errors: layer inputs must name a declared input or an earlier layer", "[arch][errors]") {
  std::string m = error_of(kHead + "[inputs]\nx = { shape = [4] }\n" + linear("a") +
                           "[[layers]]\nname = \"b\"\ntype = \"ReLU\"\ninputs = [\"c\"]\n");
  CHECK(m ==
        "models/m/arch.toml:13:11: layer 'b' (ReLU): unknown input 'c' (valid: the declared inputs and earlier "
        "layers: a, x)");
  m = error_of(kHead +
               "[inputs]\nx = { shape = [4] }\n[[layers]]\nname = \"r\"\ntype = \"ReLU\"\ninputs = [\"x\", \"x\"]\n");
  CHECK(m == "models/m/arch.toml:5:1: layer 'r' (ReLU): takes 1 input, got 2 (inputs = [x, x])");
  m = error_of(kHead +
               "[inputs]\nx = { shape = [4] }\ny = { shape = [4] }\n[[layers]]\nname = \"r\"\ntype = \"ReLU\"\n");
  CHECK(m ==
        "models/m/arch.toml:6:1: layer 'r' (ReLU): several inputs are declared (x, y); name the one this layer reads "
        "with inputs = [\"...\"]");
  m = error_of(kHead + "[[layers]]\nname = \"r\"\ntype = \"ReLU\"\ninputs = [3]\n");
  CHECK(m == "models/m/arch.toml:6:11: layer 'r' (ReLU): inputs must be a list of names, got integer 3");
}

TEST_CASE("arch errors: shapes that a layer cannot take", "[arch][errors]") {
  std::string m = error_of(kHead + "[inputs]\nx = { shape = [\"batch\", 5] }\n" + linear("fc"));
  CHECK(m ==
        "models/m/arch.toml:8:15: layer 'fc' (Linear): in_features = 4 but its input has shape [batch, 5] (last "
        "dimension 5)");
  m = error_of(kHead +
               "[inputs]\nx = { shape = [\"batch\", 3, 8, 8] }\n[[layers]]\nname = \"c\"\ntype = \"Conv2d\"\n"
               "in_channels = 1\nout_channels = 2\nkernel_size = 3\n");
  CHECK(m ==
        "models/m/arch.toml:8:15: layer 'c' (Conv2d): in_channels = 1 but its input has shape [batch, 3, 8, 8] (3 "
        "channels)");
  m = error_of(kHead +
               "[inputs]\nx = { shape = [\"batch\", 1, 2, 2] }\n[[layers]]\nname = \"c\"\ntype = \"Conv2d\"\n"
               "in_channels = 1\nout_channels = 2\nkernel_size = 3\n");
  CHECK(m ==
        "models/m/arch.toml:10:15: layer 'c' (Conv2d): input shape [batch, 1, 2, 2] is too small for kernel_size 3 "
        "with padding 0 and dilation 1");
  m = error_of(kHead +
               "[inputs]\nx = { shape = [\"batch\", 4] }\n[[layers]]\nname = \"b\"\ntype = \"BatchNorm2d\"\n"
               "num_features = 4\n");
  CHECK(m == "models/m/arch.toml:5:1: layer 'b' (BatchNorm2d): expects a 4-d (N, C, H, W) input, got shape [batch, 4]");
  m = error_of(kHead +
               "[inputs]\nx = { shape = [\"batch\", 4, 5] }\n[[layers]]\nname = \"n\"\ntype = \"LayerNorm\"\n"
               "normalized_shape = [4, 4]\n");
  CHECK(m ==
        "models/m/arch.toml:8:20: layer 'n' (LayerNorm): normalized_shape = [4, 4] does not match the last dimensions "
        "of its input [batch, 4, 5]");
  m = error_of(kHead +
               "[inputs]\nx = { shape = [\"batch\", 4] }\n[[layers]]\nname = \"f\"\ntype = \"Flatten\"\n"
               "start_dim = 2\n");
  CHECK(m == "models/m/arch.toml:8:13: layer 'f' (Flatten): start_dim = 2 is out of range for input shape [batch, 4]");
}

TEST_CASE("arch errors: hparams references", "[arch][errors][hparams]") {
  const std::string hp = "input_size = 10\nhidden_size = 20\n\n[optimizer]\nname = \"sgd\"\nlr = 0.05\n";
  auto with = [](const std::string& value) {
    return kHead + "[[layers]]\nname = \"fc\"\ntype = \"Linear\"\nin_features = " + value + "\nout_features = 2\n";
  };
  CHECK(error_of(with("\"${hparams.hiden_size}\""), hp) ==
        "models/m/arch.toml:6:15: unknown reference '${hparams.hiden_size}': models/m/hparams.toml has no key "
        "'hiden_size' (keys: input_size, hidden_size, optimizer); did you mean 'hidden_size'?");
  CHECK(error_of(with("\"${hparams.optimizer.momentum}\""), hp) ==
        "models/m/arch.toml:6:15: unknown reference '${hparams.optimizer.momentum}': [optimizer] of "
        "models/m/hparams.toml has no key 'momentum' (keys: name, lr)");
  CHECK(error_of(with("\"${hparams.input_size.x}\""), hp) ==
        "models/m/arch.toml:6:15: unknown reference '${hparams.input_size.x}': 'input_size' in models/m/hparams.toml "
        "is not a table");
  CHECK(error_of(with("\"${hparams.optimizer}\""), hp) ==
        "models/m/arch.toml:6:15: reference '${hparams.optimizer}' names a table in models/m/hparams.toml "
        "(models/m/hparams.toml:4:1); a value is needed");
  CHECK(error_of(with("\"${hparams.x}\"")) ==
        "models/m/arch.toml:6:15: unknown reference '${hparams.x}': models/m/hparams.toml has no key 'x' (the file is "
        "missing or empty)");
  CHECK(error_of(with("\"${hparams.input_size * 4 +}\""), hp) ==
        "models/m/arch.toml:6:15: invalid expression '${hparams.input_size * 4 +}': unexpected end");
  CHECK(error_of(with("\"${hparams.input_size / 3}\""), hp) ==
        "models/m/arch.toml:6:15: invalid expression '${hparams.input_size / 3}': 10 / 3 is not an integer (use // to "
        "round down)");
  CHECK(error_of(with("\"${hparams.optimizer.name * 2}\""), hp) ==
        "models/m/arch.toml:6:15: invalid expression '${hparams.optimizer.name * 2}': '*' needs numbers, got string "
        "\"sgd\" and integer 2");
  CHECK(error_of(with("\"${9223372036854775807 + 1}\""), hp) ==
        "models/m/arch.toml:6:15: invalid expression '${9223372036854775807 + 1}': integer overflow in "
        "9223372036854775807 + 1");
  CHECK(error_of(with("\"${args.n}\""), hp) ==
        "models/m/arch.toml:6:15: unknown reference '${args.n}': 'args' exists only inside a block");
  CHECK(error_of(with("\"${index}\""), hp) ==
        "models/m/arch.toml:6:15: unknown reference '${index}': 'index' exists only in a layer with 'repeat'");
  CHECK(starts_with(error_of(with("\"${input_size}\""), hp),
                    "models/m/arch.toml:6:15: invalid reference '${input_size}' (expected hparams.<key>, args.<name> "
                    "inside a block, index inside a repeated layer"));
  CHECK(error_of(with("\"${hparams.input_size\""), hp) ==
        "models/m/arch.toml:6:15: unterminated reference '${hparams.input_size' (missing '}')");
  // A reference inside an array names the element's position.
  CHECK(error_of(kHead + "[inputs]\nx = { shape = [\"batch\", \"${hparams.width}\"] }\n[[layers]]\nname = \"i\"\n"
                         "type = \"Identity\"\n",
                 hp) ==
        "models/m/arch.toml:4:25: unknown reference '${hparams.width}': models/m/hparams.toml has no key 'width' "
        "(keys: input_size, hidden_size, optimizer)");
  // An array cannot be embedded in text.
  CHECK(error_of(kHead + "[[layers]]\nname = \"a${hparams.k}\"\ntype = \"Identity\"\n", "k = [1, 2]\n") ==
        "models/m/arch.toml:4:8: reference '${hparams.k}' is an array; it cannot be embedded in the string "
        "\"a${hparams.k}\"");
}

TEST_CASE("arch errors: expected_state_dict and summarize check hand-built architectures", "[arch][errors]") {
  Architecture a;
  a.file = "mem";
  Layer l;
  l.name = "c";
  l.type = "Conv2d";
  l.pos = {"mem", 3, 1};
  auto int_value = [](std::int64_t i, std::uint32_t line) {
    Value v;
    v.kind = Value::Kind::integer;
    v.i = i;
    v.pos = {"mem", line, 5};
    return v;
  };
  l.options["in_channels"] = int_value(3, 4);
  l.options["out_channels"] = int_value(4, 5);
  l.options["kernel_size"] = int_value(3, 6);
  l.options["groups"] = int_value(2, 7);
  a.layers.push_back(l);
  try {
    expected_state_dict(a);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == Exit::model);
    CHECK(std::string(e.what()) == "mem:7:5: layer 'c' (Conv2d): in_channels = 3 must be divisible by groups = 2");
  }
  a.layers[0].options.erase("groups");
  a.layers[0].options["strides"] = int_value(1, 8);
  try {
    summarize(a);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) ==
          "mem:8:5: layer 'c' (Conv2d): unknown option 'strides' (valid: in_channels, out_channels, kernel_size, "
          "stride, padding, dilation, groups, bias, padding_mode); did you mean 'stride'?");
  }
  a.layers[0].options.erase("strides");
  a.layers[0].type = "Conv3d";
  try {
    expected_state_dict(a);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(starts_with(e.what(), "mem:3:1: unknown layer type 'Conv3d' (known: AdaptiveAvgPool1d, "));
  }
  // The accessors name the option and its position.
  a.layers[0].type = "Conv2d";
  try {
    a.layers[0].str_opt("in_channels", "");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) == "mem:4:5: layer 'c' (Conv2d): option 'in_channels' must be a string, got integer 3");
  }
  try {
    a.layers[0].int_opt("stride");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) == "mem:3:1: layer 'c' (Conv2d): option 'stride' is required");
  }
  CHECK_THROWS_AS(a.layers[0].ints_opt("in_channels", 2, 0).at(2), std::out_of_range);
  CHECK(a.layers[0].ints_opt("in_channels", 2, 0) == std::vector<std::int64_t>{3, 3});
  CHECK(a.layers[0].int_list_opt("kernel_size") == std::vector<std::int64_t>{3});
  CHECK(a.layers[0].float_opt("kernel_size", 0) == 3.0);
}
