"""mvc.load (python/mvc, docs/python.md), run by CTest as python.load with Debian's python3:

    PYTHONPATH=build/python MVC_BUILD_DIR=build MVC_BINARY=build/bin/mvc MVC_FIXTURE_DIR=build/fixtures \
        MVC_SOURCE_DIR=. /usr/bin/python3 -m pytest tests/python

A real repository made with the mvc CLI holds every parity case of tests/zoo (arch.toml, and the
weights PyTorch saved: tests/fixtures/zoo.py), committed and tagged v1, then changed (weights
doubled) and committed again. mvc.load(dir, rev="v1") from another directory must rebuild each
case, with no model class, to PyTorch's keys and outputs; errors carry the CLI's exit codes.
"""
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import torch

import mvc
from mvc import _torch_build
from support import FIXTURES, MVC, ZOO, new_repo, put_case, run

from generate import write_safetensors  # noqa: E402

CASES = sorted(d for d in os.listdir(ZOO) if os.path.exists(os.path.join(ZOO, d, "model.py")))
# arch.toml writes transformer's pre-norm norm1 before self_attn (as forward runs them), where
# nn.TransformerEncoderLayer registers self_attn first: same tensors, another state_dict order.
OTHER_ORDER = {"transformer"}


def make_repo(root, cases):
    new_repo(root)
    for case in cases:
        put_case(root, case)
    return root


def read(path):
    return _torch_build.read_safetensors(path, path)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """v1: every zoo case as PyTorch saved it (tag v1); v2 (HEAD, the work tree): weights doubled."""
    root = make_repo(str(tmp_path_factory.mktemp("py") / "repo"), CASES)
    dirs = [f"models/{c}" for c in CASES]
    run([MVC, "commit", *dirs, "-m", "v1", "--tag", "v1"], root)
    for c in CASES:
        w = os.path.join(root, "models", c, "weights.safetensors")
        write_safetensors(w, {k: t * 2 if t.is_floating_point() else t for k, t in read(w).items()})
    run([MVC, "commit", *dirs, "-m", "v2: weights doubled"], root)
    return root


@pytest.mark.parametrize("case", CASES)
def test_load_at_a_tag_matches_pytorch(repo, elsewhere, case):
    path = os.path.relpath(os.path.join(repo, "models", case))  # relative to another directory
    assert path.startswith("..")
    m = mvc.load(path, rev="v1")
    assert isinstance(m, torch.nn.Module)
    assert m.training is False
    assert all(not x.training for x in m.modules())

    # The keys PyTorch's own model has (tests/fixtures/zoo.py's state.json), in its order.
    with open(os.path.join(FIXTURES, case, "state.json")) as f:
        want = [(k, shape, dtype) for k, shape, dtype in json.load(f)]
    got = [(k, list(t.shape), str(t.dtype).replace("torch.", "")) for k, t in m.state_dict().items()]
    if case in OTHER_ORDER:
        assert sorted(got) == sorted(want)
    else:
        assert got == want
    # Always the order the C++ core expects (expected_state_dict), the LibTorch side's order.
    def text(f):
        p = os.path.join(ZOO, case, f)
        return open(p).read() if os.path.exists(p) else ""
    desc = mvc.describe(text("arch.toml"), text("hparams.toml"))
    # A tied key (mvc.arch/2 `ties`) is in the module's state_dict, not in the file's.
    source = {t["key"]: t["source"] for t in desc["ties"]}
    assert [k for k, _, _ in got if k not in source] == [e["key"] for e in desc["state_dict"]]

    # The weights are v1's exactly, not the work tree's (v2); a tied key is its source's tensor.
    saved = read(os.path.join(FIXTURES, case, "weights.safetensors"))
    for k, t in m.state_dict().items():
        assert torch.equal(t, saved[source.get(k, k)]), k
    for key, src in source.items():
        assert m.get_parameter(key) is m.get_parameter(src)

    # PyTorch's eval outputs (y0, y1, ... in arch.toml's order) on the fixture's inputs.
    inputs = read(os.path.join(FIXTURES, case, "input.safetensors"))
    want_out = read(os.path.join(FIXTURES, case, "output.safetensors"))
    with torch.no_grad():
        out = m(*[inputs[n] for n in m.input_names])
    outs = out if isinstance(out, tuple) else (out,)
    assert len(outs) == len(want_out)
    for i, y in enumerate(outs):
        w = want_out[f"y{i}"]
        assert y.shape == w.shape and y.dtype == w.dtype
        if y.is_floating_point():
            diff = (y - w).abs().max().item()
            print(f"{case} y{i}: max abs diff {diff:.3g}")
            assert diff <= 1e-5
        else:
            assert torch.equal(y, w)


