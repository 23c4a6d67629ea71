#!/usr/bin/python3
"""How many of torchvision's 80 classification models have every torch.fx node covered by mvc's
architecture vocabulary (docs/architecture.md), before (mvc.arch/1) and after (mvc.arch/2) the
additions of issue 14 item 4:

    /usr/bin/python3 bench/vocab_coverage.py [--verbose] [--fix-iter] [MODEL...]

The vocabulary is the one python/mvc/_torch_build.py maps (covered_types()); the tracer is plain
torch.fx.symbolic_trace with the vocabulary's module types as leaves. A model counts when it
traces and each node maps to a layer type, an operation, a free Parameter/Buffer (get_attr), a
size computation (x.size(), x.shape[i] and arithmetic on them: what an exporter fills in from
the example or writes as "in<k>.size(<d>)") or a size assert (dropped). Models that plain fx
cannot trace (shape unpacking on Python 3.11, data-dependent control flow) do not count. Weights
are not initialised (nn.init is stubbed): only the graph matters.

--fix-iter applies the one-line fix torch 1.13's Proxy.__iter__ needs on Python 3.11 (it finds
the UNPACK_SEQUENCE of `n, c, h, w = x.shape` by list index, which 3.11's inline caches shift;
the fix looks the instruction up by offset), so shape unpacking traces.
"""
import dis
import importlib.util
import inspect
import operator
import os
import sys
import types
from collections import Counter

import torch
import torch.fx
import torch.nn.functional as F
import torchvision.models as tvm

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.join(os.path.dirname(HERE), "python", "mvc")


