"""Builds a torch.nn.Module from the expanded description (schema "mvc.expanded/1",
docs/python.md) with the caller's torch, public API only (torch 1.13 and 2.x). This file maps
layer types to torch.nn and torch functions, nothing more: what a file means (expressions,
blocks, defaults, edges) is decided by mvc's C++ core, once. Mirrors src/model/build/*.cpp.
"""
import json
import os
import re
import struct

import torch
from torch import nn
import torch.nn.functional as F

from ._errors import Error

SCHEMA = "mvc.expanded/1"

# --- module types: built with torch.nn.<Type>(**options) ---------------------------------------
# How a module's forward is called and its result turned into the list of its outputs.


def _single(m, ins):
    return [m(ins[0])]


def _two(m, ins):
    return [m(ins[0], ins[1])]


def _lstm(m, ins):
    out, (h, c) = m(ins[0])
    return [out, h, c]


def _gru(m, ins):
    out, h = m(ins[0])
    return [out, h]


def _attention(m, ins):
    out, weights = m(ins[0], ins[1], ins[2])
    return [out, weights]


def _kwargs(layer, drop=()):
    """The layer's options as constructor keywords: lists as tuples; `inplace` dropped (the
    result is the same, and an in-place first layer would overwrite the caller's input)."""
    kw = {}
    for k, v in layer["options"].items():
        if k == "inplace" or k in drop:
            continue
        kw[k] = tuple(v) if isinstance(v, list) else v
    return kw


def _generic(layer):
    return getattr(nn, layer["type"])(**_kwargs(layer))


def _maxpool(layer):
    if layer["options"].get("return_indices"):
        raise Error(f"{layer['source']}: layer '{layer['name']}' (MaxPool2d): option 'return_indices' = true "
                    "is not supported (the layer would return a tuple)", 7)
    return nn.MaxPool2d(**_kwargs(layer))


def _upsample(layer):
    kw = _kwargs(layer)
    size = kw.get("size")
    if isinstance(size, tuple) and len(size) == 1:
        kw["size"] = size[0]  # one size for every spatial dimension, as the C++ builder reads it
    if kw.get("size") is None and kw.get("scale_factor") is None:
        kw["scale_factor"] = 1.0
    return nn.Upsample(**kw)


class _StochasticDepth(nn.Module):
    """torchvision.ops.StochasticDepth without torchvision: the identity in eval mode (where a
    loaded model runs); in training, drops rows ("row") or the whole batch ("batch") with
    probability p, as torchvision.ops.stochastic_depth does."""

    def __init__(self, p, mode):
        super().__init__()
        self.p, self.mode = p, mode

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        shape = [x.shape[0]] + [1] * (x.ndim - 1) if self.mode == "row" else [1] * x.ndim
        keep = 1.0 - self.p
        noise = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(keep)
        if keep > 0.0:
            noise.div_(keep)
        return x * noise


class _LayerNorm2d(nn.LayerNorm):
    """torchvision.models.convnext.LayerNorm2d: nn.LayerNorm over the channels of (N, C, H, W)."""

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


def _stochastic_depth(layer):
    o = layer["options"]
    return _StochasticDepth(o["p"], o["mode"])


def _layernorm2d(layer):
    return _LayerNorm2d(**_kwargs(layer))


_MODULE_CALLS = {"Bilinear": _two, "LSTM": _lstm, "GRU": _gru, "MultiheadAttention": _attention}
_MODULE_MAKERS = {"MaxPool2d": _maxpool, "Upsample": _upsample, "StochasticDepth": _stochastic_depth,
                  "LayerNorm2d": _layernorm2d}
# Free tensors: registered under the layer's own name; the node's output is the tensor.
TENSOR_TYPES = {"Parameter", "Buffer"}
MODULE_TYPES = {
    "Linear", "Bilinear", "Embedding", "Identity",
    "Conv1d", "Conv2d", "ConvTranspose2d",
    "BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm",
    "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "Upsample",
    "LSTM", "GRU", "MultiheadAttention",
    "Dropout", "ReLU", "ReLU6", "SiLU", "Hardswish", "LeakyReLU", "GELU", "Softmax", "Tanh", "Sigmoid",
    "Flatten", "Hardsigmoid", "StochasticDepth", "LayerNorm2d",
}

