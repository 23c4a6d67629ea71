"""mvc.load of sharded weights (docs/python.md), run by CTest as python.load_shards with Debian's
python3 (environment as tests/python/test_load.py says).

The zoo's resnet18 (the weights PyTorch saved: tests/fixtures/zoo.py) split into two shards as
Hugging Face saves them (tests/fixtures/generate.py's write_shards: model-0000K-of-00002.safetensors
and model.safetensors.index.json), committed with the mvc CLI in a real repository (tag v1), then
its second shard changed and committed again. mvc.load(dir, rev="v1") must load the union of the
shards, verified, to PyTorch's outputs.
"""
import os
import shutil

import pytest
import torch

import mvc
from mvc import _torch_build
from support import FIXTURES, MVC, ZOO, new_repo, run

from generate import write_shards  # noqa: E402

CASE = "resnet18"
SHARD1 = "model-00001-of-00002.safetensors"
SHARD2 = "model-00002-of-00002.safetensors"


def read(path):
    return _torch_build.read_safetensors(path, path)


def halves(state):
    """The state dict in two groups of tensors, in its order (the second half in shard 2)."""
    keys = list(state)
    return [{k: state[k] for k in keys[: len(keys) // 2]}, {k: state[k] for k in keys[len(keys) // 2:]}]


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """v1: resnet18 in two shards with an index (tag v1); v2 (HEAD, the work tree): shard 2's
    floating-point tensors doubled."""
    root = str(tmp_path_factory.mktemp("shards") / "repo")
    new_repo(root)
    d = os.path.join(root, "models", CASE)
    os.makedirs(d)
    for f in ("arch.toml", "hparams.toml"):
        if os.path.exists(os.path.join(ZOO, CASE, f)):
            shutil.copy(os.path.join(ZOO, CASE, f), d)
    groups = halves(read(os.path.join(FIXTURES, CASE, "weights.safetensors")))
    write_shards(d, groups, index=True)
    run([MVC, "commit", f"models/{CASE}", "-m", "v1", "--tag", "v1"], root)
    assert os.path.exists(os.path.join(d, "model.safetensors.mvc"))
    groups[1] = {k: t * 2 if t.is_floating_point() else t for k, t in groups[1].items()}
    write_shards(d, groups, index=True)
    run([MVC, "commit", f"models/{CASE}", "-m", "v2: shard 2 doubled"], root)
    return root


def test_load_of_sharded_weights_at_a_tag_matches_pytorch(repo, elsewhere):
    m = mvc.load(os.path.join(repo, "models", CASE), rev="v1")
    assert m.training is False
    saved = read(os.path.join(FIXTURES, CASE, "weights.safetensors"))
    state = m.state_dict()
    assert sorted(state) == sorted(saved)
    for k, t in state.items():
        assert torch.equal(t, saved[k]), k
    inputs = read(os.path.join(FIXTURES, CASE, "input.safetensors"))
    want = read(os.path.join(FIXTURES, CASE, "output.safetensors"))
    with torch.no_grad():
        out = m(*[inputs[n] for n in m.input_names])
    outs = out if isinstance(out, tuple) else (out,)
    assert len(outs) == len(want)
    for i, y in enumerate(outs):
        assert (y - want[f"y{i}"]).abs().max().item() <= 1e-5


def test_load_of_sharded_weights_reads_each_version_and_the_work_tree(repo, elsewhere):
    saved = read(os.path.join(FIXTURES, CASE, "weights.safetensors"))
    first, second = halves(saved)
    path = os.path.join(repo, "models", CASE)
    for rev in ("HEAD", "main", None):  # v2: shard 2 doubled, shard 1 as saved
        state = mvc.load(path, rev=rev).state_dict()
        for k in first:
            assert torch.equal(state[k], saved[k]), (rev, k)
        for k, t in second.items():
            assert torch.equal(state[k], t * 2 if t.is_floating_point() else t), (rev, k)
    # v1 from its objects even though the work tree's shard 2 is v2's.
    state = mvc.load(path, rev="v1").state_dict()
    for k in second:
        assert torch.equal(state[k], saved[k]), k


def test_load_of_a_shard_missing_everywhere_is_exit_5(repo, tmp_path, elsewhere):
    clone = str(tmp_path / "clone")
    run(["git", "clone", "-q", repo, clone], str(tmp_path))
    with pytest.raises(mvc.Error) as e:
        mvc.load(os.path.join(clone, "models", CASE), rev="v1")
    assert e.value.exit_code == 5
    assert "model-0000" in str(e.value)


def test_a_tensor_in_two_work_tree_shards_is_exit_7_naming_both(tmp_path, elsewhere):
    root = str(tmp_path / "repo")
    os.makedirs(root)
    run(["git", "init", "-q", "-b", "main"], root)
    run([MVC, "init"], root)
    d = os.path.join(root, "models", CASE)
    os.makedirs(d)
    for f in ("arch.toml", "hparams.toml"):
        if os.path.exists(os.path.join(ZOO, CASE, f)):
            shutil.copy(os.path.join(ZOO, CASE, f), d)
    saved = read(os.path.join(FIXTURES, CASE, "weights.safetensors"))
    first, second = halves(saved)
    k = next(iter(first))
    second[k] = first[k]
    write_shards(d, [first, second], index=False)
    with pytest.raises(mvc.Error) as e:
        mvc.load(d)
    assert e.value.exit_code == 7
    assert f"tensor '{k}' is in two shards: models/{CASE}/{SHARD1} and models/{CASE}/{SHARD2}" in str(e.value)
