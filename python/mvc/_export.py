"""mvc.save, step 2: a traced fx graph → a flat list of arch.toml layers.

Two tables say what the vocabulary (docs/architecture.md) covers: MODULES maps torch classes
to layer types (every module type _torch_build maps whose class torch.nn, or _OTHER_CLASSES,
has; options read from the module's attributes under the constructor's names, those at
PyTorch's default left out) and OPS maps torch functions and Tensor methods to operations,
each with a stub of the Python signature that turns the call's arguments into the operation's
inputs and options. A new type is one line in one of them. Everything the graph uses that the
tables lack is collected and refused at once, with its module path and source line.
"""
import copy
import inspect
import operator

import torch
from torch import nn
import torch.nn.functional as F
import torch.fx as fx

from ._errors import Error
from ._trace import VALUE, SCOPE, node_line, _Apply

# --- modules ---------------------------------------------------------------------------------

_RNN = [("input_size", None), ("hidden_size", None), ("num_layers", 1), ("bias", True), ("batch_first", False),
        ("dropout", 0.0), ("bidirectional", False)]
# type name → explicit (option, default) list where the constructor's signature does not say.
_OPTION_LISTS = {
    "LSTM": _RNN + [("proj_size", 0)],
    "GRU": _RNN,
    "Identity": [],
}
_REQUIRED = inspect.Parameter.empty

# Module classes outside torch.nn, by layer type: (module, class), imported when present.
_OTHER_CLASSES = {
    "StochasticDepth": ("torchvision.ops", "StochasticDepth"),
    "LayerNorm2d": ("torchvision.models.convnext", "LayerNorm2d"),
}


def _module_classes():
    """torch class → layer type, for every module type the builder maps (_torch_build.MODULE_TYPES:
    a type added to the vocabulary is exported with no change here when torch.nn has the class)."""
    import importlib
    from . import _torch_build

    out = {}
    for t in sorted(_torch_build.MODULE_TYPES):
        cls = getattr(nn, t, None)
        if cls is None and t in _OTHER_CLASSES:
            mod, name = _OTHER_CLASSES[t]
            try:
                cls = getattr(importlib.import_module(mod), name, None)
            except ImportError:
                cls = None
        if cls is not None:
            out[cls] = t
    return out


MODULES = _module_classes()

# A stateless module called a second time becomes this operation (options: the module's).
_MODULE_AS_OP = {"ReLU": "relu", "Hardsigmoid": "hardsigmoid", "ReLU6": "relu6", "SiLU": "silu", "Hardswish": "hardswish", "GELU": "gelu",
                 "LeakyReLU": "leaky_relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "MaxPool2d": "max_pool2d",
                 "AdaptiveAvgPool2d": "adaptive_avg_pool2d", "Flatten": "flatten"}
# Module types with several outputs: how Python nests them.
_MODULE_OUTPUTS = {"LSTM": lambda n: (Ref(f"{n}[0]"), (Ref(f"{n}[1]"), Ref(f"{n}[2]"))),
                   "GRU": lambda n: (Ref(f"{n}[0]"), Ref(f"{n}[1]")),
                   "MultiheadAttention": lambda n: (Ref(f"{n}[0]"), Ref(f"{n}[1]"))}


def _norm(v, default):
    """An option value as TOML writes it: tuples as lists, (3, 3) as 3 where PyTorch's default
    is a number."""
    if isinstance(v, torch.Size):
        v = tuple(v)
    if isinstance(v, (tuple, list)):
        v = [_norm(x, None) for x in v]
        if v and all(x == v[0] for x in v) and not isinstance(default, (tuple, list)) and \
                not isinstance(v[0], (list, str)):
            return v[0]
        return v
    return v


def _same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        try:
            return float(a) == float(b)
        except (TypeError, ValueError):
            return False
    return a == b and type(a) is type(b) or (isinstance(a, bool) is isinstance(b, bool) and a == b)