# --- operations: functions of (inputs, options) → list of outputs -------------------------------


def _reduce(f):
    def op(ins, o):
        r = f(ins[0], ins[1])
        for t in ins[2:]:
            r = f(r, t)
        return [r]
    return op


def _chunk(layer):
    n, d = layer["options"]["chunks"], layer["options"]["dim"]

    def op(ins):
        r = torch.chunk(ins[0], n, d)
        if len(r) != n:
            raise Error(f"{layer['source']}: layer '{layer['name']}' (chunk): an input of shape "
                        f"{list(ins[0].shape)} gives {len(r)} chunks, not {n}", 7)
        return list(r)
    return op


def _split(ins, o):
    s = o["split_size_or_sections"]
    return list(torch.split(ins[0], list(s) if isinstance(s, list) else [s], o["dim"]))


def _reduction(f):
    def op(ins, o):
        x, d, keep = ins[0], o["dim"], o["keepdim"]
        if d is None:
            return [f(x, dim=tuple(range(x.dim())), keepdim=True) if keep else f(x)]
        return [f(x, dim=tuple(d) if isinstance(d, list) else d, keepdim=keep)]
    return op


def _slice(ins, o):
    x = ins[0]
    d = o["dim"] % max(x.dim(), 1)
    end = o["end"] if o["end"] is None else _sizes([o["end"]], ins)[0]  # "in1.size(1)": a size of input 1
    return [x[(slice(None),) * d + (slice(o["start"], end, o["step"]),)]]


def _max_pool2d(ins, o):
    return [F.max_pool2d(ins[0], _t(o["kernel_size"]), _t(o["stride"]), _t(o["padding"]), _t(o["dilation"]),
                         ceil_mode=o["ceil_mode"])]


def _avg_pool2d(ins, o):
    return [F.avg_pool2d(ins[0], _t(o["kernel_size"]), _t(o["stride"]), _t(o["padding"]), o["ceil_mode"],
                         o["count_include_pad"], o["divisor_override"])]


def _t(v):
    return tuple(v) if isinstance(v, list) else v


_SIZE_REF = re.compile(r"^in([0-9]+)\.size\((-?[0-9]+)\)$")


def _sizes(v, ins):
    """A `sizes` option's values, entries "in<k>.size(<d>)" read from the inputs."""
    out = []
    for e in ([v] if isinstance(v, int) else v):
        if isinstance(e, str):
            m = _SIZE_REF.match(e)
            out.append(ins[int(m.group(1))].size(int(m.group(2))))
        else:
            out.append(e)
    return out


def _num(v):
    """A number of the description: infinities and NaN come as the strings "inf", "-inf", "nan"."""
    return float(v) if isinstance(v, str) else v


def _scalar_op(f, reflected):
    """A binary op: tensors, or a tensor and the number `scalar` (on the left with scalar_first,
    computed as Python's reflected operator)."""
    def op(ins, o):
        s = _num(o.get("scalar"))
        if s is not None:
            return [reflected(ins[0], s) if o.get("scalar_first") else f(ins[0], s)]
        r = f(ins[0], ins[1])
        for t in ins[2:]:
            r = f(r, t)
        return [r]
    return op


def _unflatten(ins, o):
    x = ins[0]
    d = o["dim"] % x.dim()
    s = _sizes(o["sizes"], ins)
    if -1 in s:
        known = 1
        for v in s:
            if v != -1:
                known *= v
        s[s.index(-1)] = x.size(d) // known if known else 0
    return [x.reshape(list(x.shape[:d]) + s + list(x.shape[d + 1:]))]


