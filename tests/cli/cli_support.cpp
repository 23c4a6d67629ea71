#include "cli/cli_support.h"

#include <regex>

namespace mvc::test {

std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator(); ++it) {
    std::string rel = it->path().lexically_relative(dir).generic_string();
    if (rel.rfind(".git/", 0) == 0 || rel == ".git") {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (it->is_symlink())
      out[rel] = "-> " + fs::read_symlink(it->path()).string();
    else if (it->is_regular_file())
      out[rel] = read_file(it->path());
  }
  return out;
}

std::string pointer_sha(const fs::path& pointer_file) {
  std::string text = read_file(pointer_file);
  std::smatch m;
  REQUIRE(std::regex_search(text, m, std::regex("sha256 = \"([0-9a-f]{64})\"")));
  return m[1];
}

// Retrains one layer of the mlp fixture with PyTorch (the others frozen) and writes the new
// state_dict as safetensors, then prints, computed by PyTorch in float64, what diff must say
// of every tensor: {"name": {"relative", "max_abs", "fraction"}} for those that changed.
static const char* kRetrain = R"(import json, struct, sys, torch
src, dst, layer = sys.argv[1], sys.argv[2], sys.argv[3]
raw = open(src, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
sd = {}
for k, v in header.items():
    if k == "__metadata__":
        continue
    b, e = v["data_offsets"]
    sd[k] = torch.frombuffer(bytearray(raw[8 + n + b:8 + n + e]), dtype=torch.float32).reshape(v["shape"]).clone()

class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear1 = torch.nn.Linear(10, 20)
        self.relu = torch.nn.ReLU()
        self.linear2 = torch.nn.Linear(20, 1)
    def forward(self, x):
        return self.linear2(self.relu(self.linear1(x)))

m = MLP()
m.load_state_dict(sd, strict=True)
torch.manual_seed(7)
for name, p in m.named_parameters():
    p.requires_grad = name.startswith(layer + ".")
opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.05)
x = torch.randn(64, 10); y = x.sum(dim=1, keepdim=True)
for _ in range(20):
    opt.zero_grad()
    torch.nn.functional.mse_loss(m(x), y).backward()
    opt.step()
new = {k: v.detach().contiguous() for k, v in m.state_dict().items()}
names = sorted(new)
h, off, chunks = {}, 0, []
for k in names:
    b = new[k].numpy().tobytes()
    h[k] = {"dtype": "F32", "shape": list(new[k].shape), "data_offsets": [off, off + len(b)]}
    off += len(b)
    chunks.append(b)
j = json.dumps(h, separators=(",", ":")).encode()
j += b" " * ((8 - len(j) % 8) % 8)
open(dst, "wb").write(struct.pack("<Q", len(j)) + j + b"".join(chunks))
out = {}
for k in names:
    a = sd[k].double(); b = new[k].double()
    if torch.equal(a, b):
        continue
    out[k] = {"relative": float((b - a).norm() / a.norm()), "max_abs": float((b - a).abs().max()),
              "fraction": float((b != a).double().mean())}
print(json.dumps(out))
)";

// Writes models/clf/weights.safetensors of `repo` as mlp_v1's with `layer` retrained; returns
// PyTorch's expected changes.
nlohmann::json retrain(const Repo& repo, const std::string& layer, const std::string& dir) {
  write_file(repo.tmp / "retrain.py", kRetrain);
  fs::path w = repo / dir / "weights.safetensors";
  fs::copy_file(w, repo.tmp / "before.safetensors", fs::copy_options::overwrite_existing);
  RunResult r = run({"/usr/bin/python3", (repo.tmp / "retrain.py").string(), (repo.tmp / "before.safetensors").string(),
                     w.string(), layer});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return nlohmann::json::parse(r.out);
}

}  // namespace mvc::test
