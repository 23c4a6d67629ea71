"""mvc.save: a torch.nn.Module → arch.toml + weights.safetensors (docs/python.md, "mvc.save").

Steps, each its own module: trace with concrete values (_trace), map the graph to layers
(_export), fold repeated submodules into blocks (_fold), write TOML (here), then rebuild what
was written through mvc.load's path (mvc._core.describe + _torch_build) and compare outputs
before anything reaches `path`.
"""
import json
import math
import operator
import os
import re
import shutil
import tempfile
import warnings

import torch
import torch.fx as fx

from . import _core, _export, _fold, _torch_build
from ._errors import Error
from ._toml import _key, toml_value
from ._trace import VALUE, SCOPE, eval_mode, node_line, trace

TOLERANCE = 1e-5

_TORCH_DTYPES = {v: k for k, v in _torch_build._DTYPES.items()}
_ST_CODES = {v: k for k, v in _torch_build._ST_DTYPES.items()}


# --- TOML ------------------------------------------------------------------------------------


def toml_table(d):
    """A flat TOML document of `d` (nested dicts as tables), for hparams.toml / metrics.toml."""
    lines, tables = [], []
    for k, v in d.items():
        if isinstance(v, dict):
            tables.append((k, v))
        else:
            lines.append(f"{_key(k)} = {toml_value(v)}")
    for k, v in tables:
        lines.append("")
        lines.append(f"[{_key(k)}]")
        for k2, v2 in v.items():
            lines.append(f"{_key(k2)} = {toml_value(v2)}")
    return "\n".join(lines) + "\n"


def layer_lines(layer, table, prev):
    """The [[table]] entry of `layer`; `prev`: the name its inputs default to (None: none)."""
    out = ["", f"[[{table}]]", f"name = {toml_value(layer.name)}"]
    if getattr(layer, "shares", None):  # a call of an earlier layer's module: its type and options
        out.append(f"shares = {toml_value(layer.shares)}")
    else:
        out.append(f"type = {toml_value(layer.type)}")
    if not getattr(layer, "run", True):
        out.append("run = false")
    if layer.repeat is not None:
        out.append(f"repeat = {toml_value(layer.repeat)}")
    if layer.when is not None:
        out.append(f"when = {toml_value(layer.when)}")
    if layer.inputs and (layer.write_inputs if layer.write_inputs is not None else layer.inputs != [prev]):
        out.append(f"inputs = {toml_value(layer.inputs)}")
    for k, v in layer.options.items():
        out.append(f"{_key(k)} = {toml_value(v)}")
    return out


def arch_text(name, inputs, blocks, layers, outputs, dtype, source=None, ties=None):
    out = [f"# Written by mvc.save from {source or name}.", 'format = "mvc.arch/1"', f"name = {toml_value(name)}"]
    if dtype != "float32":
        out.append(f"dtype = {toml_value(dtype)}")
    last = layers[-1]
    default_out = [last.name] if last.n_outputs == 1 else [f"{last.name}[{i}]" for i in range(last.n_outputs)]
    if outputs != default_out and not (last.repeat is not None and outputs == [last.name]):
        out.append(f"outputs = {toml_value(outputs)}")
    out += ["", "[inputs]"]
    for n, spec in inputs.items():
        out.append(f"{_key(n)} = {toml_value(spec)}")
    if ties:
        out += ["", "[ties]"]
        for tied, shared in ties.items():
            out.append(f"{json.dumps(tied)} = {json.dumps(shared)}")
    for b in blocks:
        out += ["", f"[blocks.{b.name}]"]
        if b.args:  # optional in the language: a block without arguments says nothing
            out.append(f"args = {toml_value(b.args)}")
        if b.defaults:
            out.append(f"defaults = {toml_value(b.defaults)}")
        if b.inputs != ["x"]:
            out.append(f"inputs = {toml_value(b.inputs)}")
        if b.outputs:
            out.append(f"outputs = {toml_value(b.outputs)}")
        prev = b.inputs[0]
        for layer in b.layers:
            out += layer_lines(layer, f"blocks.{b.name}.layers", prev)
            prev = layer.name if layer.run else prev  # after a layer not run: what came before it
    prev = list(inputs)[0] if len(inputs) == 1 else None  # with several, the first layer names its input
    for layer in layers:
        out += layer_lines(layer, "layers", prev)
        prev = layer.name if layer.run else prev
    return "\n".join(out) + "\n"


