"""Optimizer state as part of a version (issue 14, item 8; docs/python.md "Resuming training"),
run by CTest as python.optimizer (environment as tests/python/test_load.py):

    PYTHONPATH=build/python MVC_BINARY=build/bin/mvc MVC_FIXTURE_DIR=build/fixtures MVC_SOURCE_DIR=. \\
        /usr/bin/python3 -m pytest tests/python/test_optimizer.py

A small real model is trained, saved with its optimizer (mvc.save(..., optimizer=opt)) and
committed twice; a new process that never saw the model's class rebuilds v1 (mvc.load) and its
optimizer (mvc.load_optimizer) and continues training: its losses are the original run's
continued from v1. The git CLI checks what is committed; mvc checkout, status and gc handle
the state file; bad input is refused with the CLI's exit codes.
"""
import copy
import json
import os
import subprocess
import sys
import tomllib

import pytest
import torch
from torch import nn

import mvc
from support import MVC, git, new_repo, run, sha256_of



class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(10, 32)
        self.fc2 = nn.Linear(32, 32)
        self.head = nn.Linear(32, 3)

    def forward(self, x):
        return self.head(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


# The training loop, shared with the resuming process (which must not see Net).
HELPERS = r'''
import torch
from torch import nn


def data():
    g = torch.Generator().manual_seed(7)
    return torch.randn(64, 10, generator=g), torch.randint(0, 3, (64,), generator=g)


def make_opt(kind, params, lr=None):
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr or 1e-2, betas=(0.8, 0.99), weight_decay=1e-4)
    return torch.optim.SGD(params, lr=lr or 5e-2, momentum=0.9, nesterov=True)


def train(model, opt, steps, start=0):
    """`steps` full-batch steps on the mini-batch `start + i` of the data; the losses (floats)."""
    x, y = data()
    losses = []
    model.train()
    for i in range(start, start + steps):
        xb, yb = x[(i * 16) % 64:(i * 16) % 64 + 16], y[(i * 16) % 64:(i * 16) % 64 + 16]
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses
'''
exec(HELPERS)


# What a resuming training script does, in a process that has never seen Net.
RESUME = HELPERS + r"""
import json, sys
import mvc
d, rev, kind = sys.argv[1], sys.argv[2], sys.argv[3]
model = mvc.load(d, rev=rev)
opt = make_opt(kind, model.parameters(), lr=0.5)  # the saved param groups replace lr
mvc.load_optimizer(opt, d, rev=rev, model=model)
print(json.dumps({"losses": train(model, opt, 3, start=3), "lr": opt.param_groups[0]["lr"]}))
"""


@pytest.fixture(params=["adam", "sgd"])
def trained(request, tmp_path):
    """A repository with models/clf at v1 (3 steps) and v2 (3 more), both with optimizer state;
    and the losses of the 3 steps after v1 in the original run."""
    kind = request.param
    root = new_repo(str(tmp_path / "repo"))
    d = os.path.join(root, "models", "clf")
    torch.manual_seed(0)
    model = Net()
    opt = make_opt(kind, model.parameters())
    train(model, opt, 3)
    mvc.save(model, d, torch.randn(2, 10), optimizer=opt)
    mvc.commit(d, "v1", tag="v1")
    at_v1 = copy.deepcopy({"model": model, "opt": opt})  # the optimizer keeps pointing at its model
    after = train(model, opt, 3, start=3)
    mvc.save(model, d, torch.randn(2, 10), optimizer=opt)
    mvc.commit(d, "v2", tag="v2")
    return {"kind": kind, "root": root, "dir": d, "after_v1": after, "at_v1": at_v1, "final": opt}


def test_a_new_process_resumes_training_from_v1_exactly(trained):
    r = subprocess.run([sys.executable, "-c", RESUME, trained["dir"], "v1", trained["kind"]],
                       capture_output=True, text=True, cwd=trained["root"])
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout.strip().splitlines()[-1])
    print(f"{trained['kind']}: original after v1 {trained['after_v1']}, resumed {got['losses']}")
    assert got["lr"] == trained["at_v1"]["opt"].param_groups[0]["lr"]
    for a, b in zip(got["losses"], trained["after_v1"]):
        assert abs(a - b) <= 1e-6 * max(1.0, abs(b))
    assert len(got["losses"]) == 3


