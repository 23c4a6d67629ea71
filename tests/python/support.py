"""What the Python tests share: the environment CTest sets (tests/CMakeLists.txt), running the
mvc CLI and git in real repositories, and the zoo's cases (tests/zoo, weights from
tests/fixtures/zoo.py). Imported by the test files as `from support import ...` (pytest puts this
folder on sys.path); the `elsewhere` fixture is in conftest.py."""
import hashlib
import os
import shutil
import subprocess
import sys

MVC = os.environ["MVC_BINARY"]
SOURCE = os.environ["MVC_SOURCE_DIR"]
FIXTURES = os.path.abspath(os.path.join(os.environ["MVC_FIXTURE_DIR"], "zoo"))
ZOO = os.path.abspath(os.path.join(SOURCE, "tests", "zoo"))
# tests/fixtures/generate.py (write_safetensors, write_shards) for the tests that write weights.
sys.path.insert(0, os.path.join(SOURCE, "tests", "fixtures"))


def run(args, cwd, check=True):
    """Runs a command in `cwd`; with `check`, a non-zero exit fails the test with its stderr."""
    r = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({r.returncode}): {r.stderr}")
    return r


def git(args, cwd):
    """git's standard output (the git CLI checks what mvc did)."""
    return run(["git", *args], cwd).stdout


def sha256_of(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def new_repo(root):
    """A new git repository at `root` (branch main, a committer, no signing) with `mvc init` run."""
    os.makedirs(root)
    git(["init", "-q", "-b", "main"], root)
    for k, v in (("user.name", "Test User"), ("user.email", "test@example.com"), ("commit.gpgsign", "false")):
        git(["config", k, v], root)
    run([MVC, "init"], root)
    return root


def put_case(root, case, dir=None):
    """Copies zoo case `case` (arch.toml, hparams.toml when it has one, the weights PyTorch saved)
    into `root/dir` (default models/CASE); returns that directory."""
    d = os.path.join(root, dir or os.path.join("models", case))
    os.makedirs(d, exist_ok=True)
    for f in ("arch.toml", "hparams.toml"):
        if os.path.exists(os.path.join(ZOO, case, f)):
            shutil.copy(os.path.join(ZOO, case, f), d)
    shutil.copy(os.path.join(FIXTURES, case, "weights.safetensors"), d)
    return d