# --- weights ---------------------------------------------------------------------------------


def tensor_entry(name, t):
    t = t.detach().to("cpu").contiguous()
    code = _ST_CODES.get(t.dtype)
    if code is None:
        raise Error(f"save: tensor '{name}' has dtype {t.dtype}, which safetensors files of mvc do not hold", 7)
    flat = t.reshape(-1)
    data = flat.view(torch.uint8) if flat.numel() and t.dtype != torch.uint8 else flat
    if t.dtype == torch.bool:
        data = flat.to(torch.uint8)
    return (name, code, list(t.shape), data.numpy())


def write_weights(path, state):
    """weights.safetensors of `state` by mvc's canonical C++ writer (mvc._core)."""
    _core.write_safetensors(os.fspath(path), [tensor_entry(k, v) for k, v in state.items()])


# --- verification ----------------------------------------------------------------------------


def _flat(v):
    if isinstance(v, torch.Tensor):
        return [v]
    if isinstance(v, (tuple, list)):
        return [t for x in v for t in _flat(x)]
    if isinstance(v, dict):
        return [t for x in v.values() for t in _flat(x)]
    return []


def _maxdiff(a, b):
    if a.shape != b.shape:
        return math.inf
    if not a.is_floating_point():
        return 0.0 if torch.equal(a, b) else math.inf
    if a.numel() == 0:
        return 0.0
    return (a.double() - b.double()).abs().max().item()


def first_divergence(graph, layers, rebuilt, examples):
    """The first fx node whose value differs from the rebuilt module's layer of the same node."""
    values = {}
    by_node = {}
    for layer in layers:
        if layer.node is not None:
            by_node.setdefault(layer.node, layer.name)
    try:
        with torch.no_grad():
            vals = [[x.clone()] for x in examples]
            for name, call, ins in rebuilt._graph:
                vals.append(call([vals[i][j] for i, j in ins]))
                values[name] = vals[-1]
    except Exception:
        return None
    for node in graph.nodes:
        name = by_node.get(node)
        if name is None or name not in values:
            continue
        want = _flat(node.meta.get(VALUE))
        got = values[name]
        for w, g in zip(want, got):
            if isinstance(w, torch.Tensor) and isinstance(g, torch.Tensor) and _maxdiff(w, g) > TOLERANCE:
                return f"{node.name} (layer '{name}', in '{node.meta.get(SCOPE) or '(top)'}' at {node_line(node)})"
    return None


def _ties(state):
    """{tied key: shared key} for state_dict entries that are one tensor under two keys (GPT's
    lm_head.weight = wte.weight): the shared key is the first in the state_dict's order."""
    first, ties = {}, {}
    for k, t in state.items():
        if t.numel() == 0:
            continue
        ident = (t.data_ptr(), t.dtype, tuple(t.shape), tuple(t.stride()))
        if ident in first:
            ties[k] = first[ident]
        else:
            first[ident] = k
    return ties


def _check(text, state, examples, ref, module, ties=None, hparams_text=""):
    """(description, max abs diff) of the module rebuilt from `text` (and `hparams_text`) as mvc.load builds it."""
    desc = json.loads(_core.describe(text, hparams_text, "arch.toml"))
    with _NoInit():
        rebuilt = _torch_build.build(desc)
    want = [e["key"] for e in desc["state_dict"]]
    stored = [k for k in state if k not in (ties or {})]  # a tied key is not in the file
    if sorted(want) != sorted(stored):
        missing = [k for k in stored if k not in set(want)]
        extra = [k for k in want if k not in state]
        raise Error(f"save: cannot export {type(module).__name__}: the traced graph does not register the "
                    f"module's state_dict: not used by forward: {', '.join(missing[:10]) or '-'}; "
                    f"unexpected: {', '.join(extra[:10]) or '-'}", 7)
    rebuilt.load_state_dict(state, strict=True)
    rebuilt.eval()
    with torch.no_grad():
        got = _flat(rebuilt(*[e.clone() for e in examples]))
    diff = max((_maxdiff(a, b) for a, b in zip(ref, got)), default=0.0) if len(ref) == len(got) else math.inf
    return desc, diff