def test_load_without_rev_reads_the_work_tree_and_with_a_commit_id(repo, elsewhere):
    path = os.path.join(repo, "models", "mlp")
    saved = read(os.path.join(FIXTURES, "mlp", "weights.safetensors"))
    now = mvc.load(path)  # the work tree: v2's doubled weights
    for k, t in now.state_dict().items():
        assert torch.equal(t, saved[k] * 2 if t.is_floating_point() else saved[k]), k
    commit = run(["git", "rev-parse", "HEAD~1"], repo).stdout.strip()
    for rev in (commit, commit[:10], "v1", "main~1"):
        m = mvc.load(path, rev=rev)
        assert torch.equal(m.state_dict()["linear1.weight"], saved["linear1.weight"]), rev
    head = mvc.load(path, rev="main")
    assert torch.equal(head.state_dict()["linear1.weight"], saved["linear1.weight"] * 2)


def test_load_takes_a_device(repo, elsewhere):
    m = mvc.load(os.path.join(repo, "models", "lenet"), rev="v1", device="cpu")
    assert {p.device.type for p in m.parameters()} == {"cpu"}
    m = mvc.load(pathlib.Path(repo) / "models" / "lenet", rev="v1", device=torch.device("cpu"))
    assert m.training is False


def error_of(*args, **kw):
    with pytest.raises(mvc.Error) as e:
        mvc.load(*args, **kw)
    return e.value


def test_unknown_revision_is_a_usage_error(repo, elsewhere):
    e = error_of(os.path.join(repo, "models", "mlp"), rev="no-such-tag")
    assert e.exit_code == 2
    assert str(e) == "unknown revision 'no-such-tag'"
    assert isinstance(e, Exception)
    assert repr(e) == "Error(\"unknown revision 'no-such-tag'\")"
    assert f"{type(e).__module__}.{type(e).__name__}" == "mvc.Error"


def test_not_a_model_directory_is_a_usage_error(repo, elsewhere):
    e = error_of(os.path.join(repo, "models"), rev="v1")
    assert e.exit_code == 2
    assert str(e) == "models at v1: not a model directory (no arch.toml)"
    e = error_of(os.path.join(repo, "models", "nothing-here"))
    assert e.exit_code == 2
    assert "models/nothing-here: not a model directory" in str(e)


def test_an_empty_path_and_an_unusable_device_are_usage_errors(repo, elsewhere):
    e = error_of("")
    assert (e.exit_code, str(e)) == (2, "load: the path is empty: name a model directory")
    lenet = os.path.join(repo, "models", "lenet")
    e = error_of(lenet, rev="v1", device="tpu0")
    assert e.exit_code == 2
    assert str(e) == "load: device 'tpu0' is not usable here: Invalid device string: 'tpu0'"
    if not torch.cuda.is_available():
        e = error_of(lenet, rev="v1", device="cuda")
        assert e.exit_code == 2
        assert str(e).startswith("load: device 'cuda' is not usable here:")
    e = error_of(lenet, rev="v1", device=3.5)
    assert e.exit_code == 2 and str(e).startswith("load: device 3.5 is not usable here:")


def test_importing_mvc_leaves_torchs_own_errors_alone(tmp_path):
    # mvc's exception translator is local to mvc._core: torch's C++ errors stay RuntimeError.
    with pytest.raises(RuntimeError) as e:
        torch.save({}, str(tmp_path / "no-such-dir" / "x.pt"))
    assert not isinstance(e.value, mvc.Error)
    assert hasattr(torch.ops.aten, "no_such_op_at_all") is False


def test_outside_a_repository_is_not_repo(elsewhere):
    e = error_of(str(elsewhere), rev="v1")
    assert e.exit_code == 3
    assert "not a git repository" in str(e)


def lenet_repo(tmp_path):
    root = make_repo(str(tmp_path / "one"), ["lenet"])
    run([MVC, "commit", "models/lenet", "-m", "v1", "--tag", "v1"], root)
    with open(os.path.join(root, "models", "lenet", "weights.safetensors.mvc")) as f:
        sha = [l.split('"')[1] for l in f if l.startswith("sha256")][0]
    obj = os.path.join(root, ".git", "mvc", "cache", "objects", "sha256", sha[:2], sha[2:])
    assert os.path.exists(obj)
    return root, obj