RESUME_AND_SAVE = HELPERS + r"""
import json, sys
import torch
import mvc
d, kind = sys.argv[1], sys.argv[2]
model = mvc.load(d, rev="v1")
opt = make_opt(kind, model.parameters())
mvc.load_optimizer(opt, d, rev="v1", model=model)
train(model, opt, 3, start=3)
mvc.save(model, d, torch.randn(2, 10), optimizer=opt)
mvc.commit(d, "v3: resumed from v1", tag="v3")
print(json.dumps(model(torch.ones(1, 10)).tolist()))
"""


def test_a_resumed_model_is_saved_and_committed_again_without_its_class(trained):
    """The resumed run's module came from mvc.load (no class to trace): mvc.save writes the
    arch.toml it was built from again, byte for byte, with the weights and state trained since,
    and mvc commit records them."""
    root, d = trained["root"], trained["dir"]
    run([MVC, "checkout", "v1", "--", "models/clf"], root)  # the work tree at v1: the save must write
    assert git(["diff", "--name-only", "v1", "--", "models/clf"], root) == ""
    with open(os.path.join(d, "arch.toml")) as f:
        arch = f.read()
    r = subprocess.run([sys.executable, "-c", RESUME_AND_SAVE, d, trained["kind"]], capture_output=True, text=True,
                       cwd=root)
    assert r.returncode == 0, r.stderr
    assert git(["show", "v3:models/clf/arch.toml"], root) == arch
    # Resumed from v1 for the original run's next 3 steps, it trained to v2's very bytes: the
    # weights and the optimizer state that v3 records are v2's (same pointer, same optimizer.toml).
    assert git(["rev-parse", "v3"], root) != git(["rev-parse", "v2"], root)
    assert git(["diff", "--name-only", "v2", "v3"], root) == ""
    v3 = mvc.load(d, rev="v3")
    for (k, a), (k3, b) in zip(mvc.load(d, rev="v1").state_dict().items(), v3.state_dict().items()):
        assert k == k3 and not torch.equal(a, b), k  # trained since v1
    with torch.no_grad():
        assert json.loads(r.stdout.strip().splitlines()[-1]) == v3(torch.ones(1, 10)).tolist()


def test_load_optimizer_gives_the_saved_state_dict(trained):
    model = mvc.load(trained["dir"], rev="v2")
    opt = make_opt(trained["kind"], model.parameters(), lr=0.5)
    assert mvc.load_optimizer(opt, trained["dir"], rev="v2") is opt
    want, got = trained["final"].state_dict(), opt.state_dict()
    assert got["param_groups"] == want["param_groups"]  # betas stay a tuple, foreach None
    assert sorted(got["state"]) == sorted(want["state"])
    for i, s in want["state"].items():
        assert sorted(got["state"][i]) == sorted(s)
        for k, v in s.items():
            assert torch.equal(got["state"][i][k], v), (i, k)


