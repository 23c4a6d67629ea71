"""Optimizer state as part of a model version (docs/repository-format.md, "Optimizer state").

mvc.save(..., optimizer=opt) writes, beside the weights:
  optimizer.safetensors  the state's tensors, `state.<param index>.<name>` (state.3.exp_avg)
  optimizer.toml         the rest: the optimizer's class (data, never imported or eval'd), each
                         parameter's state_dict name and shape by index, the param groups, and
                         the state's non-tensor values
mvc.load_optimizer(opt, path, rev) reads them back into an existing optimizer with strict
checks. No pickle in Python: a torch.save checkpoint committed with a [load] key is read by
mvc's restricted unpickler (mvc._core.checkpoint_entry), which calls nothing.
"""
import os
import tomllib

import torch

from . import _core, _torch_build
from ._errors import Error
from ._toml import _key, toml_value

STATE_FILE = "optimizer.safetensors"
GROUPS_FILE = "optimizer.toml"
FORMAT = 1
# Keys a wrapping checkpoint keeps its optimizer under (torch's tutorials, Lightning, ...).
CHECKPOINT_KEYS = ("optimizer_state_dict", "optimizer", "optimizer_states", "optim")


def class_name(opt):
    t = type(opt)
    return f"{t.__module__}.{t.__qualname__}"


def _names(opt, module):
    """The state_dict name of each parameter the optimizer holds, in its state_dict's index order."""
    by_id = {}
    for n, p in module.named_parameters():
        by_id.setdefault(id(p), n)  # a tied parameter: its first name, as state_dict() has it
    names = []
    for g in opt.param_groups:
        for p in g["params"]:
            n = by_id.get(id(p))
            if n is None:
                raise Error(f"save: optimizer: it optimizes a tensor of shape {list(p.shape)} that is not a "
                            f"parameter of {type(module).__name__}", 2)
            names.append(n)
    return names


def _toml_scalar(v, where):
    if isinstance(v, (bool, int, float, str)):
        return toml_value(v)
    if isinstance(v, (tuple, list)) and all(isinstance(x, (bool, int, float, str)) for x in v):
        return toml_value(list(v))
    raise Error(f"save: optimizer: {where} is {type(v).__name__} ({v!r}), which optimizer.toml cannot hold", 7)