# --- mvc.save --------------------------------------------------------------------------------


def _input_specs(names, examples, dynamic):
    specs = {}
    dyn_index = {}
    for i, (n, x) in enumerate(zip(names, examples)):
        if not isinstance(x, torch.Tensor):
            raise Error(f"save: example for '{n}' is {type(x).__name__}, not a tensor", 2)
        dims = {0: "batch"} if x.dim() else {}
        if dynamic is not None:
            for key in (n, i):
                if key in dynamic:
                    dims = dict(dynamic[key])
        for d in dims:
            if not -x.dim() <= d < x.dim():
                raise Error(f"save: dynamic: input '{n}' has {x.dim()} dimensions, no dimension {d}", 2)
        dims = {d % x.dim(): s for d, s in dims.items()}
        shape = [dims.get(d, s) for d, s in enumerate(x.shape)]
        spec = {"shape": shape}
        dt = _TORCH_DTYPES.get(x.dtype)
        if dt is None:
            raise Error(f"save: input '{n}' has dtype {x.dtype}, which arch.toml cannot declare", 7)
        if dt != "float32":
            spec["dtype"] = dt
        specs[n] = spec
        dyn_index[i] = dims
    if dynamic:
        unknown = [k for k in dynamic if k not in names and not (isinstance(k, int) and k < len(names))]
        if unknown:
            raise Error(f"save: dynamic names {unknown}, which are not forward's inputs ({', '.join(names)})", 2)
    return specs, dyn_index


def _has_views(graph):
    """Whether a view / reshape, or a slice to a size read at run time (nanoGPT's
    bias[:, :, :T, :T]), needs to know which sizes vary (the probe costs a forward pass)."""
    def sized_slice(n):
        if n.op != "call_function" or n.target is not operator.getitem or len(n.args) < 2:
            return False
        idx = n.args[1] if isinstance(n.args[1], tuple) else (n.args[1],)
        return any(isinstance(i, slice) and any(isinstance(b, fx.Node) for b in (i.start, i.stop, i.step))
                   for i in idx)
    return any((n.op == "call_method" and n.target in ("view", "reshape")) or
               (n.op == "call_function" and n.target is torch.reshape) or sized_slice(n) for n in graph.nodes)


_NoInit = _torch_build.NoInit


def _probe(graph_module, examples, dyn_index):
    """Each node's value on an example whose symbolic dimensions have another size, to tell
    sizes that vary with them (None when no dimension is symbolic or the model refuses it)."""
    if not any(dyn_index.values()):
        return {}
    for delta in (-1, 1):
        probe = []
        for i, x in enumerate(examples):
            shape = list(x.shape)
            for d in dyn_index.get(i, {}):
                shape[d] = max(1, shape[d] + delta) if shape[d] + delta >= 1 else shape[d] + 1
            if shape == list(x.shape):
                probe.append(x)
            elif x.is_floating_point():
                probe.append(torch.randn(shape, dtype=x.dtype))
            else:
                idx = [slice(0, min(a, b)) for a, b in zip(shape, x.shape)]
                p = torch.zeros(shape, dtype=x.dtype)
                p[tuple(idx)] = x[tuple(idx)]
                probe.append(p)
        values = {}

        class Rec(fx.Interpreter):
            def run_node(self, n):
                r = super().run_node(n)
                values[n] = r
                return r
        try:
            # eval mode: in train mode BatchNorm would update the user's running statistics
            with torch.no_grad(), eval_mode(graph_module):
                Rec(graph_module).run(*probe)
            return values
        except Exception:
            continue
    return {}