def test_the_state_is_committed_as_mvc_commits_weights(trained):
    root, d = trained["root"], trained["dir"]
    assert git(["ls-files", "models/clf"], root).split() == [
        "models/clf/.gitignore", "models/clf/arch.toml", "models/clf/optimizer.toml",
        "models/clf/weights.safetensors.mvc"]
    assert "/optimizer.safetensors" in git(["show", "HEAD:models/clf/.gitignore"], root).splitlines()
    ptr = tomllib.loads(git(["show", "v1:models/clf/weights.safetensors.mvc"], root))
    assert ptr["format"] == 3 and len(ptr["files"]) == 1
    assert ptr["files"][0]["path"] == "weights.safetensors"
    assert ptr["optimizer"]["path"] == "optimizer.safetensors" and ptr["optimizer"]["kind"] == "safetensors"
    groups = tomllib.loads(git(["show", "v1:models/clf/optimizer.toml"], root))
    assert groups["class"] == type(trained["final"]).__module__ + "." + type(trained["final"]).__qualname__
    assert [p["name"] for p in groups["params"]] == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias",
                                                    "head.weight", "head.bias"]
    assert groups["params"][0]["shape"] == [32, 10]
    # mvc checkout v1 restores both files, hash-verified; status is clean then
    run([MVC, "checkout", "v1", "--", "models/clf"], root)
    assert sha256_of(os.path.join(d, "optimizer.safetensors")) == ptr["optimizer"]["sha256"]
    assert open(os.path.join(d, "optimizer.toml")).read() == git(["show", "v1:models/clf/optimizer.toml"], root)
    st = run([MVC, "status"], root).stdout
    assert "optimizer" not in st and "weights" not in st, st  # only v1's pointer differs from HEAD (v2)
    os.unlink(os.path.join(d, "optimizer.safetensors"))
    assert "optimizer state missing" in run([MVC, "status"], root).stdout
    run([MVC, "checkout", "v1", "--", "models/clf"], root)
    assert sha256_of(os.path.join(d, "optimizer.safetensors")) == ptr["optimizer"]["sha256"]
    # gc keeps the state of every version: v2's still loads after it
    run([MVC, "checkout", "v2"], root)
    run([MVC, "gc"], root)
    run([MVC, "fsck"], root)
    model = mvc.load(d, rev="v1")
    mvc.load_optimizer(make_opt(trained["kind"], model.parameters()), d, rev="v1")


def test_a_save_without_optimizer_drops_the_old_state(trained, tmp_path):
    root, d = trained["root"], trained["dir"]
    model = Net()
    model.load_state_dict(mvc.load(d).state_dict())
    mvc.save(model, d, torch.randn(2, 10))
    assert not os.path.exists(os.path.join(d, "optimizer.safetensors"))
    assert not os.path.exists(os.path.join(d, "optimizer.toml"))
    mvc.commit(d, "no state", tag="v3")
    assert "optimizer.toml" not in git(["ls-files", "models/clf"], root)
    ptr = git(["show", "v3:models/clf/weights.safetensors.mvc"], root)
    assert ptr.startswith("format = 1\n") and "[optimizer]" not in ptr
    with pytest.raises(mvc.Error) as e:
        mvc.load_optimizer(make_opt(trained["kind"], model.parameters()), d, rev="v3")
    assert e.value.exit_code == 7
    assert "models/clf at v3: no optimizer state" in str(e.value)
    # checkout of a version with state brings it back; of one without, removes it
    run([MVC, "checkout", "v1"], root)
    assert os.path.exists(os.path.join(d, "optimizer.safetensors"))
    run([MVC, "checkout", "v3"], root)
    assert not os.path.exists(os.path.join(d, "optimizer.safetensors"))
    assert not os.path.exists(os.path.join(d, "optimizer.toml"))