def _interpolate(ins, o):
    x = ins[0]
    kw = {"mode": o["mode"]}
    if o.get("align_corners") is not None:
        kw["align_corners"] = o["align_corners"]
    if o.get("size") is not None:
        s = _sizes(o["size"], ins)
        kw["size"] = s[0] if len(s) == 1 else tuple(s)
    else:
        kw["scale_factor"] = o["scale_factor"]
    return [F.interpolate(x, **kw)]


def _pad(ins, o):
    p = o["pad"]
    p = [p] if isinstance(p, int) else p
    if o["mode"] == "constant":
        return [F.pad(ins[0], p, mode="constant", value=_num(o["value"]))]
    return [F.pad(ins[0], p, mode=o["mode"])]


_OPS = {
    "add": _scalar_op(lambda a, b: a + b, lambda x, s: s + x),
    "mul": _scalar_op(lambda a, b: a * b, lambda x, s: s * x),
    "sub": _scalar_op(lambda a, b: a - b, lambda x, s: s - x),
    "div": _scalar_op(lambda a, b: a / b, lambda x, s: s / x),
    "eq": _scalar_op(torch.eq, lambda x, s: s == x),
    "ne": _scalar_op(torch.ne, lambda x, s: s != x),
    "lt": _scalar_op(torch.lt, lambda x, s: s < x),
    "le": _scalar_op(torch.le, lambda x, s: s <= x),
    "gt": _scalar_op(torch.gt, lambda x, s: s > x),
    "ge": _scalar_op(torch.ge, lambda x, s: s >= x),
    "masked_fill": lambda ins, o: [ins[0].masked_fill(ins[1], _num(o["value"]))],
    "expand": lambda ins, o: [ins[0].expand(_sizes(o["size"], ins))],
    "unflatten": _unflatten,
    "pad": _pad,
    "interpolate": _interpolate,
    "hardsigmoid": lambda ins, o: [F.hardsigmoid(ins[0])],
    "matmul": lambda ins, o: [torch.matmul(ins[0], ins[1])],
    "cat": lambda ins, o: [torch.cat(ins, o["dim"])],
    "stack": lambda ins, o: [torch.stack(ins, o["dim"])],
    "flatten": lambda ins, o: [torch.flatten(ins[0], o["start_dim"], o["end_dim"])],
    "reshape": lambda ins, o: [ins[0].reshape(_sizes(o["shape"], ins))],
    "view": lambda ins, o: [ins[0].view(_sizes(o["shape"], ins))],
    "permute": lambda ins, o: [ins[0].permute(_shape(o["dims"]))],
    "transpose": lambda ins, o: [ins[0].transpose(o["dim0"], o["dim1"])],
    "contiguous": lambda ins, o: [ins[0].contiguous()],
    "split": _split,
    "mean": _reduction(torch.mean),
    "sum": _reduction(torch.sum),
    "select": lambda ins, o: [ins[0].select(o["dim"], o["index"])],
    "slice": _slice,
    "unsqueeze": lambda ins, o: [ins[0].unsqueeze(o["dim"])],
    "squeeze": lambda ins, o: [ins[0].squeeze() if o["dim"] is None else ins[0].squeeze(o["dim"])],
    "arange": lambda ins, o: [torch.arange(ins[0].size(o["dim"]), dtype=torch.long, device=ins[0].device)],
    "softmax": lambda ins, o: [torch.softmax(ins[0], o["dim"])],
    "log_softmax": lambda ins, o: [torch.log_softmax(ins[0], o["dim"])],
    "relu": lambda ins, o: [torch.relu(ins[0])],
    "relu6": lambda ins, o: [F.hardtanh(ins[0], 0.0, 6.0)],
    "gelu": lambda ins, o: [F.gelu(ins[0], approximate=o["approximate"])],
    "silu": lambda ins, o: [F.silu(ins[0])],
    "sigmoid": lambda ins, o: [torch.sigmoid(ins[0])],
    "tanh": lambda ins, o: [torch.tanh(ins[0])],
    "hardswish": lambda ins, o: [F.hardswish(ins[0])],
    "leaky_relu": lambda ins, o: [F.leaky_relu(ins[0], o["negative_slope"])],
    "max_pool2d": _max_pool2d,
    "avg_pool2d": _avg_pool2d,
    "adaptive_avg_pool2d": lambda ins, o: [F.adaptive_avg_pool2d(ins[0], _t(o["output_size"]))],
}
_OP_MAKERS = {"chunk": _chunk}
OP_TYPES = set(_OPS) | set(_OP_MAKERS)