def module_options(m, t, omitted=None, order=None):
    """The constructor options of module `m` (layer type `t`) that differ from PyTorch's
    defaults, in the constructor's order; `omitted` (a dict) receives those left out with their
    values (for folding blocks whose instances differ there)."""
    if t in _OPTION_LISTS:
        spec = _OPTION_LISTS[t]
    else:
        spec = [(p.name, p.default) for p in inspect.signature(type(m).__init__).parameters.values()
                if p.name not in ("self", "device", "dtype") and not p.name.startswith("_")
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    out = {}
    for name, default in spec:
        if name == "inplace":
            continue  # the rebuilt module computes the same without it
        if order is not None:
            order.append(name)
        if name == "bias" and t == "MultiheadAttention":
            v = m.in_proj_bias is not None
        elif name == "add_bias_kv":
            v = m.bias_k is not None
        elif name == "bias" and not isinstance(getattr(m, "bias", None), bool):
            v = getattr(m, "bias", None) is not None
        elif name in ("kdim", "vdim"):
            v = getattr(m, name)
            if v == m.embed_dim:
                continue
        else:
            v = getattr(m, name)
        v = _norm(v, default)
        if name == "stride" and t in ("MaxPool2d", "AvgPool2d") and v == _norm(m.kernel_size, None):
            continue  # PyTorch's default stride is the kernel size
        if name == "normalized_shape" and isinstance(v, list) and len(v) == 1:
            v = v[0]
        if v is None:
            continue  # None has no TOML spelling: absent means None
        if default is not _REQUIRED and default is not None and _same(v, _norm(default, default)):
            if omitted is not None:
                omitted[name] = v
            continue
        out[name] = v
    return out


# --- operations ------------------------------------------------------------------------------
# Each stub takes the call's arguments as Python passes them (tensors as Ref) and returns
# (inputs, options) or raises Unsupported.


class Unsupported(Exception):
    pass


class Ref(str):
    """A tensor value of the arch graph: the reference a layer's `inputs` write."""


class Const:
    """A non-tensor value computed from sizes: its number, and where it came from
    (`size_of`: (Ref, dim) for x.size(dim); `dynamic`: it varies with a symbolic dimension)."""

    def __init__(self, value, size_of=None, dynamic=False, shape_of=None):
        self.value, self.size_of, self.dynamic = value, size_of, dynamic
        # (Ref, [dims]): x.shape, x.size() or a slice of them (x.shape[-2:]): those sizes of x
        self.shape_of = shape_of


def _size_input(ins, src):
    """k of "in<k>.size(<d>)" for tensor `src`: a further input (k >= 1, as the language reads
    sizes), appended to `ins` when it is not one yet (the tensor operated on is added again:
    x.view(x.size(0), ...) reads in1, which is x)."""
    if src not in ins[1:]:
        ins.append(src)
    return ins.index(src, 1)


def _tensors(*xs):
    for x in xs:
        if not isinstance(x, Ref):
            raise Unsupported("a scalar operand (" + repr(x) + ")")
    return list(xs)


def _number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _operands(a, b):
    """Two tensors, or one tensor and a number (`scalar`, `scalar_first` when it is on the left:
    `1 - x`), as docs/architecture.md's add/sub/mul/div take them (mvc.arch/2)."""
    if isinstance(a, Ref) and _number(b):
        return [a], {"scalar": b}
    if _number(a) and isinstance(b, Ref):
        return [b], {"scalar": a, "scalar_first": True}
    return _tensors(a, b), {}


def _binary(input, other, alpha=1, out=None):
    if alpha != 1:
        raise Unsupported("alpha")
    return _operands(input, other)


def _div(input, other, rounding_mode=None):
    if rounding_mode is not None:
        raise Unsupported(f"rounding_mode={rounding_mode!r}")
    return _operands(input, other)


def _varargs(name):
    """x.reshape(2, 3) and x.reshape((2, 3)) alike."""
    def stub(input, *shape):
        if len(shape) == 1 and isinstance(shape[0], (list, tuple)):
            shape = shape[0]
        return [input], {name: list(shape)}
    return stub


def _unary(input, inplace=False):
    return [input], {}


def _reduction(input, dim=None, keepdim=False, dtype=None):
    if dtype is not None:
        raise Unsupported("dtype")
    o = {}
    if dim is not None:
        o["dim"] = list(dim) if isinstance(dim, (list, tuple)) else dim
    if keepdim:
        o["keepdim"] = True
    return [input], o


def _softmax(input, dim=None, _stacklevel=3, dtype=None):
    if dtype is not None or dim is None:
        raise Unsupported("dtype or no dim")
    return [input], {"dim": dim}


def _max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    if return_indices:
        raise Unsupported("return_indices")
    o = {"kernel_size": _norm(kernel_size, 0)}
    if stride not in (None, [], ()) and _norm(stride, 0) != o["kernel_size"]:
        o["stride"] = _norm(stride, 0)
    if _norm(padding, 0) != 0:
        o["padding"] = _norm(padding, 0)
    if _norm(dilation, 0) != 1:
        o["dilation"] = _norm(dilation, 0)
    if ceil_mode:
        o["ceil_mode"] = True
    return [input], o


def _avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                divisor_override=None):
    o = {"kernel_size": _norm(kernel_size, 0)}
    if stride not in (None, [], ()) and _norm(stride, 0) != o["kernel_size"]:
        o["stride"] = _norm(stride, 0)
    if _norm(padding, 0) != 0:
        o["padding"] = _norm(padding, 0)
    if ceil_mode:
        o["ceil_mode"] = True
    if not count_include_pad:
        o["count_include_pad"] = False
    if divisor_override is not None:
        o["divisor_override"] = divisor_override
    return [input], o


def _opts(**defaults):
    """A stub for `f(input, <options with these defaults>)`: options at their default left out."""
    names = list(defaults)

    def stub(input, *args, **kwargs):
        o = dict(zip(names, args))
        o.update(kwargs)
        o.pop("inplace", None)
        out = {}
        for k in names:
            if k in o and k != "inplace":
                v = _norm(o[k], defaults[k])
                if defaults[k] is _REQUIRED or not _same(v, defaults[k]):
                    out[k] = v
        for k in o:
            if k not in names:
                raise Unsupported(f"argument {k}")
        return [input], out
    return stub


def _masked_fill(input, mask, value):
    if not _number(value) and not isinstance(value, bool):
        raise Unsupported("a tensor as the fill value")
    return _tensors(input, mask), {"value": float(value)}


