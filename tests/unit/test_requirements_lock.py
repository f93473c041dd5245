"""requirements/lock.txt: every dependency of pyproject.toml pinned, inside its range; and the
check `make install` runs on it (`requirements/check_lock.py`)."""

from __future__ import annotations

import importlib.util

import pytest
from packaging.requirements import Requirement

from tests.conftest import REPO

_spec = importlib.util.spec_from_file_location("check_lock", REPO / "requirements" / "check_lock.py")
check_lock = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_lock)


def test_every_dependency_is_locked_inside_its_range():
    """A pyproject.toml edit without `make lock` (a new dependency, a raised floor) fails here."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    lock = check_lock.read_lock()
    for line in [*project["dependencies"], *project["optional-dependencies"]["test"]]:
        req = Requirement(line)
        name = check_lock.canonical(req.name)
        assert name in lock, f"{req.name} is not in requirements/lock.txt: run `make lock`"
        assert req.specifier.contains(lock[name], prereleases=True), f"{name}=={lock[name]} is outside {line!r}"


def test_differences_ignore_a_local_label_and_absent_cuda_libraries():
    lock = {"torch": "2.14.1", "nvidia-cublas": "13.1.1.3", "triton": "3.8.0", "numpy": "2.4.6", "optuna": "5.1.0"}
    cpu = {"torch": "2.14.1+cpu", "numpy": "2.4.6", "optuna": "5.1.0", "ablate": "0.1.0", "pip": "25.3"}
    assert check_lock.differences(lock, cpu) == []  # the CPU-only wheel: no CUDA libraries, +cpu
    drifted = {**cpu, "optuna": "5.2.0", "optuna-dashboard": "0.19.0"}
    del drifted["numpy"]
    assert check_lock.differences(lock, drifted) == [
        "numpy: locked 2.4.6, not installed", "optuna: locked 5.1.0, installed 5.2.0",
        "optuna-dashboard: installed 0.19.0, not in the lock"]
