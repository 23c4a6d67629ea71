#!/usr/bin/python3
"""Reference for tests/arch/test_arch_torch.cpp: builds each architecture with PyTorch and
reports its state_dict and the output shape of every layer.

stdin: JSON list of {"dtype": "float32", "input": {"shape": [3, 4], "dtype": "float32"},
                     "layers": [{"name": "fc", "type": "Linear", "options": {...}}]}
stdout: JSON list of {"state": [[key, shape, dtype, is_buffer]], "outputs": [shape, ...],
                      "parameters": [count per layer]}
Symbolic dimensions have already been replaced by sizes. Types come from a closed list in the
test, never from user input.
"""
import collections
import json
import sys

import torch
from torch import nn


def build(case):
    layers = collections.OrderedDict()
    for l in case["layers"]:
        opts = {k: tuple(v) if isinstance(v, list) else v for k, v in l["options"].items()}
        layers[l["name"]] = getattr(nn, l["type"])(**opts)
    model = nn.Sequential(layers).to(getattr(torch, case["dtype"]))
    model.eval()
    return model


def main():
    torch.manual_seed(0)
    out = []
    for case in json.load(sys.stdin):
        model = build(case)
        buffers = {k for k, _ in model.named_buffers()}
        state = [[k, list(v.shape), str(v.dtype).replace("torch.", ""), k in buffers]
                 for k, v in model.state_dict().items()]
        dtype = getattr(torch, case["input"]["dtype"])
        shape = case["input"]["shape"]
        x = torch.randn(shape).to(dtype) if dtype.is_floating_point else torch.zeros(shape, dtype=dtype)
        outputs = []
        with torch.no_grad():
            for m in model:
                x = m(x)
                outputs.append(list(x.shape))
        params = [sum(p.numel() for p in m.parameters()) for m in model]
        out.append({"state": state, "outputs": outputs, "parameters": params})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