def _pad(input, pad, mode="constant", value=None):
    o = {"pad": [int(p) for p in pad]}
    if mode != "constant":
        o["mode"] = mode
    if value not in (None, 0, 0.0):
        o["value"] = float(value)
    return [input], o


_R = _REQUIRED
# (vocabulary operation, [torch functions and Tensor method names], stub)
_OP_TABLE = [
    ("add", [operator.add, operator.iadd, torch.add, "add", "add_"], _binary),
    ("sub", [operator.sub, operator.isub, torch.sub, "sub", "sub_"], _binary),
    ("mul", [operator.mul, operator.imul, torch.mul, "mul", "mul_"], _binary),
    ("div", [operator.truediv, operator.itruediv, torch.div, "div", "div_"], _div),
    ("matmul", [operator.matmul, torch.matmul, "matmul", torch.bmm, "bmm"], lambda a, b: (_tensors(a, b), {})),
    ("cat", [torch.cat, torch.concat], lambda tensors, dim=0: (_tensors(*tensors), {"dim": dim} if dim else {})),
    ("stack", [torch.stack], lambda tensors, dim=0: (_tensors(*tensors), {"dim": dim} if dim else {})),
    ("flatten", [torch.flatten, "flatten"], _opts(start_dim=0, end_dim=-1)),
    ("reshape", [torch.reshape, "reshape"], _varargs("shape")),
    ("view", ["view"], _varargs("shape")),
    ("permute", [torch.permute, "permute"], _varargs("dims")),
    ("transpose", [torch.transpose, "transpose"], _opts(dim0=_R, dim1=_R)),
    ("contiguous", ["contiguous"], lambda input, memory_format=None: ([input], {})),
    ("chunk", [torch.chunk, "chunk"], _opts(chunks=_R, dim=0)),
    ("split", [torch.split, "split"], _opts(split_size_or_sections=_R, dim=0)),
    ("mean", [torch.mean, "mean"], _reduction),
    ("sum", [torch.sum, "sum"], _reduction),
    ("unsqueeze", [torch.unsqueeze, "unsqueeze"], _opts(dim=_R)),
    ("squeeze", [torch.squeeze, "squeeze"], _opts(dim=None)),
    ("softmax", [torch.softmax, F.softmax, "softmax"], _softmax),
    ("log_softmax", [torch.log_softmax, F.log_softmax, "log_softmax"], _softmax),
    ("relu", [torch.relu, F.relu, "relu", "relu_", torch.relu_], _unary),
    ("relu6", [F.relu6], _unary),
    ("gelu", [F.gelu], _opts(approximate="none")),
    ("silu", [F.silu], _unary),
    ("sigmoid", [torch.sigmoid, "sigmoid"], _unary),
    ("tanh", [torch.tanh, "tanh"], _unary),
    ("hardswish", [F.hardswish], _unary),
    ("leaky_relu", [F.leaky_relu], _opts(negative_slope=0.01, inplace=False)),
    ("max_pool2d", [F.max_pool2d, torch.max_pool2d], _max_pool2d),
    ("avg_pool2d", [F.avg_pool2d], _avg_pool2d),
    ("adaptive_avg_pool2d", [F.adaptive_avg_pool2d], _opts(output_size=_R)),
    ("eq", [operator.eq, torch.eq, "eq"], lambda a, b: _operands(a, b)),
    ("ne", [operator.ne, torch.ne, "ne"], lambda a, b: _operands(a, b)),
    ("lt", [operator.lt, torch.lt, "lt"], lambda a, b: _operands(a, b)),
    ("le", [operator.le, torch.le, "le"], lambda a, b: _operands(a, b)),
    ("gt", [operator.gt, torch.gt, "gt"], lambda a, b: _operands(a, b)),
    ("ge", [operator.ge, torch.ge, "ge"], lambda a, b: _operands(a, b)),
    ("masked_fill", [torch.masked_fill, "masked_fill"], _masked_fill),
    ("pad", [F.pad], _pad),
]
OPS = {}
for _name, _targets, _stub in _OP_TABLE:
    for _t in _targets:
        OPS[_t] = (_name, _stub)

# Calls that are the identity in eval mode.
_IDENTITY = {F.dropout, torch.dropout, "detach", F.dropout2d}


def _target_name(node):
    t = node.target
    if node.op == "get_attr":
        return f"the parameter or buffer '{t}' used outside a module call (free parameters)"
    if t is getattr and len(node.args) > 1:
        return f"Tensor.{node.args[1]}"
    if isinstance(t, str):
        return t if node.op != "call_method" else f"Tensor.{t}"
    if isinstance(t, _Apply):
        return f"custom autograd Function {t.cls.__module__}.{t.cls.__qualname__}"
    mod = getattr(t, "__module__", None) or ""
    name = getattr(t, "__name__", repr(t))
    if mod.startswith("torch.nn.functional") or mod == "torch._C._nn":
        return f"F.{name}"
    for sub in ("fft", "linalg", "special"):  # torch._C._fft.fft_rfft is torch.fft.rfft
        if mod == f"torch._C._{sub}":
            return f"torch.{sub}.{name[len(sub) + 1:] if name.startswith(sub + '_') else name}"
    if mod == "_operator":
        return f"operator.{name}"
    return f"{mod}.{name}" if mod else name