def files(opt, module):
    """(optimizer.toml text, {tensor name: tensor}) of `opt`, whose parameters are `module`'s."""
    if not isinstance(opt, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, not {type(opt).__name__}")
    names = _names(opt, module)
    params = [p for g in opt.param_groups for p in g["params"]]
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for idx in sorted(sd["state"]):
        for k, v in sd["state"][idx].items():
            if isinstance(v, torch.Tensor):
                tensors[f"state.{idx}.{k}"] = v
            elif v is not None:
                scalars.setdefault(idx, {})[k] = _toml_scalar(v, f"state of '{names[idx]}' key '{k}'")
    out = ["# Written by mvc.save: the optimizer state's param groups; its tensors are in optimizer.safetensors",
           "# (docs/repository-format.md, \"Optimizer state\").",
           f"format = {FORMAT}", f"class = {_toml_scalar(class_name(opt), 'class')}", "",
           "# The optimizer's parameters by state_dict index: the model's state_dict name and shape."]
    out.append("params = [")
    for n, p in zip(names, params):
        out.append(f"  {{ name = {_toml_scalar(n, 'name')}, shape = {_toml_scalar(list(p.shape), 'shape')} }},")
    out.append("]")
    for gi, g in enumerate(sd["param_groups"]):
        out += ["", "[[param_groups]]"]
        nones = []
        for k, v in g.items():
            if v is None:
                nones.append(k)
            else:
                out.append(f"{_key(k)} = {_toml_scalar(v, f'param group {gi} key {k!r}')}")
        if nones:
            out.append(f"none = {_toml_scalar(nones, 'none')}  # keys whose value is None")
    for idx, kv in scalars.items():
        out += ["", f'[state."{idx}"]']
        out += [f"{_key(k)} = {v}" for k, v in kv.items()]
    return "\n".join(out) + "\n", tensors


def _fail(where, why):
    raise Error(f"{where}: {why}", 7)


def _check_groups(opt, groups, where):
    """Same number of groups and of parameters in each as the optimizer's (the state_dict's rule)."""
    if len(groups) != len(opt.param_groups):
        _fail(where, f"{len(groups)} param groups, the optimizer has {len(opt.param_groups)}")
    for i, (g, og) in enumerate(zip(groups, opt.param_groups)):
        if len(g["params"]) != len(og["params"]):
            _fail(where, f"param group {i} has {len(g['params'])} parameters, the optimizer's has {len(og['params'])}")


def _from_files(opt, state_path, groups_text, where, model):
    try:
        doc = tomllib.loads(groups_text)
    except tomllib.TOMLDecodeError as e:
        _fail(where + "/" + GROUPS_FILE, f"invalid TOML: {e}")
    fmt = doc.get("format")
    if not isinstance(fmt, int):
        _fail(where + "/" + GROUPS_FILE, "missing integer key 'format'")
    if fmt > FORMAT:
        raise Error(f"{where}/{GROUPS_FILE}: optimizer format {fmt} needs a newer mvc (this one reads format {FORMAT})",
                    3)
    cls = doc.get("class")
    if cls != class_name(opt):
        _fail(where, f"optimizer state of {cls}, not of {class_name(opt)}")
    params = doc.get("params")
    groups = doc.get("param_groups")
    if not isinstance(params, list) or not isinstance(groups, list):
        _fail(where + "/" + GROUPS_FILE, "missing 'params' or [[param_groups]]")
    _check_groups(opt, groups, where)
    mine = [p for g in opt.param_groups for p in g["params"]]
    indices = [i for g in groups for i in g["params"]]
    if sorted(indices) != list(range(len(params))):
        _fail(where + "/" + GROUPS_FILE, "the param groups' 'params' do not index 'params' once each")
    names = None
    if model is not None:
        names = _names(opt, model)
    for i, rec in enumerate(params):
        want = rec.get("name")
        if names is not None and names[i] != want:
            _fail(where, f"parameter {i} is '{want}' in the saved state, '{names[i]}' in the optimizer")
        if list(mine[i].shape) != list(rec.get("shape", [])):
            _fail(where, f"parameter {i} ('{want}') has shape {rec.get('shape')} in the saved state, "
                         f"{list(mine[i].shape)} in the optimizer")
    tensors = _torch_build.read_safetensors(state_path, where + "/" + STATE_FILE)
    state = {}
    for k, t in tensors.items():
        parts = k.split(".", 2)
        if len(parts) != 3 or parts[0] != "state" or not parts[1].isdigit() or int(parts[1]) >= len(params):
            _fail(where + "/" + STATE_FILE, f"tensor '{k}' is not state.<parameter index>.<name>")
        state.setdefault(int(parts[1]), {})[parts[2]] = t
    for idx, kv in (doc.get("state") or {}).items():
        if not idx.isdigit() or int(idx) >= len(params):
            _fail(where + "/" + GROUPS_FILE, f"[state.\"{idx}\"] names no parameter")
        state.setdefault(int(idx), {}).update(kv)
    out_groups = []
    for g, og in zip(groups, opt.param_groups):
        g = dict(g)
        for k in g.pop("none", []):
            g[k] = None
        for k, v in g.items():  # TOML has no tuples: a tuple where the optimizer has one (Adam's betas)
            if isinstance(v, list) and isinstance(og.get(k), tuple):
                g[k] = tuple(v)
        out_groups.append(g)
    return {"state": state, "param_groups": out_groups}


def _tensors(v):
    """A value of _core.checkpoint_entry with its tensors as torch tensors."""
    if isinstance(v, dict):
        if "__mvc_tensor__" in v:
            dtype = _torch_build._ST_DTYPES[v["__mvc_tensor__"]]
            if not v["data"]:
                return torch.empty(v["shape"], dtype=dtype)
            return torch.frombuffer(bytearray(v["data"]), dtype=dtype).reshape(v["shape"])
        return {k: _tensors(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_tensors(x) for x in v]
    if isinstance(v, tuple):
        return tuple(_tensors(x) for x in v)
    return v


def _from_checkpoint(opt, path, key, where):
    """The optimizer entry of a torch.save checkpoint, read by mvc's restricted unpickler (no
    torch.load: torch 1.13's weights_only reader refuses floats)."""
    found = _core.checkpoint_entry(path, list(CHECKPOINT_KEYS), where)
    sd = None
    if found is not None:
        k, sd = found[0], _tensors(found[1])
        if isinstance(sd, list) and len(sd) == 1:  # Lightning's optimizer_states
            sd = sd[0]
    if not (isinstance(sd, dict) and "state" in sd and "param_groups" in sd):
        _fail(where, f"no optimizer state (its checkpoint, committed with [load] key '{key}', has no "
                     f"{' / '.join(CHECKPOINT_KEYS)} entry holding one)")
    _check_groups(opt, sd["param_groups"], f"{where} (checkpoint key '{k}')")
    return sd


def load_optimizer(opt, path, rev=None, model=None):
    if not isinstance(opt, torch.optim.Optimizer):
        raise TypeError(f"opt must be a torch.optim.Optimizer, not {type(opt).__name__}")
    if rev is not None and not isinstance(rev, str):
        raise TypeError(f"rev must be a string or None, not {type(rev).__name__}")
    if not os.fspath(path):
        raise Error("load_optimizer: the path is empty: name a model directory", 2)
    r = _core.resolve_optimizer(os.fspath(path), rev)
    where = r["version"]
    if r["state"]:
        if r["param_groups"] is None:
            _fail(where, f"optimizer state without its {GROUPS_FILE}")
        sd = _from_files(opt, r["state"], r["param_groups"], where, model)
    else:
        sd = _from_checkpoint(opt, r["checkpoint"], r["key"], where)
    try:
        opt.load_state_dict(sd)
    except (ValueError, KeyError, RuntimeError) as e:
        _fail(where, f"the optimizer refuses the saved state: {e}")
    return opt
