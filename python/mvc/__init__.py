"""mvc: version control for PyTorch models, from Python (docs/python.md).

    import mvc
    model = mvc.load("models/clf", rev="clf-v1")   # an nn.Module, in eval mode

The architecture language is parsed and expanded only by mvc's C++ core (mvc._core, over the
torch-free libmvc_core); Python maps the expanded description (schema "mvc.expanded/1") to
torch.nn with the caller's own torch. No pickle, no user class, no eval.
"""
import json
import os

from . import _core
from ._errors import Error

__all__ = ["Error", "load", "describe", "__version__", "EXPANDED_SCHEMA"]
__version__ = _core.__version__
EXPANDED_SCHEMA = _core.EXPANDED_SCHEMA


def describe(arch_toml, hparams_toml=""):
    """The expanded description (a dict, schema "mvc.expanded/1") of an arch.toml text."""
    return json.loads(_core.describe(arch_toml, hparams_toml))


def load(path, rev=None, device=None):
    """The model directory `path` (inside an mvc repository; absolute or relative to the current
    directory) at revision `rev` (a commit, tag or branch; None: the work tree's files), rebuilt
    as a torch.nn.Module from its arch.toml, with its weights (hash-verified for a revision)
    loaded strictly, in eval mode, on `device` (None: the CPU).

    Raises mvc.Error with the CLI's exit code: 2 for an unknown revision or a directory that is
    not a model directory, 3 outside an mvc repository, 4 for a corrupted cache object, 5 for
    weights in no cache, work tree or remote, 7 for an invalid architecture or weights that do
    not fit it."""
    if rev is not None and not isinstance(rev, str):
        raise TypeError(f"rev must be a string or None, not {type(rev).__name__}")
    from . import _torch_build  # imports torch: only when a module is built

    r = _core.resolve(os.fspath(path), rev)
    try:
        desc = json.loads(r["description"])
        module = _torch_build.build(desc)
        state = _torch_build.read_safetensors(r["weights"], r["weights_name"])
    finally:
        if r["temporary"]:
            try:
                os.unlink(r["weights"])
            except OSError:
                pass
    _torch_build.load_state(module, state, desc, r["weights_name"], r["version"], r["cast"])
    module.eval()
    if device is not None:
        module.to(device)
    return module
