"""mvc.commit and mvc.log (python/mvc, docs/python.md), run by CTest as python.commit_log:

    PYTHONPATH=build/python MVC_BINARY=build/bin/mvc MVC_FIXTURE_DIR=build/fixtures MVC_SOURCE_DIR=. \\
        /usr/bin/python3 -m pytest tests/python/test_commit_log.py

They call the CLI's own C++ functions in-process (core::commit_models, core::model_log and
core::log_json). Each test makes a real repository with the mvc CLI, holding the zoo's mlp as
models/clf, and checks what mvc.commit did with the git CLI, and that mvc.log is exactly what
`mvc log --json` prints. Errors carry the CLI's exit codes and change nothing.
"""
import json
import os
import shutil
import stat
import subprocess
import sys
import threading

import pytest

import mvc
from support import FIXTURES, MVC, ZOO, git, new_repo, put_case, run, sha256_of



def change_weights(path):
    """Other weights for the same architecture: the last byte of the data section changed."""
    with open(path, "r+b") as f:
        f.seek(-1, os.SEEK_END)
        b = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([b[0] ^ 0x01]))


def snapshot(root, cache=True):
    """Everything a commit could change: the work tree's files (bytes and mode), the cache's
    objects (unless cache=False), refs, HEAD, the index's entries and git status."""
    files = {}
    for base, dirs, names in os.walk(root):
        rel = os.path.relpath(base, root)
        if rel == ".git":
            dirs[:] = [d for d in dirs if d == "mvc" and cache]  # the cache, not git's own bookkeeping
            continue
        for n in names:
            p = os.path.join(base, n)
            st = os.lstat(p)
            with open(p, "rb") as f:
                files[os.path.relpath(p, root)] = (f.read(), stat.S_IMODE(st.st_mode))
    files.pop(os.path.join(".mvc", "state", "stat-cache"), None)  # derived state
    return (files, run(["git", "show-ref", "--head"], root, check=False).stdout, git(["ls-files", "-s"], root),
            git(["status", "--porcelain"], root))


@pytest.fixture
def repo(tmp_path):
    """A repository made with the CLI (git init, mvc init) holding the zoo's mlp as models/clf,
    not committed yet."""
    root = str(tmp_path / "repo")
    new_repo(root)
    put_case(root, "mlp", "models/clf")
    return root


def cli_log(root, *args):
    return json.loads(run([MVC, "log", *args, "--json"], root).stdout)


def expected_counts():
    """tensors and parameters of the zoo's mlp, from the core's expanded description."""
    with open(os.path.join(ZOO, "mlp", "arch.toml")) as a, open(os.path.join(ZOO, "mlp", "hparams.toml")) as h:
        desc = mvc.describe(a.read(), h.read())
    params = 0
    for e in desc["state_dict"]:
        if not e["buffer"]:
            n = 1
            for s in e["shape"]:
                n *= s
            params += n
    return len(desc["state_dict"]), params


def test_commit_records_a_version_that_git_shows(repo, elsewhere):
    path = os.path.relpath(os.path.join(repo, "models", "clf"))  # relative to another directory
    assert path.startswith("..")
    weights = os.path.join(repo, "models", "clf", "weights.safetensors")
    sha = sha256_of(weights)
    tensors, parameters = expected_counts()

    r = mvc.commit(path, "baseline", tag="clf-v1")

    head = git(["rev-parse", "HEAD"], repo).strip()
    assert r == {
        "commit": head, "short": head[:7], "branch": "main", "tag": "clf-v1",
        "models": [{"path": "models/clf", "stored": True, "changed": True,
                    "weights": {"path": "weights.safetensors", "sha256": sha, "size": os.path.getsize(weights),
                                "kind": "safetensors", "tensors": tensors, "parameters": parameters,
                                "digest": sha,  # one file: its sha256
                                "files": [{"path": "weights.safetensors", "kind": "safetensors",
                                           "size": os.path.getsize(weights), "tensors": tensors, "sha256": sha}]}}],
    }
    assert (tensors, parameters) == (4, 241)
    # git sees the commit, the pointer (not the weights), the .gitignore and the annotated tag.
    assert git(["log", "--format=%s|%an|%ae"], repo) == "baseline|Test User|test@example.com\n"
    assert git(["show", "--name-only", "--format=", "HEAD"], repo).split() == [
        ".mvc/.gitignore", ".mvc/config.toml", "models/clf/.gitignore", "models/clf/arch.toml", "models/clf/hparams.toml",
        "models/clf/weights.safetensors.mvc"]
    pointer = git(["show", "HEAD:models/clf/weights.safetensors.mvc"], repo)
    assert f'sha256 = "{sha}"' in pointer
    assert f"parameters = {parameters}" in pointer
    assert git(["cat-file", "-t", "clf-v1"], repo) == "tag\n"
    assert git(["rev-parse", "clf-v1^{commit}"], repo).strip() == head
    assert git(["status", "--porcelain"], repo) == ""
    assert sha256_of(os.path.join(repo, ".git", "mvc", "cache", "objects", "sha256", sha[:2], sha[2:])) == sha
    # The CLI reads what mvc.commit wrote.
    assert run([MVC, "status"], repo).stdout.split() == ["models/clf:", "clean"]

    # The same weights again under another message: nothing to commit, as the CLI says, and
    # nothing changes.
    before = snapshot(repo)
    r = mvc.commit(path, "again")
    assert r["commit"] is None and r["short"] is None and r["tag"] is None
    assert r["models"][0]["stored"] is False and r["models"][0]["changed"] is False
    assert r["models"][0]["weights"]["sha256"] == sha
    assert snapshot(repo) == before
    assert "nothing to commit: models/clf is unchanged" in run([MVC, "commit", "models/clf", "-m", "again"],
                                                              repo).stdout


