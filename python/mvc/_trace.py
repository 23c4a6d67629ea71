"""The tracer behind mvc.save (docs/python.md, "mvc.save"): torch.fx with concrete values.

Every node created while tracing is also run on the example at once, so each node carries its
real value (node.meta["mvc_value"]): sizes (`x.size()`, `b, t = x.shape`, shape arithmetic)
are known numbers, tuples unpack by their real length (torch 1.13's Proxy.__iter__ reads
bytecode and fails on Python 3.11), a size compared in an `if` or `assert` takes its real
value, and an `if` on a tensor's value is refused as data-dependent control flow. Leaf
modules are exactly those whose type the vocabulary has (_export.MODULES); every other module
is traced through. Each node also records the module path it ran in (node.meta["mvc_scope"])
and its source line (node.stack_trace).
"""
import contextlib
import inspect
import operator
import os
import traceback

import torch
import torch.fx as fx
from torch.fx.node import map_aggregate

from ._errors import Error

VALUE = "mvc_value"
SCOPE = "mvc_scope"

_HERE = os.path.dirname(os.path.abspath(__file__))
_TORCH = os.path.dirname(os.path.abspath(torch.__file__))


def user_line(stack=None):
    """The innermost source line outside torch and mvc: "file.py:12: code"."""
    frames = stack if stack is not None else traceback.extract_stack()
    for f in reversed(frames):
        fn = os.path.abspath(f.filename)
        if fn.startswith(_TORCH) or fn.startswith(_HERE) or "/torch/" in fn:
            continue
        return f"{os.path.basename(f.filename)}:{f.lineno}: {(f.line or '').strip()}"
    return "?"


def node_line(node):
    """The user's source line of an fx node, from its stack trace."""
    st = node.stack_trace or ""
    lines = [l for l in st.splitlines() if l.strip().startswith("File ")]
    for l in lines:  # innermost first
        if "/torch/" in l or _HERE in l:
            continue
        try:
            path = l.split('"')[1]
            lineno = int(l.split("line ")[1].split(",")[0])
        except (IndexError, ValueError):
            continue
        code = ""
        try:
            with open(path) as f:
                code = f.readlines()[lineno - 1].strip()
        except (OSError, IndexError):
            pass
        return f"{os.path.basename(path)}:{lineno}: {code}"
    return "?"


@contextlib.contextmanager
def eval_mode(module):
    """`module` in eval mode, then each submodule's own training flag back (a BatchNorm the
    user froze in eval stays so)."""
    flags = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, f in flags:
            m.training = f


class Refusal(Exception):
    """Raised inside tracing for what cannot be traced at all (data-dependent control flow)."""


class _Concrete:
    """Proxy behaviour from the node's concrete value (a mixin of _Proxy and _Attribute)."""

    def _value(self):
        return self.node.meta.get(VALUE)

    def __iter__(self):
        v = self._value()
        if isinstance(v, torch.Tensor):
            n = v.shape[0] if v.dim() else 0
        elif isinstance(v, (tuple, list, torch.Size)):
            n = len(v)
        else:
            return super().__iter__()
        return iter([self[i] for i in range(n)])

    def __len__(self):
        v = self._value()
        if isinstance(v, torch.Tensor):
            return v.shape[0]
        return len(v)

    def __bool__(self):
        return self.tracer.to_bool(self)

    def __index__(self):
        return int(self.tracer.to_value(self, "used as an index"))

    def __int__(self):
        return int(self.tracer.to_value(self, "converted to int"))

    def __float__(self):
        return float(self.tracer.to_value(self, "converted to float"))

    def keys(self):
        return self._value().keys()

    def __getattr__(self, k):
        return _Attribute(self, k)


class _Proxy(_Concrete, fx.Proxy):
    pass


class _Attribute(_Concrete, fx.proxy.Attribute):
    """x.shape, x.real: an fx Attribute proxy that unpacks and tests by its value."""


class _Apply:
    """The target of a node that calls a custom autograd Function (refused later, by name)."""

    def __init__(self, cls, orig):
        self.cls, self.orig = cls, orig
        self.__name__ = f"{cls.__name__}.apply"

    def __call__(self, *args, **kwargs):
        return self.orig.__get__(None, self.cls)(*args, **kwargs)