def test_bad_input_is_refused_naming_what_does_not_fit(trained):
    d, kind = trained["dir"], trained["kind"]
    model = mvc.load(d, rev="v1")
    # another number of parameters
    fewer = make_opt(kind, list(model.parameters())[:-1])
    with pytest.raises(mvc.Error) as e:
        mvc.load_optimizer(fewer, d, rev="v1")
    assert e.value.exit_code == 7 and "param group 0 has 6 parameters, the optimizer's has 5" in str(e.value)
    # another class
    other = make_opt("sgd" if kind == "adam" else "adam", model.parameters())
    with pytest.raises(mvc.Error) as e:
        mvc.load_optimizer(other, d, rev="v1")
    assert e.value.exit_code == 7 and "optimizer state of torch.optim." in str(e.value)
    # the same count, other shapes: names the parameter
    wrong = nn.Sequential(nn.Linear(10, 32), nn.Linear(32, 32), nn.Linear(32, 4))
    with pytest.raises(mvc.Error) as e:
        mvc.load_optimizer(make_opt(kind, wrong.parameters()), d, rev="v1")
    assert e.value.exit_code == 7 and "parameter 4 ('head.weight') has shape [3, 32]" in str(e.value)
    # the model named: its parameter names must be the saved ones
    swapped = Net()
    opt = make_opt(kind, [swapped.fc1.weight, swapped.fc1.bias, swapped.fc2.weight, swapped.fc2.bias,
                          swapped.head.weight, swapped.head.bias])
    mvc.load_optimizer(opt, d, rev="v1", model=swapped)  # fits
    renamed = nn.Module()
    renamed.a, renamed.b, renamed.head = nn.Linear(10, 32), nn.Linear(32, 32), nn.Linear(32, 3)
    with pytest.raises(mvc.Error) as e:
        mvc.load_optimizer(make_opt(kind, renamed.parameters()), d, rev="v1", model=renamed)
    assert e.value.exit_code == 7 and "parameter 0 is 'fc1.weight' in the saved state, 'a.weight'" in str(e.value)
    # an unknown revision, a directory that is not a model's
    with pytest.raises(mvc.Error) as e:
        mvc.load_optimizer(opt, d, rev="nope")
    assert e.value.exit_code == 2
    # an optimizer over tensors that are not the module's is refused by save
    with pytest.raises(mvc.Error) as e:
        mvc.save(model, d, torch.randn(2, 10), optimizer=make_opt(kind, [nn.Parameter(torch.zeros(3))]))
    assert e.value.exit_code == 2 and "not a parameter of" in str(e.value)
    # a corrupted state object: exit 4, naming the object
    ptr = tomllib.loads(git(["show", "v1:models/clf/weights.safetensors.mvc"], trained["root"]))
    sha = ptr["optimizer"]["sha256"]
    cache = os.path.join(trained["root"], ".git", "mvc", "cache")
    obj = os.path.join(cache, "objects", "sha256", sha[:2], sha[2:])
    if os.path.exists(obj):
        os.chmod(obj, 0o644)
        with open(obj, "r+b") as f:
            f.seek(-1, os.SEEK_END)
            b = f.read(1)
            f.seek(-1, os.SEEK_END)
            f.write(bytes([b[0] ^ 1]))
        with pytest.raises(mvc.Error) as e:
            mvc.load_optimizer(make_opt(kind, model.parameters()), d, rev="v1")
        assert e.value.exit_code == 4 and sha in str(e.value)


def test_a_wrapping_checkpoint_committed_with_key_keeps_its_optimizer(tmp_path):
    root = new_repo(str(tmp_path / "repo"))
    d = os.path.join(root, "models", "clf")
    torch.manual_seed(0)
    model = Net()
    opt = make_opt("adam", model.parameters())
    train(model, opt, 2)
    mvc.save(model, d, torch.randn(2, 10))
    os.unlink(os.path.join(d, "weights.safetensors"))
    torch.save({"epoch": 2, "model_state_dict": model.state_dict(), "optimizer_state_dict": opt.state_dict()},
               os.path.join(d, "model.pt"))
    run([MVC, "commit", "models/clf", "-m", "checkpoint", "--key", "model_state_dict", "--tag", "ck"], root)
    m2 = mvc.load(d, rev="ck")
    o2 = make_opt("adam", m2.parameters(), lr=0.5)
    mvc.load_optimizer(o2, d, rev="ck")
    assert o2.state_dict()["param_groups"] == opt.state_dict()["param_groups"]
    for i, s in opt.state_dict()["state"].items():
        for k, v in s.items():
            assert torch.equal(o2.state_dict()["state"][i][k], v)
    # a checkpoint without an optimizer entry: exit 7
    torch.save({"model_state_dict": model.state_dict()}, os.path.join(d, "model.pt"))
    run([MVC, "commit", "models/clf", "-m", "weights only", "--tag", "ck2"], root)
    with pytest.raises(mvc.Error) as e:
        mvc.load_optimizer(o2, d, rev="ck2")
    assert e.value.exit_code == 7 and "no optimizer state" in str(e.value)