def test_commit_takes_paths_and_a_weights_file(repo, elsewhere):
    put_case(repo, "lenet", "models/cnn")
    os.rename(os.path.join(repo, "models", "cnn", "weights.safetensors"),
              os.path.join(repo, "models", "cnn", "best.safetensors"))
    r = mvc.commit([os.path.join(repo, "models", "clf"), os.path.join(repo, "models", "cnn")], "two models")
    assert [m["path"] for m in r["models"]] == ["models/clf", "models/cnn"]
    assert r["models"][1]["weights"]["path"] == "best.safetensors"
    assert git(["show", "HEAD:models/cnn/.gitignore"], repo).splitlines()[-1] == "/best.safetensors"

    # weights= names the file when the directory holds several.
    shutil.copy(os.path.join(repo, "models", "clf", "weights.safetensors"),
                os.path.join(repo, "models", "clf", "other.safetensors"))
    change_weights(os.path.join(repo, "models", "clf", "other.safetensors"))
    r = mvc.commit(os.path.join(repo, "models", "clf"), "other file",
                   weights=os.path.join(repo, "models", "clf", "other.safetensors"))
    assert r["models"][0]["weights"]["path"] == "other.safetensors"
    assert git(["ls-files", "models/clf"], repo).split() == [
        "models/clf/.gitignore", "models/clf/arch.toml", "models/clf/hparams.toml", "models/clf/other.safetensors.mvc"]


def test_log_is_exactly_the_cli_json(repo, elsewhere, monkeypatch):
    d = os.path.join(repo, "models", "clf")
    mvc.commit(d, "baseline", tag="clf-v1")
    change_weights(os.path.join(d, "weights.safetensors"))
    with open(os.path.join(d, "metrics.toml"), "w") as f:
        f.write("loss = 0.125\naccuracy = 0.5\n")
    mvc.commit(d, "lr 3e-4\n\nlonger description")
    put_case(repo, "lenet", "models/cnn")
    mvc.commit(os.path.join(repo, "models", "cnn"), "cnn")

    versions = mvc.log(os.path.relpath(d))
    cli = cli_log(repo, "models/clf")
    assert versions == cli["models"][0]["versions"]
    assert [v["message"] for v in versions] == ["lr 3e-4", "baseline"]
    assert [v["tags"] for v in versions] == [[], ["clf-v1"]]
    assert versions[0]["commit"] == git(["rev-parse", "HEAD~1"], repo).strip()
    assert versions[0]["metrics"] == {"loss": 0.125, "accuracy": 0.5}
    assert versions[1]["metrics"] == {}
    assert versions[0]["weights"]["sha256"] == sha256_of(os.path.join(d, "weights.safetensors"))
    assert versions[0]["weights"]["sha256"] != versions[1]["weights"]["sha256"]
    assert versions[0]["author"] == "Test User" and versions[0]["email"] == "test@example.com"
    assert versions[0]["timestamp"] == int(git(["log", "-1", "--format=%at", "HEAD~1"], repo))
    assert versions[0]["date"] == git(["log", "-1", "--format=%ad", "--date=format:%Y-%m-%d %H:%M:%S %z", "HEAD~1"],
                                      repo).strip()

    # path=None: every model at HEAD, model by model, from the current directory's repository.
    monkeypatch.chdir(os.path.join(repo, "models"))
    every = mvc.log()
    assert every == [v for m in cli_log(repo)["models"] for v in m["versions"]]
    assert [(v["path"], v["message"]) for v in every] == [
        ("models/clf", "lr 3e-4"), ("models/clf", "baseline"), ("models/cnn", "cnn")]