def _shape(v):
    return (v,) if isinstance(v, int) else tuple(v)


def covered_types():
    """The layer types this builder maps, sorted."""
    return sorted(MODULE_TYPES | OP_TYPES | TENSOR_TYPES)


# --- the module ------------------------------------------------------------------------------

_DTYPES = {
    "float64": torch.float64, "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
    "int64": torch.int64, "int32": torch.int32, "int16": torch.int16, "int8": torch.int8, "uint8": torch.uint8,
    "bool": torch.bool, "complex64": torch.complex64,
}


class ArchModule(nn.Module):
    """A model rebuilt from its expanded description: the layers' modules registered under
    their names (dotted paths become nested containers, as in the original), so state_dict()
    keys are the original's; forward runs the layers in the order written along the graph's
    edges and returns the declared output (a tuple when several are declared)."""

    def __init__(self, desc):
        super().__init__()
        self.arch_name = desc.get("name", "")
        self.input_names = [i["name"] for i in desc["inputs"]]
        self.output_names = [o["name"] for o in desc["outputs"]]
        self._graph = []  # (name, call, [(value index, output index)])
        names = {}  # value name → value index (inputs first, then layers)
        for i, n in enumerate(self.input_names):
            names[n] = i
        n_in = len(self.input_names)
        calls = {}  # module layer → its call, for a later layer that `shares` it (mvc.arch/2)
        for layer in desc["layers"]:
            run = layer.get("run", True)
            ins = [self._lookup(names, r, layer) for r in layer["inputs"]]
            if not ins and run and layer["type"] not in TENSOR_TYPES:
                raise Error(f"{layer['source']}: layer '{layer['name']}' ({layer['type']}): the architecture "
                            "declares no input", 7)
            if layer.get("shares"):
                if layer["shares"] not in calls:
                    raise Error(f"{layer['source']}: layer '{layer['name']}': shares '{layer['shares']}', which is "
                                "not an earlier module layer", 7)
                call = calls[layer["shares"]]
            else:
                call = self._make(layer)
                if layer["module"]:
                    calls[layer["name"]] = call
            if not run:
                continue  # registered by _make, never run (googlenet's aux heads)
            self._graph.append((layer["name"], call, ins))
            names[layer["name"]] = n_in + len(self._graph) - 1
        self._names = names
        self._outputs = [self._lookup(names, o["ref"], None) for o in desc["outputs"]]
        # Tied weights (mvc.arch/2 `ties`): the key's module attribute becomes the source's tensor,
        # so both keys are in state_dict() and share one tensor, as in the original.
        self.ties = [(t["key"], t["source"]) for t in desc.get("ties", [])]
        for key, source in self.ties:
            owner, _, leaf = key.rpartition(".")
            src_owner, _, src_leaf = source.rpartition(".")
            setattr(self.get_submodule(owner) if owner else self, leaf,
                    getattr(self.get_submodule(src_owner) if src_owner else self, src_leaf))

    @staticmethod
    def _lookup(names, ref, layer):
        if ref in names:
            return names[ref], 0
        base, _, rest = ref.partition("[")
        if rest.endswith("]") and base in names and rest[:-1].isdigit():
            return names[base], int(rest[:-1])
        where = f"{layer['source']}: layer '{layer['name']}'" if layer else "outputs"
        raise Error(f"{where}: input '{ref}' is neither a declared input nor an earlier layer", 7)

    def _register_path(self, path, module):
        parent = self
        parts = path.split(".")
        for seg in parts[:-1]:
            child = parent._modules.get(seg)
            if child is None:
                child = nn.Module()
                parent.add_module(seg, child)
            parent = child
        parent.add_module(parts[-1], module)

    def _register_tensor(self, layer):
        """A Parameter or Buffer under the layer's own name, on the container of its parent path
        (created as for modules); returns the call that gives the registered tensor."""
        parent = self
        parts = layer["name"].split(".")
        for seg in parts[:-1]:
            child = parent._modules.get(seg)
            if child is None:
                child = nn.Module()
                parent.add_module(seg, child)
            parent = child
        leaf = parts[-1]
        shape = layer["options"]["shape"]
        shape = [shape] if isinstance(shape, int) else shape
        if layer["type"] == "Parameter":
            parent.register_parameter(leaf, nn.Parameter(torch.zeros(shape)))
        else:
            dtype = layer["options"].get("dtype")
            parent.register_buffer(leaf, torch.zeros(shape, dtype=_DTYPES[dtype] if dtype else None))
        return lambda ins, parent=parent, leaf=leaf: [getattr(parent, leaf)]

    def _make(self, layer):
        t = layer["type"]
        if t in TENSOR_TYPES:
            return self._register_tensor(layer)
        if layer["module"]:
            if t not in MODULE_TYPES:
                raise Error(f"{layer['source']}: layer '{layer['name']}': type '{t}' is not mapped to torch.nn "
                            f"by this mvc package (mapped: {', '.join(covered_types())})", 7)
            make = _MODULE_MAKERS.get(t, _generic)
            try:
                m = make(layer)
            except (TypeError, ValueError, RuntimeError) as e:
                raise Error(f"{layer['source']}: layer '{layer['name']}' ({t}): {e}", 7) from None
            self._register_path(layer["name"], m)
            call = _MODULE_CALLS.get(t, _single)
            return lambda ins, m=m, call=call: call(m, ins)
        if t in _OP_MAKERS:
            return _OP_MAKERS[t](layer)
        if t not in _OPS:
            raise Error(f"{layer['source']}: layer '{layer['name']}': operation '{t}' is not mapped to torch "
                        f"by this mvc package (mapped: {', '.join(covered_types())})", 7)
        f, o = _OPS[t], layer["options"]
        return lambda ins, f=f, o=o: f(ins, o)

    def forward(self, *inputs):
        if len(inputs) != len(self.input_names):
            raise TypeError(f"forward takes {len(self.input_names)} input(s) "
                            f"({', '.join(self.input_names)}), got {len(inputs)}")
        values = [[x] for x in inputs]
        for name, call, ins in self._graph:
            values.append(call([values[i][j] for i, j in ins]))
        outs = tuple(values[i][j] for i, j in self._outputs)
        return outs[0] if len(outs) == 1 else outs