def test_corrupted_cache_object_is_an_integrity_error(tmp_path, elsewhere):
    root, obj = lenet_repo(tmp_path)
    os.chmod(obj, 0o644)
    with open(obj, "r+b") as f:
        f.seek(100)
        f.write(b"\xff\xfe\xfd")
    e = error_of(os.path.join(root, "models", "lenet"), rev="v1")
    assert e.exit_code == 4
    sha = os.path.basename(os.path.dirname(obj)) + os.path.basename(obj)
    assert re.match(f"object {sha} is corrupt: its [0-9]+ bytes hash to [0-9a-f]{{64}} \\(.*/{sha[:2]}/{sha[2:]}\\)$", str(e)), str(e)
    # The CLI meets the same condition with the same code and message (one resolver).
    r = run([MVC, "run", "v1", "models/lenet", "--input", os.path.join(FIXTURES, "lenet", "input.safetensors"),
             "--output", str(tmp_path / "out.safetensors")], root, check=False)
    assert r.returncode == 4
    assert r.stderr.strip() == f"mvc: error: {e}"


def test_object_nowhere_is_missing(tmp_path, elsewhere):
    root, obj = lenet_repo(tmp_path)
    os.chmod(obj, 0o644)
    os.unlink(obj)
    os.unlink(os.path.join(root, "models", "lenet", "weights.safetensors"))
    e = error_of(os.path.join(root, "models", "lenet"), rev="v1")
    assert e.exit_code == 5
    assert "is not in the cache" in str(e)
    # The work tree's copy, when it holds exactly the committed bytes, is used instead.
    shutil.copy(os.path.join(FIXTURES, "lenet", "weights.safetensors"), os.path.join(root, "models", "lenet"))
    assert mvc.load(os.path.join(root, "models", "lenet"), rev="v1").training is False


def test_invalid_architecture_and_unfitting_weights_are_model_errors(tmp_path, elsewhere):
    root, _ = lenet_repo(tmp_path)
    d = os.path.join(root, "models", "lenet")
    with open(os.path.join(d, "arch.toml")) as f:
        text = f.read()
    with open(os.path.join(d, "arch.toml"), "w") as f:
        f.write(text.replace('type = "Conv2d"', 'type = "Conv3x"', 1))
    e = error_of(d)
    assert e.exit_code == 7
    assert "models/lenet/arch.toml:" in str(e) and "Conv3x" in str(e)
    # The committed version is untouched by the work tree's edit.
    assert mvc.load(d, rev="v1").training is False
    with open(os.path.join(d, "arch.toml"), "w") as f:
        f.write(text.replace("out_features = 10", "out_features = 11"))
    e = error_of(d)
    assert e.exit_code == 7
    assert "fc3.weight" in str(e) and "[10, 84]" in str(e)


def test_every_layer_type_is_mapped():
    types = {t["name"]: t for t in mvc._core.layer_types()}
    covered = _torch_build.covered_types()
    print("mapped to torch:", ", ".join(covered))
    assert sorted(types) == covered
    for name, t in types.items():
        # Parameter and Buffer are not operations: they register a tensor (TENSOR_TYPES).
        assert (name in _torch_build.MODULE_TYPES | _torch_build.TENSOR_TYPES) == t["module"], name


def test_an_unmapped_type_is_refused_naming_it():
    desc = mvc.describe('format = "mvc.arch/1"\nname = "t"\n[inputs]\nx = { shape = [2, 3] }\n'
                        '[[layers]]\nname = "fc"\ntype = "Linear"\nin_features = 3\nout_features = 4\n')
    desc["layers"][0]["type"] = "Frobnicate"
    with pytest.raises(mvc.Error) as e:
        _torch_build.build(desc)
    assert e.value.exit_code == 7
    assert "type 'Frobnicate' is not mapped to torch.nn" in str(e.value)
    desc["schema"] = "mvc.expanded/99"
    with pytest.raises(mvc.Error) as e:
        _torch_build.build(desc)
    assert "schema 'mvc.expanded/99'" in str(e.value)


def test_describe_errors_carry_the_position():
    with pytest.raises(mvc.Error) as e:
        mvc.describe('format = "mvc.arch/1"\nname = "t"\n[[layers]]\nname = "fc"\ntype = "Linear"\nin_features = 3\n', "")
    assert e.value.exit_code == 7
    assert str(e.value).startswith("arch.toml:")
    assert "out_features" in str(e.value)