# --- the pass --------------------------------------------------------------------------------


class Layer:
    def __init__(self, name, type_, inputs, options, scope, node=None, n_outputs=1):
        self.name, self.type, self.inputs, self.options = name, type_, list(inputs), dict(options)
        self.scope, self.node, self.n_outputs = scope, node, n_outputs
        self.when = None
        self.repeat = None
        self.defaults = {}  # options left out at their default: their values
        self.write_inputs = None  # None: when they are not the previous layer
        self.run = True  # mvc.arch/2 run = false: registered, never run (googlenet's aux heads)
        self.shares = None  # mvc.arch/2 shares = "<layer>": a call of that layer's module

    def __repr__(self):
        return f"Layer({self.name}, {self.type}, {self.inputs}, {self.options})"


class Exporter:
    """Walks the graph once, emitting layers; collects what it cannot map."""

    def __init__(self, root, graph, input_names, probe_values=None):
        self.root, self.graph, self.input_names = root, graph, input_names
        self.probe = probe_values or {}
        self.layers = []
        # operations never take a module's name, even one called later
        self.names = set(input_names) | {n for n, _ in root.named_modules() if n}
        self.env = {}
        self.used_modules = {}
        self.free = set()  # free parameters / buffers emitted (their keys)
        self.problems = []  # (what, scope, line)
        self.outputs = None

    def problem(self, node, what):
        self.problems.append((what, node.meta.get(SCOPE) or "(top)", node_line(node)))

    def fresh(self, scope, base):
        prefix = f"{scope}." if scope else ""
        name, k = f"{prefix}{base}", 1
        while name in self.names:
            name = f"{prefix}{base}_{k}"
            k += 1
        self.names.add(name)
        return name

    def emit(self, name, t, inputs, options, scope, node, n_outputs=1):
        self.layers.append(Layer(name, t, inputs, options, scope, node, n_outputs))
        return Ref(name)

    def arg(self, a):
        """An argument with tensors as Ref and sizes as numbers."""
        def one(x):
            if isinstance(x, fx.Node):
                v = self.env.get(x)
                if isinstance(v, Const):
                    return v.value
                return v
            return x
        if isinstance(a, (list, tuple)):
            return type(a)(self.arg(x) for x in a)
        if isinstance(a, dict):
            return {k: self.arg(v) for k, v in a.items()}
        return one(a)

    def run(self):
        for node in self.graph.nodes:
            try:
                self.env[node] = self.visit(node)
            except Unsupported as e:
                self.problem(node, f"{_target_name(node)} ({e})" if str(e) else _target_name(node))
                self.env[node] = Ref(f"?{node.name}")
        return self

    def is_dynamic(self, node):
        if node not in self.probe:
            return False
        a, b = node.meta.get(VALUE), self.probe[node]
        try:
            return bool(a != b)
        except Exception:
            return False

    def visit(self, node):
        v = node.meta.get(VALUE)
        if node.op == "placeholder":
            return Ref(node.target)
        if node.op == "output":
            self.outputs = self.arg(node.args[0])
            return None
        if node.op == "get_attr":
            return self.free_tensor(node)
        if node.op == "call_module":
            return self.visit_module(node)
        # sizes and shape arithmetic: numbers, not layers
        if not isinstance(v, torch.Tensor) and not (isinstance(v, (tuple, list)) and
                                                    any(isinstance(x, torch.Tensor) for x in v)):
            return self.visit_const(node, v)
        t = node.target
        if node.op == "call_function" and t is operator.getitem:
            return self.getitem(node)
        if t in _IDENTITY or (node.op == "call_function" and t in (F.dropout,)):
            return self.arg(node.args[0])
        if node.op == "call_function" and t is torch.arange:
            return self.arange(node)
        if node.op == "call_method" and t == "expand":
            return self.expand(node)
        if node.op == "call_function" and t is F.interpolate:
            return self.interpolate(node)
        try:
            spec = OPS.get(t)
        except TypeError:
            spec = None
        if spec is None and node.op == "call_method" and t.endswith("_") and not t.startswith("_"):
            spec = OPS.get(t[:-1])  # x.sigmoid_(): the graph is functional (_trace._functionalize)
        if spec is None:
            raise Unsupported("")
        opname, stub = spec
        if opname in ("add", "sub", "mul", "div"):
            for a in node.args:
                c = self.env.get(a) if isinstance(a, fx.Node) else None
                if isinstance(c, Const) and c.dynamic:
                    raise Unsupported("a number that varies with a symbolic dimension as an operand")
        try:
            ins, opts = stub(*self.arg(node.args), **self.arg(dict(node.kwargs)))
        except TypeError as e:
            raise Unsupported(f"arguments: {e}")
        for k, x in opts.items():
            if isinstance(x, Ref) or (isinstance(x, list) and any(isinstance(y, Ref) for y in x)):
                raise Unsupported(f"a tensor as option '{k}'")
        if opname in ("reshape", "view"):
            ins, opts["shape"] = self.view_sizes(node, ins, opts["shape"])
        name = self.fresh(node.meta.get(SCOPE, ""), opname)
        if opname == "chunk":
            n = len(v)
            if n != opts["chunks"]:
                raise Unsupported(f"{n} chunks where {opts['chunks']} were asked")
            self.emit(name, opname, ins, opts, node.meta.get(SCOPE, ""), node, n)
            return tuple(Ref(f"{name}[{i}]") for i in range(n))
        if opname == "split":
            # the language takes the list of sections: split(C, dim=2) of a 3C dimension is [C, C, C]
            # (the example tells the sizes; a dimension that varies cannot be split by a fixed size)
            if self.is_dynamic(node) or any(isinstance(o, Ref) for o in [opts.get("split_size_or_sections")]):
                raise Unsupported("a split whose sections vary with a symbolic dimension")
            sections = [t.shape[opts.get("dim", 0)] for t in v]
            o = {"split_size_or_sections": sections}
            if opts.get("dim"):
                o["dim"] = opts["dim"]
            self.emit(name, opname, ins, o, node.meta.get(SCOPE, ""), node, len(v))
            return tuple(Ref(f"{name}[{i}]") for i in range(len(v)))
        return self.emit(name, opname, ins, opts, node.meta.get(SCOPE, ""), node)

    def free_tensor(self, node):
        """A parameter or buffer read outside a module call (ViT's class_token, ConvNeXt's
        layer_scale): a Parameter / Buffer layer named by its state_dict key, emitted once."""
        key = node.target
        if key in self.free:
            return Ref(key)
        params = dict(self.root.named_parameters())
        buffers = dict(self.root.named_buffers())
        v = params.get(key, buffers.get(key))
        if not isinstance(v, torch.Tensor):
            raise Unsupported("")
        if key not in params and key not in self.root.state_dict():
            raise Unsupported(f"the non-persistent buffer '{key}'")
        if v.dim() == 0:
            raise Unsupported(f"the 0-d tensor '{key}'")
        opts = {"shape": list(v.shape)}
        if key in buffers and not (v.is_floating_point() or v.is_complex()):
            opts["dtype"] = str(v.dtype).replace("torch.", "")
        scope = key.rsplit(".", 1)[0] if "." in key else ""
        self.names.add(key)
        self.free.add(key)
        return self.emit(key, "Parameter" if key in params else "Buffer", [], opts, scope, node)

    def expand(self, node):
        """x.expand(n, -1, -1): a size read from a tensor (x.size(0), x.shape[0]) is written as
        "in<k>.size(<d>)" of that tensor, added to the inputs, so it follows the input."""
        x = self.arg(node.args[0])
        raw = list(node.args[1:])
        if len(raw) == 1 and isinstance(raw[0], (list, tuple)):
            raw = list(raw[0])
        if node.kwargs or not isinstance(x, Ref):
            raise Unsupported("arguments")
        ins = [x]
        size = self.size_entries(raw, ins)
        name = self.fresh(node.meta.get(SCOPE, ""), "expand")
        return self.emit(name, "expand", ins, {"size": size}, node.meta.get(SCOPE, ""), node)

    def size_entries(self, raw, ins):
        """Sizes as the language writes them: a size read from a tensor (x.size(d), x.shape[d])
        is "in<k>.size(<d>)" of that tensor, appended to `ins`; a number stays a number."""
        out = []
        for a in raw:
            c = self.env.get(a) if isinstance(a, fx.Node) else None
            if isinstance(c, Const) and c.size_of and c.size_of[1] is not None and isinstance(c.size_of[0], Ref):
                src, d = c.size_of
                out.append(f"in{_size_input(ins, src)}.size({d})")
            elif isinstance(c, Const) and isinstance(c.value, int):
                out.append(c.value)
            elif isinstance(a, int) and not isinstance(a, bool):
                out.append(a)
            else:
                raise Unsupported("a size that is not a number or a tensor's size")
        return out

    def interpolate(self, node):
        names = ["input", "size", "scale_factor", "mode", "align_corners", "recompute_scale_factor", "antialias"]
        a = dict(zip(names, node.args))
        a.update(node.kwargs)
        x = self.arg(a.get("input"))
        if not isinstance(x, Ref) or a.get("recompute_scale_factor") or a.get("antialias"):
            raise Unsupported("arguments")
        ins, o = [x], {}
        size, scale = a.get("size"), self.arg(a.get("scale_factor"))
        if size is not None:
            c = self.env.get(size) if isinstance(size, fx.Node) else None
            if isinstance(c, Const) and c.shape_of:  # size=t.shape[-2:] (torchvision's segmentation heads)
                src, dims = c.shape_of
                o["size"] = [f"in{_size_input(ins, src)}.size({d})" for d in dims]
            elif isinstance(c, Const) and c.size_of and c.size_of[1] is None:
                raise Unsupported("a size taken as a slice of a shape: write (t.size(-2), t.size(-1))")
            else:
                raw = list(size) if isinstance(size, (list, tuple)) else [size]
                o["size"] = self.size_entries(raw, ins)
        if scale is not None:
            if isinstance(scale, (list, tuple)):
                if len(set(scale)) != 1:
                    raise Unsupported("a scale_factor that differs per dimension")
                scale = scale[0]
            o["scale_factor"] = float(scale)
        mode = a.get("mode", "nearest")
        if mode != "nearest":
            o["mode"] = mode
        if a.get("align_corners") is not None:
            o["align_corners"] = bool(a["align_corners"])
        name = self.fresh(node.meta.get(SCOPE, ""), "interpolate")
        return self.emit(name, "interpolate", ins, o, node.meta.get(SCOPE, ""), node)

    def view_sizes(self, node, ins, shape):
        """(inputs, shape) of a view / reshape: sizes read from a tensor that vary with a
        symbolic dimension (nanoGPT's q.view(B, T, nh, C // nh)) as "in<k>.size(<d>)" of that
        tensor; else as view_shape writes them."""
        raw = list(node.args[1:])
        if len(raw) == 1 and isinstance(raw[0], (list, tuple)):
            raw = list(raw[0])
        if "shape" in node.kwargs:
            raw = list(node.kwargs["shape"])
        consts = [self.env.get(a) if isinstance(a, fx.Node) else None for a in raw]

        def read(c):
            return isinstance(c, Const) and c.dynamic and c.size_of and c.size_of[1] is not None and \
                isinstance(c.size_of[0], Ref)
        if len(raw) != len(shape) or not any(read(c) for c in consts):
            return ins, self.view_shape(node, shape)
        ins, out = list(ins), []
        for v, c in zip(shape, consts):
            if read(c):
                src, d = c.size_of
                out.append(f"in{_size_input(ins, src)}.size({d})")
            elif isinstance(c, Const) and c.dynamic:
                raise Unsupported("a size computed from a symbolic dimension (write it as -1)")
            else:
                out.append(v)
        return ins, out

    def view_shape(self, node, shape):
        """The sizes of a view / reshape: where the output has a size that varies with a
        symbolic dimension (seen on the probe example), -1 there and the others as numbers."""
        out, probe = node.meta.get(VALUE), self.probe.get(node)
        if not isinstance(probe, torch.Tensor) or probe.dim() != out.dim():
            return shape
        vary = [a != b for a, b in zip(out.shape, probe.shape)]
        if sum(vary) > 1:
            raise Unsupported(f"a view whose output has {sum(vary)} sizes that vary with symbolic dimensions")
        if not any(vary):
            return shape
        return [-1 if v else n for v, n in zip(vary, out.shape)]

    def visit_const(self, node, v):
        size_of, shape_of = None, None
        if node.op == "call_method" and node.target == "size":
            x = self.arg(node.args[0])
            d = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
            size_of = (x, d)
        elif node.op == "call_function" and node.target is getattr and node.args[1] == "shape":
            size_of = (self.arg(node.args[0]), None)
        elif node.op == "call_function" and node.target is operator.getitem:
            src = self.env.get(node.args[0])
            if isinstance(src, Const) and src.size_of and src.size_of[1] is None and isinstance(node.args[1], int):
                size_of = (src.size_of[0], node.args[1])
            elif isinstance(src, Const) and src.shape_of and isinstance(node.args[1], slice):
                shape_of = (src.shape_of[0], src.shape_of[1][node.args[1]])  # x.shape[-2:]
        if size_of and size_of[1] is None and isinstance(size_of[0], Ref) and isinstance(v, (tuple, list)):
            shape_of = (size_of[0], list(range(len(v))))
        return Const(v, size_of, self.is_dynamic(node), shape_of)

    def arange(self, node):
        # torch.arange(t) and nanoGPT's torch.arange(0, t, dtype=torch.long, device=idx.device),
        # t a size of a tensor: the positions 0 .. t-1 (int64)
        args, kw = list(node.args), dict(node.kwargs)
        if len(args) == 2 and args[0] == 0:
            args = args[1:]
        dtype = kw.pop("dtype", torch.int64)
        kw.pop("device", None)
        if len(args) == 1 and isinstance(args[0], fx.Node) and not kw and dtype in (torch.int64, torch.long):
            c = self.env.get(args[0])
            if isinstance(c, Const) and c.size_of and c.size_of[1] is not None:
                x, d = c.size_of
                opts = {"dim": d} if d else {}
                scope = node.meta.get(SCOPE, "")
                return self.emit(self.fresh(scope, "arange"), "arange", [x], opts, scope, node)
        raise Unsupported("only torch.arange(x.size(dim)) is covered")

    def getitem(self, node):
        src, idx = self.env.get(node.args[0]), self.arg(node.args[1])
        if isinstance(src, (tuple, list)):
            return src[idx]
        if not isinstance(src, Ref):
            raise Unsupported("indexing")
        x = node.args[0].meta.get(VALUE)
        idx = idx if isinstance(idx, tuple) else (idx,)
        if any(i is Ellipsis for i in idx):
            k = idx.index(Ellipsis)
            fill = x.dim() - (len(idx) - 1 - sum(i is None for i in idx))
            idx = idx[:k] + (slice(None),) * fill + idx[k + 1:]
        scope = node.meta.get(SCOPE, "")
        cur, d = src, 0
        for i in idx:
            if isinstance(i, list) and len(i) == 1 and isinstance(i[0], int) and not isinstance(i[0], bool):
                i = slice(i[0], i[0] + 1 if i[0] != -1 else None)  # nanoGPT's x[:, [-1], :]: keeps the dim
            if isinstance(i, slice):
                if i == slice(None):
                    d += 1
                    continue
                o, ins = {"dim": d}, [cur]
                start, stop, step = (self.slice_bound(b, ins) for b in (i.start, i.stop, i.step))
                if isinstance(start, str) or isinstance(step, str):
                    raise Unsupported("a slice start or step read from a size that varies")
                if start not in (None, 0):
                    o["start"] = start
                if stop is not None:
                    o["end"] = stop  # "in1.size(1)": nanoGPT's bias[:, :, :T, :T] (mvc.arch/2)
                if step not in (None, 1):
                    o["step"] = step
                cur = self.emit(self.fresh(scope, "slice"), "slice", ins, o, scope, node)
                d += 1
            elif isinstance(i, int) and not isinstance(i, bool):
                cur = self.emit(self.fresh(scope, "select"), "select", [cur], {"dim": d, "index": i}, scope, node)
            elif i is None:
                cur = self.emit(self.fresh(scope, "unsqueeze"), "unsqueeze", [cur], {"dim": d}, scope, node)
                d += 1
            else:
                raise Unsupported(f"indexing with {type(i).__name__}")
        return cur

    def slice_bound(self, b, ins):
        """A slice bound: a number, or a size read from a tensor that varies with a symbolic
        dimension as "in<k>.size(<d>)" of that tensor (appended to `ins`)."""
        if not isinstance(b, fx.Node):
            return b
        c = self.env.get(b)
        if not isinstance(c, Const):
            raise Unsupported("a slice bound that is a tensor")
        if not c.dynamic:
            return c.value
        if c.size_of and c.size_of[1] is not None and isinstance(c.size_of[0], Ref):
            src, d = c.size_of
            return f"in{_size_input(ins, src)}.size({d})"
        raise Unsupported("a slice bound computed from a size that varies")

    def visit_module(self, node):
        m = self.root.get_submodule(node.target)
        t = MODULES.get(type(m))
        scope = node.meta.get(SCOPE, "")
        if t is None:  # a leaf the tracer kept: cannot happen with the tracer's leaf set
            raise Unsupported(f"module {type(m).__name__}")
        args = [self.arg(a) for a in node.args]
        kwargs = self.arg(dict(node.kwargs))
        if t == "MultiheadAttention":
            if len(args) < 3:  # query, key, value given by name (ViT: query=x, key=x, value=x)
                if any(k not in kwargs for k in ("query", "key", "value")[len(args):]):
                    raise Unsupported("nn.MultiheadAttention without query, key and value")
                args += [kwargs.pop(k) for k in ("query", "key", "value")[len(args):]]
            for k in ("key_padding_mask", "attn_mask"):
                if kwargs.get(k) is not None:
                    raise Unsupported(f"nn.MultiheadAttention with {k}")
            kwargs = {}
        elif t in ("LSTM", "GRU") and len(args) == 2 and args[1] is None and not kwargs:
            args = args[:1]  # gru(x, None): the default zero state
        if t in ("LSTM", "GRU") and (len(args) > 1 or kwargs.get("hx") is not None):
            raise Unsupported(f"nn.{t} with an initial state")
        elif kwargs:
            raise Unsupported(f"nn.{t} called with keyword arguments {sorted(kwargs)}")
        ins = _tensors(*args)
        omitted, order = {}, []
        opts = module_options(m, t, omitted, order)
        if node.target in self.used_modules:
            op = _MODULE_AS_OP.get(t)
            if op is None or any(True for _ in m.parameters()) or any(True for _ in m.buffers()):
                # a module with weights called again (a shared encoder): a call that shares its module
                base = node.target.rsplit(".", 1)[-1]
                name = self.fresh(scope, base)
                n_out = {"LSTM": 3, "GRU": 2, "MultiheadAttention": 2}.get(t, 1)
                self.emit(name, t, ins, {}, scope, node, n_out)
                self.layers[-1].shares = node.target
                return _MODULE_OUTPUTS[t](name) if t in _MODULE_OUTPUTS else Ref(name)
            if op == "max_pool2d":
                opts = _max_pool2d(None, m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode)[1]
            elif op == "flatten":
                opts = {"start_dim": m.start_dim} if m.start_dim else {}
                if m.end_dim != -1:
                    opts["end_dim"] = m.end_dim
            base = node.target.rsplit(".", 1)[-1]
            return self.emit(self.fresh(scope, f"{base}_{op}" if base != op else op), op, ins, opts, scope, node)
        self.used_modules[node.target] = True
        name = node.target
        n_out = {"LSTM": 3, "GRU": 2, "MultiheadAttention": 2}.get(t, 1)
        self.emit(name, t, ins, opts, scope, node, n_out)
        self.layers[-1].defaults = omitted
        self.layers[-1].order = order
        if t in _MODULE_OUTPUTS:
            return _MODULE_OUTPUTS[t](name)
        return Ref(name)