class NoInit:
    """Module constructors skip their random initialisation (torch.nn.init's functions do
    nothing): the rebuilt module's tensors are all replaced by a strict load_state_dict."""
    NAMES = ("uniform_", "normal_", "constant_", "ones_", "zeros_", "kaiming_uniform_", "kaiming_normal_",
             "xavier_uniform_", "xavier_normal_", "trunc_normal_", "orthogonal_")

    def __enter__(self):
        self.saved = {n: getattr(torch.nn.init, n) for n in self.NAMES}
        for n in self.NAMES:
            setattr(torch.nn.init, n, lambda t, *a, **k: t)

    def __exit__(self, *exc):
        for n, f in self.saved.items():
            setattr(torch.nn.init, n, f)


def build(desc):
    """An ArchModule (train mode, random initialisation) from an expanded description."""
    if desc.get("schema") != SCHEMA:
        raise Error(f"expanded description: schema {desc.get('schema')!r} is not {SCHEMA!r} "
                    "(the compiled part and the Python files of mvc are from different versions)", 1)
    m = ArchModule(desc)
    dtype = _DTYPES.get(desc.get("dtype", "float32"))
    if dtype is None or not dtype.is_floating_point:
        raise Error(f"arch.toml: dtype '{desc.get('dtype')}' is not a floating-point type", 7)
    if dtype != torch.float32:
        m.to(dtype)  # floating-point tensors only, as the C++ builder does
    return m