def vocabulary():
    """covered_types() of python/mvc/_torch_build.py, loaded without the compiled part."""
    pkg = types.ModuleType("mvc_source")
    pkg.__path__ = [PKG]
    sys.modules["mvc_source"] = pkg
    spec = importlib.util.spec_from_file_location("mvc_source._torch_build", os.path.join(PKG, "_torch_build.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return set(mod.covered_types())


# The additions of mvc.arch/2 (docs/architecture.md, "Format versions"); "scalar" stands for the
# scalar operand of add/sub/mul/div.
V2 = {"Hardsigmoid", "StochasticDepth", "LayerNorm2d", "Parameter", "Buffer", "hardsigmoid", "eq", "ne", "lt",
      "le", "gt", "ge", "masked_fill", "expand", "unflatten", "pad", "interpolate", "avg_pool2d", "scalar"}

# Module classes outside torch.nn that the vocabulary names (a leaf when the name is covered).
EXTRA_MODULES = {"StochasticDepth": "torchvision.ops", "LayerNorm2d": "torchvision.models.convnext"}

ARITH = {operator.add: "add", operator.iadd: "add", operator.sub: "sub", operator.mul: "mul",
         operator.imul: "mul", operator.truediv: "div", torch.add: "add", torch.mul: "mul", torch.sub: "sub",
         torch.div: "div"}
COMPARE = {operator.eq: "eq", operator.ne: "ne", operator.lt: "lt", operator.le: "le", operator.gt: "gt",
           operator.ge: "ge", torch.eq: "eq", torch.ne: "ne", torch.lt: "lt", torch.le: "le", torch.gt: "gt",
           torch.ge: "ge"}
FUNCTIONS = {
    torch.flatten: "flatten", torch.cat: "cat", torch.stack: "stack", torch.relu: "relu", F.relu: "relu",
    F.relu6: "relu6", F.gelu: "gelu", F.silu: "silu", torch.sigmoid: "sigmoid", torch.tanh: "tanh",
    F.hardswish: "hardswish", F.hardsigmoid: "hardsigmoid", F.leaky_relu: "leaky_relu", torch.softmax: "softmax",
    F.softmax: "softmax", torch.log_softmax: "log_softmax", F.log_softmax: "log_softmax", torch.matmul: "matmul",
    torch.transpose: "transpose", torch.permute: "permute", torch.reshape: "reshape", torch.mean: "mean",
    torch.sum: "sum", torch.chunk: "chunk", torch.split: "split", torch.unsqueeze: "unsqueeze",
    torch.squeeze: "squeeze", F.max_pool2d: "max_pool2d", F.avg_pool2d: "avg_pool2d", F.adaptive_avg_pool2d: "adaptive_avg_pool2d",
    F.interpolate: "interpolate", F.pad: "pad", torch.masked_fill: "masked_fill",
}
METHODS = {
    "view": "view", "reshape": "reshape", "permute": "permute", "transpose": "transpose", "contiguous": "contiguous",
    "flatten": "flatten", "mean": "mean", "sum": "sum", "chunk": "chunk", "split": "split", "unsqueeze": "unsqueeze",
    "squeeze": "squeeze", "softmax": "softmax", "expand": "expand", "unflatten": "unflatten",
    "masked_fill": "masked_fill", "relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh", "select": "select",
    "add": "add", "mul": "mul", "sub": "sub", "div": "div", "eq": "eq", "ne": "ne", "lt": "lt", "le": "le",
    "gt": "gt", "ge": "ge",
}


def stochastic_depth_fn():
    try:
        from torchvision.ops.stochastic_depth import stochastic_depth
        return stochastic_depth
    except ImportError:
        return None


class Tracer(torch.fx.Tracer):
    def __init__(self, vocab):
        super().__init__()
        self.vocab = vocab

    def is_leaf_module(self, m, qualname):
        name = type(m).__name__
        prefix = EXTRA_MODULES.get(name)
        if prefix and type(m).__module__.startswith(prefix):
            return name in self.vocab
        return super().is_leaf_module(m, qualname)


def is_size(node, sizes):
    return isinstance(node, torch.fx.Node) and node in sizes


def classify(gm, vocab):
    """(missing: Counter of what the vocabulary lacks, used: set of the types the graph needs)."""
    missing, used = Counter(), set()
    sizes = set()  # nodes that are sizes (ints or torch.Size), not tensors
    modules = dict(gm.named_modules())
    sd = stochastic_depth_fn()

    def need(t):
        used.add(t)
        if t not in vocab:
            missing[t] += 1

    for n in gm.graph.nodes:
        args = list(n.args) + list(n.kwargs.values())
        if n.op in ("placeholder", "output"):
            continue
        if n.op == "get_attr":
            need("Parameter")
            continue
        if n.op == "call_module":
            m = modules[n.target]
            name = type(m).__name__
            need(name)
            continue
        f = n.target
        if n.op == "call_method" and f in ("size", "dim") or (n.op == "call_function" and f is getattr and n.args[1] == "shape"):
            sizes.add(n)
            continue
        size_args = [a for a in args if is_size(a, sizes)]
        if size_args and all(not isinstance(a, torch.fx.Node) or a in sizes for a in args):
            sizes.add(n)  # arithmetic or indexing on sizes
            continue
        if n.op == "call_function" and f is torch._assert:
            continue  # a size check: dropped
        if n.op == "call_function" and f is operator.getitem:
            src = n.args[0]
            idx = n.args[1]
            if isinstance(idx, int) and src.op in ("call_module", "call_function", "call_method") and not isinstance(
                    src.meta.get("type"), type(None)):
                pass
            # a tuple output (lstm[0], chunk pieces) or tensor indexing (select / slice)
            if isinstance(idx, int):
                continue  # x[k] on a tuple output or select(0, k)
            if isinstance(idx, tuple) and all(isinstance(i, (int, slice)) or i is None or i is Ellipsis for i in idx):
                need("slice" if any(isinstance(i, slice) for i in idx) else "select")
                continue
            if isinstance(idx, slice):
                need("slice")
                continue
            missing[f"getitem[{type(idx).__name__}]"] += 1
            continue
        tensors = [a for a in args if isinstance(a, torch.fx.Node)]
        if n.op == "call_function" and f in ARITH or n.op == "call_method" and f in ("add", "mul", "sub", "div"):
            t = ARITH.get(f, f) if n.op == "call_function" else f
            nums = [a for a in n.args if isinstance(a, (int, float))]
            need(t)
            if nums or len(tensors) == 1:
                need("scalar")
            continue
        if n.op == "call_function" and f in COMPARE:
            need(COMPARE[f])
            continue
        if n.op == "call_function" and sd is not None and f is sd:
            need("StochasticDepth")
            continue
        if n.op == "call_function" and f in FUNCTIONS:
            need(FUNCTIONS[f])
            continue
        if n.op == "call_method" and f in METHODS:
            need(METHODS[f])
            continue
        label = f if isinstance(f, str) else getattr(f, "__name__", str(f))
        missing[f"{n.op}:{label}"] += 1
    return missing, used


def builders():
    out = []
    for name, f in vars(tvm).items():
        if name.startswith("_") or not callable(f) or inspect.isclass(f) or not name[0].islower():
            continue
        if name in ("get_model", "get_weight", "list_models", "get_model_weights", "get_model_builder"):
            continue
        out.append(name)
    return out


def fix_proxy_iter():
    def __iter__(self):
        frame = inspect.currentframe().f_back
        for inst in dis.get_instructions(frame.f_code):
            if inst.offset == frame.f_lasti:
                if inst.opname == "UNPACK_SEQUENCE":
                    return (self[i] for i in range(inst.argval))
                break
        return self.tracer.iter(self)
    torch.fx.Proxy.__iter__ = __iter__


def main():
    verbose = "--verbose" in sys.argv
    if "--fix-iter" in sys.argv:
        fix_proxy_iter()
    names = [a for a in sys.argv[1:] if not a.startswith("--")] or builders()
    vocab = vocabulary()
    v1 = (vocab - V2) | {"scalar"} - {"scalar"}
    # No weight initialisation: only the graph is needed.
    for k in dir(torch.nn.init):
        if k.endswith("_") and callable(getattr(torch.nn.init, k)):
            setattr(torch.nn.init, k, lambda t, *a, **kw: t)
    before = after = 0
    untraced = []
    for name in names:
        try:
            m = getattr(tvm, name)().eval()
        except Exception as e:  # noqa: BLE001
            print(f"{name}: not built ({type(e).__name__}: {e})")
            continue
        results = {}
        for label, voc in (("v1", v1), ("v2", vocab | {"scalar"})):
            try:
                g = Tracer(voc).trace(m)
                gm = torch.fx.GraphModule(m, g)
            except Exception as e:  # noqa: BLE001
                results[label] = None, f"{type(e).__name__}: {str(e).splitlines()[0][:100]}"
                continue
            results[label] = classify(gm, voc)
        del m
        r1, r2 = results["v1"], results["v2"]
        if r2[0] is None:
            untraced.append(name)
            print(f"{name}: plain fx cannot trace it ({r2[1]})")
            continue
        ok1 = r1[0] is not None and not r1[0]
        ok2 = not r2[0]
        before += ok1
        after += ok2
        status = "covered" if ok2 else "missing " + ", ".join(f"{k} ×{v}" for k, v in sorted(r2[0].items()))
        new = sorted((r2[1] & V2)) if ok2 and not ok1 else []
        print(f"{name}: {status}" + (f" (new: {', '.join(new)})" if new else "") +
              (f"  [v1 misses: {', '.join(sorted(r1[0]))}]" if verbose and r1[0] else ""))
    print(f"\n{len(names)} models; every node covered: {before} with mvc.arch/1's vocabulary, {after} with "
          f"mvc.arch/2's; {len(untraced)} not traceable by plain torch.fx ({', '.join(untraced)})")


if __name__ == "__main__":
    main()
