"""Python baseline for the load benchmark: build the same network in PyTorch, torch.load the
state_dict and load_state_dict it (strict), timed in-process (interpreter and import excluded).

    /usr/bin/python3 bench/load_torch.py MODEL_DIR RUNS      # prints one line of JSON: seconds per run
    /usr/bin/python3 bench/load_torch.py MODEL_DIR once      # one load (for /usr/bin/time -v)
    /usr/bin/python3 bench/load_torch.py MODEL_DIR baseline  # import torch only (memory baseline)
"""
import json
import os
import re
import sys
import time

import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, dim, layers):
        super().__init__()
        for i in range(1, layers + 1):
            if i > 1:
                setattr(self, f"relu{i - 1}", nn.ReLU())
            setattr(self, f"linear{i}", nn.Linear(dim, dim))


def main():
    d, what = sys.argv[1], sys.argv[2]
    if what == "baseline":
        return
    dim = int(re.search(r"dim = (\d+)", open(os.path.join(d, "hparams.toml")).read()).group(1))
    layers = open(os.path.join(d, "arch.toml")).read().count('type = "Linear"')
    runs = 1 if what == "once" else int(what)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        model = Net(dim, layers)
        sd = torch.load(os.path.join(d, "weights.pt"))
        model.load_state_dict(sd, strict=True)
        model.eval()
        times.append(time.perf_counter() - t0)
        del model, sd
    print(json.dumps(times))


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