class Tracer(fx.Tracer):
    def __init__(self, root, leaf_types, examples):
        super().__init__(autowrap_functions=())
        self.record_stack_traces = True
        # Buffers read in forward (a causal mask) are graph inputs of their own (get_attr), as
        # parameters are: never folded into constants (FrozenBatchNorm2d, `self.mask == 0`).
        self.proxy_buffer_attributes = True
        self.root_module = root
        self.leaf_types = leaf_types
        self.examples = list(examples)
        self.scope = [""]
        self._placeholders = 0
        self._concrete = 0  # > 0 while a node runs on the example (nn.Module.__call__ is patched)

    def is_leaf_module(self, m, qualname):
        return type(m) in self.leaf_types

    def getattr(self, attr, attr_val, parameter_proxy_cache):
        if self._concrete:
            return attr_val  # running on the example: the real parameter
        return super().getattr(attr, attr_val, parameter_proxy_cache)

    def call_module(self, m, forward, args, kwargs):
        if self._concrete:
            return forward(*args, **kwargs)
        path = self.path_of_module(m)
        # x.real passed to a module: its node is made now, in the caller's scope
        map_aggregate((args, kwargs), lambda a: a.node if isinstance(a, fx.Proxy) else a)
        self.scope.append(path)
        try:
            return super().call_module(m, forward, args, kwargs)
        finally:
            self.scope.pop()

    def proxy(self, node):
        return _Proxy(node, self)

    def create_proxy(self, kind, target, args, kwargs, name=None, type_expr=None, proxy_factory_fn=None):
        p = super().create_proxy(kind, target, args, kwargs, name, type_expr, proxy_factory_fn)
        node = p.node
        node.meta[SCOPE] = self.scope[-1] if kind != "call_module" else self.scope[-2]
        if not node.stack_trace:
            node.stack_trace = "".join(traceback.format_stack())
        node.meta[VALUE] = self._run(node)
        return p

    def _run(self, node):
        def val(a):
            return map_aggregate(a, lambda n: n.meta.get(VALUE) if isinstance(n, fx.Node) else n)

        with torch.no_grad():
            if node.op == "placeholder":
                i = self._placeholders
                self._placeholders += 1
                return self.examples[i] if i < len(self.examples) else None
            if node.op == "get_attr":
                self._concrete += 1
                try:
                    obj = self.root_module
                    for part in node.target.split("."):
                        obj = getattr(obj, part)
                    return obj
                finally:
                    self._concrete -= 1
            if node.op == "output":
                return None
            args, kwargs = val(node.args), val(node.kwargs)
            self._concrete += 1
            try:
                if node.op == "call_module":
                    return self.root_module.get_submodule(node.target)(*args, **kwargs)
                if node.op == "call_function":
                    return node.target(*args, **kwargs)
                if node.op == "call_method":
                    return getattr(args[0], node.target)(*args[1:], **kwargs)
            except Error:
                raise
            except Exception as e:  # the model's own code failed on the example
                raise Error(f"save: {node.format_node()} failed on the example ({type(e).__name__}: {e}) "
                            f"in '{node.meta.get(SCOPE) or '(top)'}' at {node_line(node)}", 7) from None
            finally:
                self._concrete -= 1
        return None

    def to_value(self, obj, why):
        v = obj.node.meta.get(VALUE)
        if isinstance(v, torch.Tensor):
            raise Refusal(f"data-dependent control flow: a tensor's value ({obj.node.format_node()}) is {why} "
                          f"in '{obj.node.meta.get(SCOPE) or '(top)'}' at {user_line()}")
        return v

    def to_bool(self, obj):
        return bool(self.to_value(obj, "tested by an if, while, assert or and/or"))

    def iter(self, obj):
        v = self.to_value(obj, "iterated") if not isinstance(obj.node.meta.get(VALUE), torch.Tensor) else \
            obj.node.meta[VALUE]
        n = v.shape[0] if isinstance(v, torch.Tensor) else len(v)
        return iter([obj[i] for i in range(n)])


_INPLACE_OPERATORS = {operator.iadd, operator.isub, operator.imul, operator.itruediv}


