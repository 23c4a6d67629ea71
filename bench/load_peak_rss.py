#!/usr/bin/python3
"""Peak resident memory of a strict load, against the model's size.

    /usr/bin/python3 bench/load_peak_rss.py BUILD_DIR [MIB]

Writes an MLP of about MIB MiB of float32 weights (default 256) as weights.safetensors and as
a torch.save checkpoint (weights.pt), commits each in a scratch git repository and measures
the peak RSS of `mvc checkout HEAD -- models/big` (which rebuilds the module in LibTorch and
loads the weights strictly) against the same checkout of a tiny model (LibTorch's own cost).
The bound: the module's parameters must exist once (MIB); a load that held the file's bytes
and the module at the same time would need about 2 × MIB.
"""
import os
import resource
import subprocess
import sys
import tempfile

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures"))
from generate import write_safetensors  # noqa: E402

ARCH = """format = "mvc.arch/1"
name = "big"

[inputs]
x = {{ shape = ["batch", {n}], dtype = "float32" }}

[[layers]]
name = "fc1"
type = "Linear"
in_features = {n}
out_features = {n}

[[layers]]
name = "fc2"
type = "Linear"
in_features = {n}
out_features = {n}
"""


def peak_rss_mib(cmd, cwd):
    """Peak RSS of one child process (ru_maxrss of the children, reset by measuring in a fork)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if p.returncode != 0:
            sys.stderr.write(p.stderr.decode())
            os._exit(1)
        os.write(w, str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss).encode())
        os._exit(0)
    os.close(w)
    out = os.read(r, 100)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        raise SystemExit("command failed: %s" % " ".join(cmd))
    return int(out) / 1024.0


def run(cmd, cwd):
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def main():
    build = os.path.abspath(sys.argv[1])
    mib = int(sys.argv[2]) if len(sys.argv) > 2 else 256
    mvc = os.path.join(build, "bin", "mvc")
    n = int((mib * 1024 * 1024 / 4 / 2) ** 0.5)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, size, fmt in (("tiny", 16, "safetensors"), ("big", n, "safetensors"), ("big", n, "pt")):
            repo = os.path.join(tmp, "%s-%s" % (label, fmt))
            d = os.path.join(repo, "models", "big")
            os.makedirs(d)
            run(["git", "init", "-q", "-b", "main"], repo)
            run(["git", "config", "user.email", "b@example.com"], repo)
            run(["git", "config", "user.name", "bench"], repo)
            run([mvc, "init"], repo)
            with open(os.path.join(d, "arch.toml"), "w") as f:
                f.write(ARCH.format(n=size))
            model = torch.nn.Sequential()
            model.add_module("fc1", torch.nn.Linear(size, size))
            model.add_module("fc2", torch.nn.Linear(size, size))
            if fmt == "safetensors":
                write_safetensors(os.path.join(d, "weights.safetensors"), model.state_dict())
            else:
                torch.save(model.state_dict(), os.path.join(d, "weights.pt"))
            del model
            run([mvc, "commit", "models/big", "-m", "big"], repo)
            weights_mib = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d) if f.startswith("weights.")
                              and not f.endswith(".mvc")) / 2 ** 20
            rss = peak_rss_mib([mvc, "checkout", "HEAD", "--", "models/big"], repo)
            results[(label, fmt)] = (weights_mib, rss)
    base = results[("tiny", "safetensors")][1]
    print("LibTorch baseline (tiny model): peak RSS %.0f MiB" % base)
    for fmt in ("safetensors", "pt"):
        w, rss = results[("big", fmt)]
        print("%-11s weights %.0f MiB: peak RSS %.0f MiB, above baseline %.0f MiB = %.2f x the weights"
              % (fmt, w, rss, rss - base, (rss - base) / w))


if __name__ == "__main__":
    main()