def _arch_dtype(module):
    """The arch's `dtype`: that of the module's floating-point parameters and buffers (one dtype;
    float32 when it has none). Mixed dtypes are refused: the language has one per architecture."""
    dts = {t.dtype for t in list(module.parameters()) + list(module.buffers()) if t.is_floating_point()}
    if len(dts) > 1:
        raise Error(f"save: cannot export {type(module).__name__}: its tensors mix dtypes "
                    f"({', '.join(sorted(str(d).replace('torch.', '') for d in dts))}); an architecture has one", 7)
    return str(dts.pop()).replace("torch.", "") if dts else "float32"


def _oldest_format(text):
    """`text` (written as mvc.arch/1) in the oldest format that describes it: mvc.arch/1 when it
    uses nothing newer, so an older mvc still reads it; mvc.arch/2 when the core says a construct
    needs it (docs/conventions.md, "Compatibility"). The core decides; nothing is listed here."""
    try:
        _core.describe(text, "", "arch.toml")
        return text
    except Error as e:
        if 'needs format = "mvc.arch/2"' not in str(e):
            return text  # another error: _check reports it
    return text.replace('format = "mvc.arch/1"', 'format = "mvc.arch/2"', 1)


def _traced_text(module, examples, dynamic, name, dtype):
    """(arch.toml text, description, max abs diff, state_dict, ties, folded) of `module` traced
    on `examples`: the folded text, or the flat one when folding went wrong; mvc.Error naming the
    first divergence when neither rebuilds to the module's outputs."""
    gm, input_names = trace(module, examples, set(_export.MODULES))
    graph = gm.graph
    specs, dyn_index = _input_specs(input_names, examples, dynamic)
    probe = _probe(gm, examples, dyn_index) if _has_views(graph) else {}
    layers, outputs = _export.export(module, graph, input_names, probe)
    if not layers:
        raise Error(f"save: cannot export {type(module).__name__}: forward has no layer", 7)
    blocks, top, top_outs = _fold.fold(module, layers, outputs, input_names)
    state = module.state_dict()
    ties = _ties(state)
    # the module's outputs on the example: the values the trace computed (in eval mode)
    out_node = next(n for n in graph.nodes if n.op == "output")
    ref = _flat(fx.node.map_aggregate(out_node.args[0], lambda n: n.meta.get(VALUE) if isinstance(n, fx.Node) else n))
    # The folded text first; the flat one when folding went wrong (it should not).
    failure = None
    for blocks_, layers_, outs_ in ((blocks, top, top_outs), ([], layers, outputs)):
        text = _oldest_format(arch_text(name, specs, blocks_, layers_, outs_, dtype, ties=ties, source=
                                        f"{type(module).__module__}.{type(module).__qualname__}"))
        try:
            desc, diff = _check(text, state, examples, ref, module, ties)
        except Error as e:
            failure = e  # the flat text's, when both fail
            if os.environ.get("MVC_SAVE_DEBUG"):
                print(f"mvc.save: {'folded' if blocks_ else 'flat'} text refused: {e}\n{text}")
            continue
        if diff <= TOLERANCE:
            break
        if os.environ.get("MVC_SAVE_DEBUG"):
            print(f"mvc.save: {'folded' if blocks_ else 'flat'} text: max abs diff {diff}")
        if not blocks_:
            with _NoInit():
                rebuilt = _torch_build.build(desc)
            rebuilt.load_state_dict(state, strict=True)
            rebuilt.eval()
            where = first_divergence(graph, layers, rebuilt, examples)
            raise Error(f"save: the module rebuilt from the arch.toml written does not match "
                        f"{type(module).__name__}: max abs diff {diff:.3g} > {TOLERANCE}" +
                        (f"; first divergence at {where}" if where else ""), 7)
    else:
        raise failure
    return text, desc, diff, state, ties, bool(blocks_)