def flat_outputs(v):
    if isinstance(v, dict):  # torchvision's segmentation models: {"out": ..., "aux": ...}, in order
        return [r for x in v.values() for r in flat_outputs(x)]
    if isinstance(v, (tuple, list)):
        return [r for x in v for r in flat_outputs(x)]
    return [v]


def _state_keys(root, layer):
    """The state_dict keys a layer registers (none for an operation or a shared call)."""
    from . import _torch_build
    if layer.shares or layer.type in _torch_build.OP_TYPES:
        return []
    if layer.type in ("Parameter", "Buffer"):
        return [layer.name]
    m = root.get_submodule(layer.name)
    return [f"{layer.name}.{k}" for k in m.state_dict()]


def _owner(key):
    return key.rsplit(".", 1)[0] if "." in key else ""


def registration_order(e, root):
    """The layers with the module's state_dict in its own order and complete:
    - a submodule with tensors that forward never calls (googlenet's aux heads) is declared with
      run = false (a free tensor never read, as a Parameter / Buffer), where it is registered;
    - a module called in another order than it is registered (nn.TransformerEncoderLayer: norm1
      runs before linear1, is registered after linear2) makes the modules registered before it
      be declared first with run = false, and called later through `shares`.
    The rebuilt module registers its modules in the order of the file, so its state_dict() then
    lists the keys in the original's order."""
    index = {p: i for i, (p, _) in enumerate(root.named_modules())}
    state = root.state_dict()
    covered = set()
    items = {}  # layer name → (rank, layer): what registers tensors
    for l in e.layers:
        keys = _state_keys(root, l)
        if keys:
            covered.update(keys)
            owner = _owner(l.name) if l.type in ("Parameter", "Buffer") else l.name
            if owner:  # the root's own tensors come first in any order of registration
                items[l.name] = (index.get(owner, 0), l)
    # what forward never uses
    leaves = {p for p, m in root.named_modules() if type(m) in MODULES}
    params = dict(root.named_parameters())
    for p, m in root.named_modules():
        if type(m) not in MODULES or any(_under_path(p, q) for q in leaves if q != p):
            continue
        keys = [f"{p}.{k}" if p else k for k in m.state_dict()]
        if keys and not any(k in covered for k in keys):
            t = MODULES[type(m)]
            omitted, order = {}, []
            l = Layer(p, t, [], module_options(m, t, omitted, order), _owner(p), None,
                      {"LSTM": 3, "GRU": 2, "MultiheadAttention": 2}.get(t, 1))
            l.defaults, l.order, l.run = omitted, order, False
            covered.update(keys)
            items[p] = (index[p], l)
    for k, v in state.items():
        if k in covered or any(_under_path(k, q) for q in leaves):
            continue
        opts = {"shape": list(v.shape)}
        if k not in params and not (v.is_floating_point() or v.is_complex()):
            opts["dtype"] = str(v.dtype).replace("torch.", "")
        if v.dim() == 0:
            continue  # refused by save's key check, as before
        l = Layer(k, "Parameter" if k in params else "Buffer", [], opts, _owner(k), None)
        covered.add(k)
        items[k] = (index.get(_owner(k), 0), l)
    pending = sorted(items.values(), key=lambda x: x[0])
    pending = [l for _, l in pending]
    pos = {id(l): i for i, l in enumerate(pending)}
    declared, renames, out, p = set(), {}, [], 0

    def rn(r):
        base, _, rest = r.partition("[")
        return renames[base] + ("[" + rest if rest else "") if base in renames else r

    for l in e.layers:
        l.inputs = [rn(r) for r in l.inputs]
        if id(l) in pos and id(l) in declared:
            if l.type in ("Parameter", "Buffer"):
                continue  # moved earlier: the same name, read from there
            call = copy.copy(l)
            call.name, call.shares, call.options, call.defaults = e.fresh(l.scope, l.name.rsplit(".", 1)[-1]), \
                l.name, {}, {}
            renames[l.name] = call.name
            out.append(call)
            continue
        if id(l) in pos:
            while pending[p] is not l:
                x = pending[p]
                if id(x) not in declared:
                    if x.type not in ("Parameter", "Buffer") and x.run:
                        early = copy.copy(x)
                        early.run, early.inputs = False, []
                        early.node = None  # its value is the later call's
                        out.append(early)
                    else:
                        out.append(x)
                    declared.add(id(x))
                p += 1
            declared.add(id(l))
            p += 1
        out.append(l)
    for x in pending[p:]:
        if id(x) not in declared:
            out.append(x)
    e.layers = out
    outs = e.outputs
    e.outputs = fx.node.map_aggregate(outs, lambda r: Ref(rn(r)) if isinstance(r, Ref) else r) \
        if renames else outs
    return e


def _under_path(name, p):
    return p != "" and name.startswith(p + ".")


def export(root, graph, input_names, probe_values=None):
    """(layers, outputs) of a traced graph, or mvc.Error listing every node the vocabulary
    lacks."""
    e = Exporter(root, graph, input_names, probe_values).run()
    if not e.problems:
        registration_order(e, root)
    if e.problems:
        need = sorted({p[0] for p in e.problems})
        where = "; ".join(f"{w} in '{s}' at {l}" for w, s, l in e.problems[:20])
        more = f" (and {len(e.problems) - 20} more)" if len(e.problems) > 20 else ""
        raise Error(f"save: cannot export {type(root).__name__}: outside mvc's vocabulary: {where}{more}; "
                    f"the vocabulary would need: {', '.join(need)}", 7)
    outs = flat_outputs(e.outputs)
    for o in outs:
        if not isinstance(o, Ref):
            raise Error(f"save: cannot export {type(root).__name__}: forward returns a non-tensor ({o!r})", 7)
    return e.layers, [str(o) for o in outs]
