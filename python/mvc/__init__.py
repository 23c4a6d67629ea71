"""mvc: version control for PyTorch models, from Python (docs/python.md).

    import mvc
    mvc.save(model, "models/clf", torch.randn(1, 10))  # arch.toml + weights, by tracing
    model = mvc.load("models/clf", rev="clf-v1")   # an nn.Module, in eval mode
    mvc.commit("models/clf", "lr 3e-4", tag="clf-v2")  # as `mvc commit`, in-process
    mvc.log("models/clf")                             # its versions, newest first

The architecture language is parsed and expanded only by mvc's C++ core (mvc._core, over the
torch-free libmvc_core); Python maps the expanded description (schema "mvc.expanded/1") to
torch.nn with the caller's own torch. No pickle, no user class, no eval.
"""
import json
import os

from . import _core
from ._errors import Error

__all__ = ["Error", "save", "load", "load_optimizer", "commit", "log", "describe", "__version__", "EXPANDED_SCHEMA"]
__version__ = _core.__version__
EXPANDED_SCHEMA = _core.EXPANDED_SCHEMA


def describe(arch_toml, hparams_toml=""):
    """The expanded description (a dict, schema "mvc.expanded/1") of an arch.toml text."""
    return json.loads(_core.describe(arch_toml, hparams_toml))


def save(module, path, example, hparams=None, metrics=None, dynamic=None, optimizer=None):
    """Writes the model directory `path`: arch.toml (by tracing `module` with torch.fx on
    `example`, a tensor or a tuple of tensors, one per forward parameter), weights.safetensors
    (mvc's canonical writer) and hparams.toml / metrics.toml when given (dicts). `dynamic` names
    the dimensions that vary ({"idx": {0: "batch", 1: "seq"}}; default: dim 0 of every input is
    "batch"). Before returning it rebuilds the module from what it wrote, as mvc.load does, and
    checks the outputs on `example` (max abs diff <= 1e-5, printed). Returns a dict: arch (the
    text), max_abs_diff, layers, tensors.

    Raises mvc.Error (exit code 7) naming the op, its module path and source line for what the
    architecture language cannot express (data-dependent control flow, an op or module outside
    the vocabulary, a custom autograd Function), listing all of them; nothing is written then.

    `optimizer`: a torch.optim.Optimizer over `module`'s parameters, whose state is written too
    (optimizer.safetensors: its tensors; optimizer.toml: its class, parameter names and shapes,
    param groups), so that `mvc commit` stores it with the version and `load_optimizer` resumes
    training from it. Without it, an optimizer state left by an earlier save is removed (it
    belongs to other weights). An optimizer of tensors that are not the module's parameters is
    refused (exit code 2)."""
    from . import _save  # imports torch

    return _save.save(module, path, example, hparams=hparams, metrics=metrics, dynamic=dynamic, optimizer=optimizer)


def load_optimizer(opt, path, rev=None, model=None):
    """Loads the optimizer state that the model directory `path` holds at revision `rev` (None:
    the work tree's files) into the existing optimizer `opt` (`opt.load_state_dict`), resolved
    and hash-verified as `load` resolves weights. Checked strictly first: the optimizer's class,
    its number of param groups and of parameters in each, each parameter's shape and, with
    `model` (the module `opt` optimizes), each parameter's state_dict name. A version committed
    from a torch.save checkpoint with a [load] key (`mvc commit --key`) gives the checkpoint's
    `optimizer_state_dict` / `optimizer` entry, read by mvc's restricted unpickler. Returns
    `opt`.

    Raises mvc.Error with the CLI's exit code: 2, 3, 4, 5 as `load`; 7 when the version has no
    optimizer state or it does not fit `opt` (naming the parameter or key)."""
    from . import _optim  # imports torch

    return _optim.load_optimizer(opt, path, rev=rev, model=model)


def load(path, rev=None, device=None):
    """The model directory `path` (inside an mvc repository; absolute or relative to the current
    directory) at revision `rev` (a commit, tag or branch; None: the work tree's files), rebuilt
    as a torch.nn.Module from its arch.toml, with its weights (hash-verified for a revision)
    loaded strictly, in eval mode, on `device` (None: the CPU).

    Raises mvc.Error with the CLI's exit code: 2 for an unknown revision or a directory that is
    not a model directory, an empty path or a device torch does not know, 3 outside an mvc
    repository, 4 for a corrupted cache object, 5 for weights in no cache, work tree or remote,
    7 for an invalid architecture or weights that do not fit it."""
    if rev is not None and not isinstance(rev, str):
        raise TypeError(f"rev must be a string or None, not {type(rev).__name__}")
    if not os.fspath(path):
        raise Error("load: the path is empty: name a model directory", 2)
    from . import _torch_build  # imports torch: only when a module is built

    device = _device(device)

    r = _core.resolve(os.fspath(path), rev)
    try:
        desc = json.loads(r["description"])
        with _torch_build.NoInit():  # every tensor is replaced by the strict load below
            module = _torch_build.build(desc)
        state = _read_weights(r)
    finally:
        if r["temporary"]:
            try:
                os.unlink(r["weights"])
            except OSError:
                pass
    _torch_build.load_state(module, state, desc, r["weights_name"], r["version"], r["cast"])
    # What it was built from, so that mvc.save can write this module again (it has no class to trace).
    module.arch_toml, module.hparams_toml = r["arch"], r["hparams"]
    module.eval()
    if device is not None:
        module.to(device)
    return module