def test_log_gives_hparams_and_metrics_as_python_values(repo, elsewhere):
    d = os.path.join(repo, "models", "clf")
    with open(os.path.join(d, "hparams.toml"), "a") as f:
        f.write("lr = 0.05\n[schedule]\nwarmup = true\nmilestones = [30, 60]\n")
    with open(os.path.join(d, "metrics.toml"), "w") as f:
        f.write('val_loss = 0.25\nepoch = 12\nbest = false\nnote = "ok"\nwhen = 2026-11-29\n[eval]\ntop1 = 0.75\n')
    mvc.commit(d, "typed")
    # An invalid metrics.toml, committed with git (mvc commit does not read metrics.toml).
    with open(os.path.join(d, "metrics.toml"), "w") as f:
        f.write("val_loss = = 1\n")
    git(["commit", "-q", "-am", "broken metrics"], repo)

    v = mvc.log(d)
    assert v == cli_log(repo, "models/clf")["models"][0]["versions"]
    hp = v[1]["hparams"]
    assert hp == {"input_size": 10, "hidden_size": 20, "lr": 0.05,
                  "schedule": {"warmup": True, "milestones": [30, 60]}}
    assert list(hp) == ["input_size", "hidden_size", "lr", "schedule"]  # file order
    assert type(hp["input_size"]) is int and type(hp["lr"]) is float
    assert hp["schedule"]["warmup"] is True
    m = v[1]["metrics"]
    assert m == {"val_loss": 0.25, "epoch": 12, "best": False, "note": "ok", "when": "2026-11-29",
                 "eval": {"top1": 0.75}}
    assert list(m) == ["val_loss", "epoch", "best", "note", "when", "eval"]
    assert type(m["epoch"]) is int and m["best"] is False
    assert "metrics_error" not in v[1]
    assert v[0]["message"] == "broken metrics"
    assert v[0]["metrics"] is None
    assert v[0]["metrics_error"].startswith(f"models/clf/metrics.toml at {v[0]['short']}:1:")
    assert v[0]["hparams"] == hp


def test_log_of_a_repository_without_commits_and_outside_one(repo, elsewhere, tmp_path):
    assert mvc.log(os.path.join(repo, "models", "clf")) == []
    os.makedirs(tmp_path / "plain")
    with pytest.raises(mvc.Error) as e:
        mvc.log(str(tmp_path / "plain"))
    assert e.value.exit_code == 3
    assert run([MVC, "log"], tmp_path / "plain", check=False).returncode == 3


def test_errors_carry_the_cli_exit_codes_and_change_nothing(repo, elsewhere, tmp_path):
    d = os.path.join(repo, "models", "clf")
    mvc.commit(d, "baseline", tag="clf-v1")
    change_weights(os.path.join(d, "weights.safetensors"))

    def refused(code, call, cli_args=None):
        before = snapshot(repo)
        with pytest.raises(mvc.Error) as e:
            call()
        assert e.value.exit_code == code, str(e.value)
        assert snapshot(repo) == before
        if cli_args is not None:  # the CLI's message for the same call, byte for byte
            r = run([MVC, *cli_args], repo, check=False)
            assert (r.returncode, r.stderr) == (code, f"mvc: error: {e.value}\n")
            assert snapshot(repo) == before
        return str(e.value)

    # Not a model directory: 2.
    os.makedirs(os.path.join(repo, "notes"))
    msg = refused(2, lambda: mvc.commit(os.path.join(repo, "notes"), "x"), ["commit", "notes", "-m", "x"])
    assert msg == "notes: not a model directory (no arch.toml)"
    # Weights that do not fit the architecture: 7, nothing stored.
    shutil.copy(os.path.join(FIXTURES, "lenet", "weights.safetensors"), os.path.join(d, "weights.safetensors"))
    msg = refused(7, lambda: mvc.commit(d, "wrong weights"), ["commit", "models/clf", "-m", "wrong weights"])
    assert msg.startswith("models/clf/weights.safetensors")
    shutil.copy(os.path.join(FIXTURES, "mlp", "weights.safetensors"), os.path.join(d, "weights.safetensors"))
    change_weights(os.path.join(d, "weights.safetensors"))
    # A tag that exists: 2.
    msg = refused(2, lambda: mvc.commit(d, "v2", tag="clf-v1"), ["commit", "models/clf", "-m", "v2", "--tag", "clf-v1"])
    assert msg == "tag 'clf-v1' already exists"
    # No message, no path: 2.
    refused(2, lambda: mvc.commit(d, ""))
    refused(2, lambda: mvc.commit([], "x"))
    # A path outside the repository: 2.
    os.makedirs(tmp_path / "outside" / "clf")
    put_case(str(tmp_path / "outside"), "mlp", "clf")
    msg = refused(2, lambda: mvc.commit([d, str(tmp_path / "outside" / "clf")], "x"))
    assert msg.startswith(f"{tmp_path / 'outside' / 'clf'}: outside the repository at {repo}")
    # An example needs LibTorch: refused, 2, naming the CLI's option.
    msg = refused(2, lambda: mvc.commit(d, "x", example=os.path.join(FIXTURES, "mlp", "input.safetensors")))
    assert "mvc commit --example" in msg
    # Not an mvc repository: 3.
    with pytest.raises(mvc.Error) as e:
        mvc.commit(str(tmp_path / "outside" / "clf"), "x")
    assert e.value.exit_code == 3
    # Wrong types: TypeError, before anything happens.
    with pytest.raises(TypeError):
        mvc.commit(d, b"bytes")

    # Then the same call succeeds.
    assert mvc.commit(d, "v2", tag="clf-v2")["tag"] == "clf-v2"


