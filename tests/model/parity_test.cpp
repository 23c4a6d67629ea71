// Parity with Python for non-default layer options: PyTorch (Debian's python3-torch, as the
// fixtures use) builds the equivalent nn.Sequential with random weights and statistics and
// records its eval output; the module rebuilt from arch.toml must load the weights strictly and
// reproduce the output.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include "mvc/model.h"
#include "support.h"

namespace {

namespace fs = std::filesystem;
using namespace mvc;

const char* kPython = R"PY(
import collections, json, os, struct, sys
import torch
from torch import nn

CODES = {torch.float32: "F32", torch.int64: "I64", torch.float64: "F64"}

def save(path, tensors):
    header, blobs, off = {}, [], 0
    for k in sorted(tensors):
        t = tensors[k].detach().contiguous()
        b = t.numpy().tobytes()
        header[k] = {"dtype": CODES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    h += b" " * (-len(h) % 8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))

def randomize(m):
    with torch.no_grad():
        for k, t in m.state_dict().items():
            if k.endswith("running_var"):
                t.copy_(torch.rand_like(t) + 0.5)
            elif k.endswith("num_batches_tracked"):
                t.fill_(7)
            elif t.is_floating_point():
                t.copy_(torch.randn_like(t) * 0.5)

def run(out, name, m, x):
    randomize(m)
    save(os.path.join(out, name, "weights.safetensors"), m.state_dict())
    m.eval()
    with torch.no_grad():
        y = m(x)
    save(os.path.join(out, name, "io.safetensors"), {"x": x, "y": y})

out = sys.argv[1]
torch.manual_seed(0)
run(out, "a", nn.Sequential(collections.OrderedDict([
    ("conv", nn.Conv2d(4, 6, (3, 1), padding="same", groups=2, bias=False, padding_mode="reflect")),
    ("bn", nn.BatchNorm2d(6, affine=False)),
    ("bn_nostats", nn.BatchNorm2d(6, track_running_stats=False)),
    ("pool", nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)),
    ("ln", nn.LayerNorm([4, 4], elementwise_affine=False)),
    ("ln2", nn.LayerNorm(4, eps=1e-3)),
    ("gelu", nn.GELU(approximate="tanh")),
    ("flat", nn.Flatten(1)),
    ("drop", nn.Dropout()),
    ("bn1", nn.BatchNorm1d(96, momentum=0.5)),
    ("lin", nn.Linear(96, 5, bias=False)),
    ("id", nn.Identity())])), torch.randn(2, 4, 6, 6))
run(out, "b", nn.Sequential(collections.OrderedDict([
    ("c1", nn.Conv2d(3, 4, (2, 3), stride=(2, 1), padding=(1, 2), dilation=(1, 2), padding_mode="circular")),
    ("c2", nn.Conv2d(4, 4, 4, padding="same")),
    ("c3", nn.Conv2d(4, 2, 3, padding="valid", padding_mode="replicate")),
    ("c4", nn.Conv2d(2, 2, (3, 2), padding="same", dilation=(1, 2), padding_mode="replicate")),
    ("relu", nn.ReLU()), ("s", nn.Sigmoid()), ("t", nn.Tanh())])), torch.randn(2, 3, 9, 9))
run(out, "c", nn.Sequential(collections.OrderedDict([
    ("embed", nn.Embedding(20, 3, padding_idx=-1, max_norm=1.0, norm_type=1.5)),
    ("flat", nn.Flatten()),
    ("proj", nn.Linear(15, 2))])), torch.randint(0, 20, (4, 5)))
run(out, "d", nn.Sequential(collections.OrderedDict([
    ("up", nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)),
    ("gn", nn.GroupNorm(2, 4, eps=1e-4)),
    ("avg", nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)),
    ("silu", nn.SiLU()), ("hs", nn.Hardswish()), ("lrelu", nn.LeakyReLU(0.2)),
    ("aap", nn.AdaptiveAvgPool2d((2, 3))),
    ("flat", nn.Flatten(2)),
    ("c1", nn.Conv1d(4, 6, 3, padding=2, dilation=2, groups=2)),
    ("aap1", nn.AdaptiveAvgPool1d(3)),
    ("sm", nn.Softmax(dim=1)),
    ("r6", nn.ReLU6())])), torch.randn(2, 4, 8, 8) * 3)
)PY";

}  // namespace

TEST_CASE("model: non-default layer options match PyTorch", "[model][python]") {
  test::TempDir tmp;
  test::write_file(tmp / "gen.py", kPython);
  auto r = test::run({MVC_PYTHON, (tmp / "gen.py").string(), tmp.path().string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  for (std::string name : {"a", "b", "c", "d"}) {
    DYNAMIC_SECTION(name) {
      ModelSource s;
      s.arch_toml = test::read_file(test::source_dir() / "tests/archs" / ("options_" + name + ".toml"));
      s.weights = tmp / name / "weights.safetensors";
      Model m = Model::load(s);
      std::map<std::string, at::Tensor> io;
      for (auto& [k, t] : load_safetensors(tmp / name / "io.safetensors")) io[k] = t;
      at::Tensor y = m.forward(io.at("x"));
      REQUIRE(y.sizes() == io.at("y").sizes());
      INFO("max abs diff " << (y - io.at("y")).abs().max().item<double>());
      CHECK(torch::allclose(y, io.at("y"), 1e-4, 1e-5));
    }
  }
}