def _inplace(node, root):
    """Whether `node` changes its first argument in place (x.relu_(), x += y, F.relu(x, inplace=True),
    nn.ReLU(inplace=True))."""
    if node.op == "call_method":
        return node.target.endswith("_") and not node.target.startswith("_")
    if node.op == "call_function":
        name = getattr(node.target, "__name__", "")
        return node.target in _INPLACE_OPERATORS or node.kwargs.get("inplace") is True or \
            (name.endswith("_") and not name.startswith("_"))
    if node.op == "call_module":
        return getattr(root.get_submodule(node.target), "inplace", False) is True
    return False


def _functionalize(graph, root):
    """After an in-place op, later readers of the tensor it changed read its result instead, so
    the graph no longer depends on mutation (and dead-code removal keeps `x.relu_()`)."""
    order = {n: i for i, n in enumerate(graph.nodes)}
    for n in list(graph.nodes):
        if not _inplace(n, root) or not n.args or not isinstance(n.args[0], fx.Node):
            continue
        a = n.args[0]
        for user in list(a.users):
            if user is not n and order[user] > order[n]:
                user.replace_input_with(a, n)


_FACTORIES = ("arange", "zeros", "ones", "full", "empty", "randn", "rand", "tensor", "eye", "linspace")


def trace(module, examples, leaf_types):
    """The fx.GraphModule of `module` (in eval mode) called on `examples` (a tuple), each node
    with its concrete value, scope and source line. Raises mvc.Error for data-dependent
    control flow."""
    sig = inspect.signature(module.forward)
    params = [p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(examples) > len(params):
        raise Error(f"save: the example has {len(examples)} tensors but forward takes {len(params)} "
                    f"({', '.join(p.name for p in params)})", 2)
    concrete = {}
    for p in params[len(examples):]:
        if p.default is inspect.Parameter.empty:
            raise Error(f"save: forward's parameter '{p.name}' has no default and no example tensor", 2)
        concrete[p.name] = p.default
    examples = tuple(e.clone() if isinstance(e, torch.Tensor) else e for e in examples)
    # the parameters after the examples are placeholders with their defaults as values (fx
    # specializes them: `scale == 1.5` is asserted, so the value must be the default)
    tracer = Tracer(module, leaf_types, examples + tuple(concrete.values()))

    # A custom autograd Function called on a Proxy becomes a node (refused by name later).
    base = torch.autograd.Function
    had = "apply" in base.__dict__
    orig = base.__dict__.get("apply")
    # torch 2.x defines it in Python; 1.13 in a C base class, found by the MRO (not by its
    # private name: tests/python/test_public_api.py)
    c_apply = next(k.__dict__["apply"] for k in base.__mro__ if "apply" in k.__dict__)

    def apply(cls, *args, **kwargs):
        if any(isinstance(a, fx.Proxy) for a in list(args) + list(kwargs.values())):
            return tracer.create_proxy("call_function", _Apply(cls, c_apply), args, kwargs)
        return c_apply.__get__(None, cls)(*args, **kwargs)

    base.apply = classmethod(apply)
    # Factory functions do not dispatch on a size Proxy (torch.arange(x.size(1))): wrapped.
    patched = {}
    for fname in _FACTORIES:
        orig_f = getattr(torch, fname)

        def wrapper(*args, _orig=orig_f, **kwargs):
            if any(isinstance(a, fx.Proxy) for a in list(args) + list(kwargs.values())):
                return tracer.create_proxy("call_function", _orig, args, kwargs)
            return _orig(*args, **kwargs)
        patched[fname] = orig_f
        setattr(torch, fname, wrapper)
    try:
        with eval_mode(module):
            graph = tracer.trace(module, concrete_args=concrete or None)
    except Refusal as e:
        raise Error(f"save: cannot export {type(module).__name__}: {e}", 7) from None
    finally:
        for fname, f in patched.items():
            setattr(torch, fname, f)
        if had:
            base.apply = orig
        else:
            del base.apply
    _functionalize(graph, module)
    gm = fx.GraphModule(module, graph)
    gm.graph.eliminate_dead_code()
    return gm, [p.name for p in params[:len(examples)]]