def write_hook(repo, name, body):
    p = os.path.join(repo, ".git", "hooks", name)
    with open(p, "w") as f:
        f.write("#!/bin/sh\n" + body)
    os.chmod(p, 0o755)


def test_hooks_run_as_the_cli_runs_them(repo, elsewhere):
    d = os.path.join(repo, "models", "clf")
    # A failing pre-commit hook stops the commit (1), as with the CLI; no_verify skips it.
    # (The weights object stored before the hooks run stays in the cache, as with the CLI:
    # objects are immutable, and one no commit references is harmless.)
    write_hook(repo, "pre-commit", "echo 'pre-commit says no' >&2\nexit 3\n")
    before = snapshot(repo, cache=False)
    with pytest.raises(mvc.Error) as e:
        mvc.commit(d, "baseline")
    assert e.value.exit_code == 1
    assert str(e.value).startswith("pre-commit hook failed (exit 3); nothing committed, nothing changed")
    assert snapshot(repo, cache=False) == before
    r = run([MVC, "commit", "models/clf", "-m", "baseline"], repo, check=False)
    assert r.returncode == 1 and r.stderr.endswith(f"mvc: error: {e.value}\n")

    # commit-msg may edit the message; post-commit runs after the commit, in the work tree's root.
    write_hook(repo, "pre-commit", "exit 0\n")
    write_hook(repo, "commit-msg", 'printf "\\nSigned-off-by: Hook\\n" >> "$1"\n')
    write_hook(repo, "post-commit", "git rev-parse HEAD > post-commit-ran\n")
    r = mvc.commit(d, "baseline")
    assert git(["log", "--format=%B", "-1"], repo) == "baseline\n\nSigned-off-by: Hook\n\n"
    with open(os.path.join(repo, "post-commit-ran")) as f:
        assert f.read().strip() == r["commit"]

    write_hook(repo, "pre-commit", "exit 1\n")
    write_hook(repo, "commit-msg", "exit 1\n")
    change_weights(os.path.join(d, "weights.safetensors"))
    r = mvc.commit(d, "v2", no_verify=True)
    assert git(["log", "--format=%s", "-1"], repo) == "v2\n"


def test_commit_releases_the_gil_while_the_core_works(repo, elsewhere, tmp_path):
    """The pre-commit hook (run by the core) waits for a file that a Python thread writes only
    after the hook has started: that thread runs only if mvc.commit let go of the GIL. (The
    hook gives up after a long while, so a regression fails rather than hangs.)"""
    started, go = tmp_path / "hook-started", tmp_path / "go"
    write_hook(repo, "pre-commit", f"touch '{started}'\n"
               f"i=0; while [ ! -e '{go}' ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\n"
               f"[ -e '{go}' ]\n")
    def answer():
        while not started.exists():
            threading.Event().wait(0.05)
        go.touch()
    t = threading.Thread(target=answer, daemon=True)
    t.start()
    r = mvc.commit(os.path.join(repo, "models", "clf"), "baseline")
    t.join()
    assert r["commit"] == git(["rev-parse", "HEAD"], repo).strip()


def test_commit_and_log_never_load_torch(repo, tmp_path):
    code = ("import mvc, sys, json\n"
            f"r = mvc.commit({os.path.join(repo, 'models', 'clf')!r}, 'baseline')\n"
            f"v = mvc.log({os.path.join(repo, 'models', 'clf')!r})\n"
            "assert v[0]['commit'] == r['commit']\n"
            "maps = open('/proc/self/maps').read()\n"
            "print('core' if 'libmvc_core' in maps else 'no-core',\n"
            "      'mvc_torch' if 'libmvc_torch' in maps else 'no-mvc_torch',\n"
            "      'libtorch' if 'libtorch' in maps else 'no-libtorch',\n"
            "      'torch-module' if 'torch' in sys.modules else 'no-torch-module')\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=os.environ)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["core", "no-mvc_torch", "no-libtorch", "no-torch-module"]
    assert git(["log", "--format=%s"], repo) == "baseline\n"