# --- weights -----------------------------------------------------------------------------------

_ST_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool, "C64": torch.complex64,
}


def read_safetensors(path, name):
    """{tensor name: tensor} of a safetensors file (github.com/huggingface/safetensors, "Format"),
    without the safetensors package: one read of the file, tensors viewing its bytes."""
    with open(path, "rb") as f:  # into one buffer (bytearray(f.read()) would hold the bytes twice)
        data = bytearray(os.fstat(f.fileno()).st_size)
        f.readinto(data)
    def bad(why):
        return Error(f"{name}: not a safetensors file ({why})", 7)
    if len(data) < 8:
        raise bad("shorter than 8 bytes")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise bad("header size beyond the end of the file")
    try:
        header = json.loads(bytes(data[8:8 + n]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise bad(f"header: {e}") from None
    start = 8 + n
    out = {}
    for key, e in header.items():
        if key == "__metadata__":
            continue
        dtype = _ST_DTYPES.get(e.get("dtype"))
        if dtype is None:
            raise bad(f"tensor '{key}': dtype {e.get('dtype')!r}")
        begin, end = e["data_offsets"]
        shape = e["shape"]
        if begin == end:
            out[key] = torch.empty(shape, dtype=dtype)
            continue
        if start + end > len(data):
            raise bad(f"tensor '{key}': data beyond the end of the file")
        size = torch.empty((), dtype=dtype).element_size()
        if (end - begin) % size:
            raise bad(f"tensor '{key}': {end - begin} bytes is not a whole number of {e['dtype']}")
        t = torch.frombuffer(data, dtype=dtype, count=(end - begin) // size, offset=start + begin)
        out[key] = t.reshape(shape)
    return out


def load_state(module, state, desc, weights_name, version, cast):
    """Loads `state` strictly: the keys must be exactly the description's (same message shape as
    the C++ side: missing and unexpected keys listed), shapes equal, dtypes as declared (after
    the pointer's cast)."""
    want = {e["key"]: e for e in desc["state_dict"]}
    missing = [k for k in want if k not in state]
    unexpected = [k for k in state if k not in want]
    if missing or unexpected:
        msg = f"{weights_name} ({version}): the weights do not fit arch.toml"
        if missing:
            msg += f"; missing: {', '.join(missing[:10])}" + (" ..." if len(missing) > 10 else "")
        if unexpected:
            msg += f"; unexpected: {', '.join(unexpected[:10])}" + (" ..." if len(unexpected) > 10 else "")
        raise Error(msg, 7)
    cast_to = _DTYPES.get(cast) if cast else None
    for k, e in want.items():
        t = state[k]
        if cast_to is not None and t.is_floating_point():
            t = state[k] = t.to(cast_to)
        if list(t.shape) != e["shape"]:
            raise Error(f"{weights_name} ({version}): tensor '{k}' has shape {list(t.shape)}, "
                        f"arch.toml expects {e['shape']}", 7)
        if t.dtype != _DTYPES[e["dtype"]]:
            raise Error(f"{weights_name} ({version}): tensor '{k}' is {str(t.dtype).replace('torch.', '')}, "
                        f"arch.toml expects {e['dtype']}", 7)
    for key, source in getattr(module, "ties", []):
        state[key] = state[source]  # one tensor in the file, two keys in the module
    # The module's tensors take the file's memory (views of the buffer read_safetensors filled)
    # before the strict load, which then copies each onto itself: the weights are in memory once.
    own = module.state_dict(keep_vars=True)
    with torch.no_grad():
        for k, t in state.items():
            mine = own.get(k)
            if mine is not None and mine.dtype == t.dtype and mine.shape == t.shape and mine.device == t.device:
                mine.data = t
        module.load_state_dict(state, strict=True)
