"""The Python package uses only torch's public API (issue 14: mvc.load "uses only torch's public
API, so it also runs under the torch 2.x that most users have"), run by CTest as python.public_api.

Only Debian's torch 1.13 is installed here, so the claim is guarded statically: no module of
python/mvc names a private torch attribute or module (`torch._C`, `nn.modules._x`, `import
torch._dynamo`), and the modules that mvc.load and mvc.load_optimizer import never use torch.fx
(tracing is mvc.save's alone).
"""
import ast
import os

import pytest

PACKAGE = os.path.join(os.environ["MVC_SOURCE_DIR"], "python", "mvc")
MODULES = sorted(f for f in os.listdir(PACKAGE) if f.endswith(".py"))
# What `import mvc; mvc.load(...); mvc.load_optimizer(...)` imports (mvc/__init__.py's imports
# inside load and load_optimizer).
LOAD_PATH = ["__init__.py", "_errors.py", "_torch_build.py", "_optim.py", "_toml.py"]


def tree(name):
    with open(os.path.join(PACKAGE, name)) as f:
        return ast.parse(f.read(), name)


def torch_aliases(t):
    """Local names bound to torch or one of its modules: {"torch": "torch", "F": "torch.nn.functional"}."""
    names = {"torch": "torch"}
    for n in ast.walk(t):
        if isinstance(n, ast.Import):
            for a in n.names:
                if a.name == "torch" or a.name.startswith("torch."):
                    names[a.asname or a.name.split(".")[0]] = a.name if a.asname else "torch"
        elif isinstance(n, ast.ImportFrom) and n.module and (n.module == "torch" or n.module.startswith("torch.")):
            for a in n.names:
                names[a.asname or a.name] = f"{n.module}.{a.name}"
    return names


def dotted(n):
    parts = []
    while isinstance(n, ast.Attribute):
        parts.append(n.attr)
        n = n.value
    if isinstance(n, ast.Name):
        return [n.id] + parts[::-1]
    return None


def private(path):
    return any(p.startswith("_") and not (p.startswith("__") and p.endswith("__")) for p in path.split("."))


def torch_uses(name):
    """Every torch name the module uses: imported modules and attribute chains on torch's names."""
    t = tree(name)
    aliases = torch_aliases(t)
    used = []
    for n in ast.walk(t):
        if isinstance(n, ast.Import):
            used += [(a.name, n.lineno) for a in n.names if a.name.split(".")[0] == "torch"]
        elif isinstance(n, ast.ImportFrom) and n.module and n.module.split(".")[0] == "torch":
            used += [(f"{n.module}.{a.name}", n.lineno) for a in n.names]
        elif isinstance(n, ast.Attribute) and not isinstance(getattr(n, "parent", None), ast.Attribute):
            d = dotted(n)
            if d and d[0] in aliases:
                used.append((".".join([aliases[d[0]]] + d[1:]), n.lineno))
    return used


@pytest.mark.parametrize("name", MODULES)
def test_no_private_torch_names(name):
    bad = [f"{name}:{line}: {u}" for u, line in torch_uses(name) if private(u)]
    assert not bad, "private torch API used:\n" + "\n".join(bad)


@pytest.mark.parametrize("name", LOAD_PATH)
def test_the_load_path_does_not_use_torch_fx(name):
    bad = [f"{name}:{line}: {u}" for u, line in torch_uses(name) if u == "torch.fx" or u.startswith("torch.fx.")]
    assert not bad, "torch.fx in mvc.load's path:\n" + "\n".join(bad)
    # and imports no module of the package that does (the tracer and the exporter are mvc.save's)
    imported = {a.name if isinstance(n, ast.ImportFrom) and n.module is None else n.module
                for n in ast.walk(tree(name)) if isinstance(n, ast.ImportFrom) and n.level == 1
                for a in n.names}
    assert not imported & {"_trace", "_export", "_fold", "_save"} or name == "__init__.py", imported


def test_the_checks_see_what_they_look_for():
    """The scanner itself: a private name, a private import and torch.fx are found."""
    src = "import torch\nimport torch.fx as fx\nfrom torch._C import foo\nx = torch._C._get_tracing_state\n"
    t = ast.parse(src)
    aliases = torch_aliases(t)
    assert aliases["fx"] == "torch.fx"
    found = []
    for n in ast.walk(t):
        if isinstance(n, ast.Attribute):
            d = dotted(n)
            if d and d[0] in aliases:
                found.append(".".join([aliases[d[0]]] + d[1:]))
    assert "torch._C._get_tracing_state" in found and any(private(u) for u in found)
    assert private("torch._C.foo") and not private("torch.nn.functional") and not private("torch.__version__")