def _read_weights(r):
    """{tensor name: tensor} of a resolved version's weights: the one file, or the union of its
    shards (r["shards"]: the files after the first; those converted here are deleted). A tensor
    in two shards (possible only in the work tree: commit refuses it) is mvc.Error 7 naming both."""
    from . import _torch_build

    try:
        state = _torch_build.read_safetensors(r["weights"], r["weights_name"])
        where = dict.fromkeys(state, r["weights_name"])
        for shard in r.get("shards", []):
            for k, t in _torch_build.read_safetensors(shard["path"], shard["name"]).items():
                if k in where:
                    raise Error(f"tensor '{k}' is in two shards: {where[k]} and {shard['name']}; "
                                "a tensor belongs to one shard", 7)
                where[k] = shard["name"]
                state[k] = t
        return state
    finally:
        for shard in r.get("shards", []):
            if shard["temporary"]:
                try:
                    os.unlink(shard["path"])
                except OSError:
                    pass


def _device(device):
    """`device` as a torch.device (None stays None); one torch does not know is mvc.Error 2."""
    if device is None:
        return None
    import torch

    try:
        d = torch.device(device)
        torch.empty(0, device=d)  # a device type this torch has but cannot use (no CUDA) fails here
    except (RuntimeError, TypeError, AssertionError) as e:
        raise Error(f"load: device {device!r} is not usable here: {str(e).splitlines()[0]}", 2) from None
    return d


def _paths(path):
    if isinstance(path, (list, tuple)):
        if not path:
            raise Error("commit: name at least one model directory", 2)
        return [os.fspath(p) for p in path]
    return [os.fspath(path)]


def commit(path, message, tag=None, weights=None, no_verify=False, example=None):
    """Records a version of the model directory `path` (or of each of a list of them; absolute
    or relative to the current directory) as `mvc commit PATH... -m MESSAGE` does, in this
    process, with the same C++ function: the weights are checked against arch.toml and stored
    in the cache, the pointer and .gitignore written, the model's files staged and committed
    with whatever else is staged; the repository's pre-commit, commit-msg and post-commit hooks
    run as git commit runs them (`no_verify=True` skips the first two, as `--no-verify` does).
    `tag`: an annotated tag on the new commit. `weights`: the weights file, when it is not
    weights.safetensors or the directory's only weights file (one model directory only).

    Returns a dict: commit (the full id, None when nothing changed: then nothing is committed,
    as the CLI's "nothing to commit"), short (7 hex digits, or None), branch, tag (the tag
    created, or None) and models: for each model directory its path (repository-relative),
    weights (path, sha256, size, kind, tensors, parameters: the pointer's fields, as mvc.log
    gives them), stored (True when the weights were stored anew, False when the cache already
    held them) and changed (its files differ from the previous commit).

    Raises mvc.Error with the CLI's exit code (2: not a model directory, a tag that exists;
    3: not an mvc repository; 6: the index is locked; 7: weights that do not fit arch.toml;
    1: a hook failed, anything else); nothing is changed then. `example` (recording a
    reproducibility example) needs LibTorch, which this package never loads: it is refused
    with exit code 2 (use `mvc commit --example FILE`)."""
    if example is not None:
        raise Error("commit: example= is not available from Python: recording an example runs the model with "
                    "LibTorch, which the package never loads; use the CLI: mvc commit --example FILE", 2)
    if not isinstance(message, str):
        raise TypeError(f"message must be a string, not {type(message).__name__}")
    if tag is not None and not isinstance(tag, str):
        raise TypeError(f"tag must be a string or None, not {type(tag).__name__}")
    return _core.commit(_paths(path), message, tag or "", "" if weights is None else os.fspath(weights),
                        bool(no_verify))


def log(path=None):
    """The versions of the model directory `path` (absolute or relative to the current
    directory), newest first: the commits reachable from HEAD in which it changed, as
    `mvc log PATH` lists them. `path=None`: every model directory at HEAD of the current
    directory's repository, model by model (each version names its model in "path").

    Each version is a dict, exactly a version of `mvc log --json` (the same C++ function makes
    both): path, commit, short, tags, date, timestamp, author, email, message, weights (path,
    sha256, size, kind, tensors, parameters; None without a pointer), hparams and metrics (the
    values of hparams.toml and metrics.toml at that commit as Python values in file order:
    int, float, bool, str, list, nested dict; {} when the file is absent; None, with
    "hparams_error" / "metrics_error" giving the parse error, when it is invalid).

    Raises mvc.Error (3: not an mvc repository; 2: a path outside the repository)."""
    doc = json.loads(_core.log(None if path is None else os.fspath(path)))
    return [v for m in doc["models"] for v in m["versions"]]
