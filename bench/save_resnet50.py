#!/usr/bin/python3
"""mvc.save of torchvision's resnet50 (issue 14, "Speed": under 5 s).

    PYTHONPATH=build/python /usr/bin/python3 bench/save_resnet50.py [--runs 5] [--work DIR] [--json]
    bench/run --only save       (the same, as a row of bench/run's table)

Times mvc.save(resnet50(), DIR, torch.randn(1, 3, 224, 224)) end to end (tracing with the
example, mapping, block folding, rebuilding through mvc.load's path and comparing outputs,
writing arch.toml and the 98 MiB weights.safetensors with mvc's writer), each run into a fresh
directory, page cache warm; prints the median, every run, and the steps of one run.
"""
import argparse
import json
import os
import shutil
import statistics
import tempfile
import time

import torch
import torchvision

from mvc import _export, _fold, _save, _trace


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--work", default=None)
    p.add_argument("--json", action="store_true", help="also print {\"times\": [...]} as the last line (bench/run)")
    a = p.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="mvc-bench-save-")
    torch.manual_seed(0)
    model = torchvision.models.resnet50()
    x = torch.randn(1, 3, 224, 224)
    times = []
    for i in range(a.runs):
        d = os.path.join(work, f"r{i}")
        t = time.perf_counter()
        r = _save.save(model, d, x, verbose=False)
        times.append(time.perf_counter() - t)
        size = os.path.getsize(os.path.join(d, "weights.safetensors"))
        shutil.rmtree(d)
    # the steps, once
    t0 = time.perf_counter()
    gm, names = _trace.trace(model, (x,), set(_export.MODULES))
    t1 = time.perf_counter()
    layers, outs = _export.export(model, gm.graph, names)
    t2 = time.perf_counter()
    _fold.fold(model, layers, outs, names)
    t3 = time.perf_counter()
    print(f"mvc.save resnet50 (1x3x224x224, {size / 2**20:.0f} MiB weights, {r['arch'].count(chr(10))} lines): "
          f"median {statistics.median(times):.2f} s over {a.runs} runs (target < 5 s)")
    print("  every run (s): " + " ".join(f"{t:.2f}" for t in times))
    print(f"  steps: trace {t1 - t0:.2f} s, map {t2 - t1:.3f} s, fold {t3 - t2:.3f} s; the rest is the check "
          "(rebuild + two forward passes) and writing")
    if not a.work:
        shutil.rmtree(work, ignore_errors=True)
    if a.json:
        print(json.dumps({"times": times}))


if __name__ == "__main__":
    main()
