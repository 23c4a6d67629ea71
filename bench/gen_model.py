"""Generates a benchmark model: Linear(D, D) layers with ReLU between them, as an mvc model
directory (arch.toml, hparams.toml, weights.safetensors) and, with --pt, the same weights as a
torch.save state_dict (weights.pt) for the Python baseline.

    /usr/bin/python3 bench/gen_model.py OUTDIR --dim 16384 --layers 1 [--seed 1] [--pt]

Weights: float32 standard normal values (numpy, seeded), written in safetensors layout with
sorted keys (linear1.bias, linear1.weight, ...). Size: layers * (D*D + D) * 4 bytes.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np


def arch_toml(layers):
    out = ['format = "mvc.arch/1"', 'name = "bench"', "", "[inputs]",
           'x = { shape = ["batch", "${hparams.dim}"], dtype = "float32" }', ""]
    for i in range(1, layers + 1):
        if i > 1:
            out += ["[[layers]]", f'name = "relu{i - 1}"', 'type = "ReLU"', ""]
        out += ["[[layers]]", f'name = "linear{i}"', 'type = "Linear"',
                'in_features = "${hparams.dim}"', 'out_features = "${hparams.dim}"', ""]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--dim", type=int, required=True)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--pt", action="store_true", help="also write weights.pt (torch.save)")
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    d = a.dim
    with open(os.path.join(a.outdir, "arch.toml"), "w") as f:
        f.write(arch_toml(a.layers))
    with open(os.path.join(a.outdir, "hparams.toml"), "w") as f:
        f.write(f"dim = {d}\n")

    rng = np.random.default_rng(a.seed)
    shapes = {}
    for i in range(1, a.layers + 1):
        shapes[f"linear{i}.weight"] = (d, d)
        shapes[f"linear{i}.bias"] = (d,)
    header, offset = {}, 0
    for name in sorted(shapes):
        n = int(np.prod(shapes[name])) * 4
        header[name] = {"dtype": "F32", "shape": list(shapes[name]), "data_offsets": [offset, offset + n]}
        offset += n
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)
    path = os.path.join(a.outdir, "weights.safetensors")
    chunk = 1 << 24  # values per write: bounded memory whatever the size
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for name in sorted(shapes):
            left = int(np.prod(shapes[name]))
            while left:
                k = min(left, chunk)
                f.write(rng.standard_normal(k, dtype=np.float32).tobytes())
                left -= k
    os.replace(path + ".tmp", path)

    if a.pt:
        import torch
        from collections import OrderedDict
        raw = np.memmap(path, dtype=np.uint8, mode="r")
        base = 8 + len(hj)
        sd = OrderedDict()
        for i in range(1, a.layers + 1):  # module order, as state_dict() has it
            for p in ("weight", "bias"):
                name = f"linear{i}.{p}"
                b, e = header[name]["data_offsets"]
                arr = np.frombuffer(raw[base + b:base + e], dtype=np.float32).reshape(shapes[name])
                sd[name] = torch.from_numpy(arr.copy())
        torch.save(sd, os.path.join(a.outdir, "weights.pt"))
    print(path, offset + 8 + len(hj), "bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
