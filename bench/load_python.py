"""mvc.load's side of the load benchmark: the same model directory committed to nothing, read
from a scratch repository's work tree (rev=None) by `mvc.load` with Python's torch, timed
in-process (interpreter, imports and the scratch repository excluded).

    PYTHONPATH=build/python /usr/bin/python3 bench/load_python.py MVC MODEL_DIR RUNS      # JSON: seconds per run
    PYTHONPATH=build/python /usr/bin/python3 bench/load_python.py MVC MODEL_DIR once      # one load (/usr/bin/time -v)
    PYTHONPATH=build/python /usr/bin/python3 bench/load_python.py MVC MODEL_DIR baseline  # imports only

MVC is the mvc binary (for `mvc init`); MODEL_DIR holds arch.toml, hparams.toml and weights.safetensors
(bench/gen_model.py), hard-linked into the scratch repository (no copy of the weights).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import torch

import mvc


def scratch_repo(mvc_bin, model):
    root = tempfile.mkdtemp(prefix="mvc-bench-load-", dir=os.path.dirname(os.path.abspath(model)))
    subprocess.run(["git", "init", "-q", root], check=True)
    subprocess.run([os.path.abspath(mvc_bin), "init"], cwd=root, check=True, capture_output=True)
    d = os.path.join(root, "models", "m")
    os.makedirs(d)
    for f in ("arch.toml", "hparams.toml", "weights.safetensors"):
        try:
            os.link(os.path.join(model, f), os.path.join(d, f))
        except OSError:
            shutil.copy(os.path.join(model, f), os.path.join(d, f))
    return root, d


def main():
    mvc_bin, model, what = sys.argv[1], sys.argv[2], sys.argv[3]
    if what == "baseline":
        return
    root, d = scratch_repo(mvc_bin, model)
    try:
        runs = 1 if what == "once" else int(what)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            m = mvc.load(d)
            times.append(time.perf_counter() - t0)
            del m
        print(json.dumps(times))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