def test_load_never_maps_libmvc_torch(repo, tmp_path):
    code = ("import mvc, sys\n"
            f"m = mvc.load({os.path.join(repo, 'models', 'resnet18')!r}, rev='v1')\n"
            "maps = open('/proc/self/maps').read()\n"
            "print('core' if 'libmvc_core' in maps else 'no-core', 'torch' if 'libmvc_torch' in maps else 'no-torch')\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=os.environ)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["core", "no-torch"]


def test_install_puts_the_package_where_debian_python_looks(repo, tmp_path):
    """cmake --install: /usr/local → lib/python3.X/dist-packages, /usr → lib/python3/dist-packages
    (both on Debian's python3's sys.path), any other prefix → lib/python3/dist-packages (on
    PYTHONPATH); the installed package imports and loads with the installed libmvc_core."""
    build = os.environ["MVC_BUILD_DIR"]
    v = f"{sys.version_info.major}.{sys.version_info.minor}"
    expected = {"/usr/local": f"lib/python{v}/dist-packages", "/usr": "lib/python3/dist-packages",
                "/opt/mvc": "lib/python3/dist-packages"}
    for prefix, pydir in expected.items():
        dest = tmp_path / prefix.strip("/").replace("/", "_")
        r = subprocess.run(["cmake", "--install", build, "--prefix", prefix], capture_output=True, text=True,
                           env={**os.environ, "DESTDIR": str(dest)})
        assert r.returncode == 0, r.stderr
        pkg = os.path.join(str(dest) + prefix, pydir, "mvc")
        assert sorted(f for f in os.listdir(pkg) if not f.startswith("_core")) == \
            ["__init__.py", "_errors.py", "_export.py", "_fold.py", "_optim.py", "_save.py", "_toml.py", "_torch_build.py",
             "_trace.py"], prefix
        assert any(f.startswith("_core.") and f.endswith(".so") for f in os.listdir(pkg)), prefix
    on_path = subprocess.run(["/usr/bin/python3", "-c", "import sys; print('\\n'.join(sys.path))"],
                             capture_output=True, text=True, env={}).stdout.split("\n")
    assert f"/usr/local/lib/python{v}/dist-packages" in on_path
    assert "/usr/lib/python3/dist-packages" in on_path

    site = str(tmp_path / "opt_mvc") + "/opt/mvc/lib/python3/dist-packages"
    code = ("import mvc\n"
            f"m = mvc.load({os.path.join(repo, 'models', 'lenet')!r}, rev='v1')\n"
            "core = [l.split()[-1] for l in open('/proc/self/maps') if 'libmvc_core' in l][0]\n"
            "print(mvc.__file__, core, m.training)\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, text=True,
                       env={**env, "PYTHONPATH": site}, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    init, core, training = r.stdout.split()
    assert init == site + "/mvc/__init__.py"
    assert core.startswith(str(tmp_path / "opt_mvc") + "/opt/mvc/lib/libmvc_core.so")
    assert training == "False"


def test_checkpoints_are_read_by_mvc_not_unpickled(tmp_path, elsewhere):
    """torch.save checkpoints (tests/fixtures/generate_checkpoints.py): a wrapping training
    checkpoint, DataParallel's "module." prefix and float16 weights loaded as float32 — read by
    mvc's restricted reader through the pointer's [load] table, via a temporary file that is
    removed."""
    ckpt = os.path.join(os.environ["MVC_FIXTURE_DIR"], "ckpt")
    root = make_repo(str(tmp_path / "ck"), [])
    cases = {"pt_wrapped": ["--key", "model_state_dict"], "pt_dp": ["--strip-prefix", "module."],
             "pt_fp16": ["--cast", "float32"]}
    for name, opts in cases.items():
        shutil.copytree(os.path.join(ckpt, name), os.path.join(root, "models", name))
        run([MVC, "commit", f"models/{name}", "-m", name, *opts], root)
    run(["git", "tag", "ck"], root)
    tmp = os.environ.get("TMPDIR", "/tmp")
    before = {f for f in os.listdir(tmp) if f.startswith("mvc-load-")}
    for name in cases:
        m = mvc.load(os.path.join(root, "models", name), rev="ck")
        want = read(os.path.join(ckpt, name + ".expected.safetensors"))
        got = m.state_dict()
        assert sorted(got) == sorted(want), name
        for k, t in got.items():
            assert t.dtype == torch.float32, (name, k)
            assert torch.equal(t, want[k].float()), (name, k)
    assert {f for f in os.listdir(tmp) if f.startswith("mvc-load-")} == before


def test_the_architecture_dtype_applies_to_floating_point_tensors_only():
    desc = mvc.describe('format = "mvc.arch/1"\nname = "t"\ndtype = "float64"\n[inputs]\nx = { shape = ["batch", 3] }\n'
                        '[[layers]]\nname = "fc"\ntype = "Linear"\nin_features = 3\nout_features = 4\n'
                        '[[layers]]\nname = "bn"\ntype = "BatchNorm1d"\nnum_features = 4\n')
    m = _torch_build.build(desc)
    got = [(k, str(t.dtype).replace("torch.", "")) for k, t in m.state_dict().items()]
    assert got == [(e["key"], e["dtype"]) for e in desc["state_dict"]]
    assert dict(got) == {"fc.weight": "float64", "fc.bias": "float64", "bn.weight": "float64", "bn.bias": "float64",
                         "bn.running_mean": "float64", "bn.running_var": "float64",
                         "bn.num_batches_tracked": "int64"}
    m.eval()
    with torch.no_grad():
        assert m(torch.ones(2, 3, dtype=torch.float64)).dtype == torch.float64