def _reloaded_text(module, examples):
    """The same for a module mvc.load built (no class to trace): its architecture is the
    arch.toml it was built from, written again as it was, and checked the same way (rebuilt,
    outputs on `examples` compared with the module's in eval mode)."""
    state = module.state_dict()
    ties = _ties(state)
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            ref = _flat(module(*[e.clone() for e in examples]))
    finally:
        module.train(was_training)
    desc, diff = _check(module.arch_toml, state, examples, ref, module, ties, module.hparams_toml)
    if diff > TOLERANCE:
        raise Error(f"save: the module rebuilt from its arch.toml does not match the module mvc.load built: "
                    f"max abs diff {diff:.3g} > {TOLERANCE}", 7)
    return module.arch_toml, desc, diff, state, ties, re.search(r"^\[blocks\.", module.arch_toml, re.M) is not None


def save(module, path, example, hparams=None, metrics=None, dynamic=None, name=None, verbose=True, optimizer=None):
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, not {type(module).__name__}")
    from . import _optim
    opt_files = _optim.files(optimizer, module) if optimizer is not None else None  # refused before tracing
    examples = tuple(example) if isinstance(example, (tuple, list)) else (example,)
    path = os.fspath(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise Error(f"save: {path} exists and is not a directory", 2)
    name = name or os.path.basename(os.path.normpath(path)) or type(module).__name__
    dtype = _arch_dtype(module)
    hparams_text = None  # a reloaded module's hparams.toml, written again when no hparams= is given

    if isinstance(module, _torch_build.ArchModule) and getattr(module, "arch_toml", None):
        text, desc, diff, state, ties, folded = _reloaded_text(module, examples)
        if hparams is None and module.hparams_toml:
            hparams_text = module.hparams_toml
    else:
        text, desc, diff, state, ties, folded = _traced_text(module, examples, dynamic, name, dtype)
    if verbose:
        print(f"mvc.save: {path}: {len(desc['layers'])} layers, {len(state)} tensors, "
              f"max abs diff {diff:.3g}")

    # Write to a temporary directory beside `path`, then move the files in.
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".mvc-save-", dir=parent)
    try:
        files = {"arch.toml": text}
        if hparams is not None:
            files["hparams.toml"] = toml_table(dict(hparams))
        elif hparams_text is not None:
            files["hparams.toml"] = hparams_text
        if metrics is not None:
            files["metrics.toml"] = toml_table(dict(metrics))
        for fn, content in files.items():
            with open(os.path.join(tmp, fn), "w") as f:
                f.write(content)
        write_weights(os.path.join(tmp, "weights.safetensors"), {k: t for k, t in state.items() if k not in ties})
        opt_names = [_optim.GROUPS_FILE, _optim.STATE_FILE]
        if opt_files is not None:
            with open(os.path.join(tmp, _optim.GROUPS_FILE), "w") as f:
                f.write(opt_files[0])
            write_weights(os.path.join(tmp, _optim.STATE_FILE), opt_files[1])
        if "hparams.toml" in files or metrics is not None:
            _core.describe(text, files.get("hparams.toml", ""), "arch.toml")
        os.makedirs(path, exist_ok=True)
        for fn in ("hparams.toml", "metrics.toml"):
            if fn not in files and os.path.exists(os.path.join(path, fn)):
                warnings.warn(f"mvc.save: {os.path.join(path, fn)} is from before this save (no "
                              f"{fn.split('.')[0]}= given): it stays, and mvc commit records it with this version",
                              stacklevel=2)
        for fn in list(files) + ["weights.safetensors"] + (opt_names if opt_files is not None else []):
            os.replace(os.path.join(tmp, fn), os.path.join(path, fn))
        if opt_files is None:  # a previous save's optimizer state belongs to other weights
            for fn in opt_names:
                if os.path.exists(os.path.join(path, fn)):
                    os.unlink(os.path.join(path, fn))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"arch": text, "folded": folded, "max_abs_diff": diff, "layers": len(desc["layers"]), "tensors": len(state)}
