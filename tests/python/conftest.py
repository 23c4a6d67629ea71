"""Fixtures every Python test may use (helpers are in support.py)."""
import pytest


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """A current directory outside the repository."""
    d = tmp_path / "elsewhere"
    d.mkdir()
    monkeypatch.chdir(d)
    return d
