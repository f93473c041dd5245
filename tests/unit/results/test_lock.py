"""One writer per results folder: a second `ablate trial` into a folder another process is
writing is refused in one line naming that process; a stale lock is taken over."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ablate.errors import ConfigError
from ablate.results.lock import LOCK_NAME, results_lock


def _trial(results, *extra, command="trial", data="synthetic"):
    return subprocess.run([sys.executable, "-m", "ablate.cli", command, "cxr5-sweep", "--data", data,
                           "--results", str(results), "--set", "input_size=32", "--set", "epochs=1", *extra],
                          capture_output=True, text=True, timeout=120, check=False)


def _error_line(stderr: str) -> str:
    """The one error line (notes about the file may come before it), and no traceback."""
    errors = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and stderr.rstrip().endswith(errors[0]) and "Traceback" not in stderr, stderr
    return errors[0]


def test_a_second_writer_is_refused_naming_the_first(tmp_path):
    res = tmp_path / "res"
    with results_lock(res) as lock:
        held = json.loads(lock.read_text())
        assert held["pid"] == os.getpid()
        r = _trial(res)
        assert r.returncode == 2
        line = _error_line(r.stderr)
        assert f"pid {os.getpid()}" in line and "another --results folder" in line
        assert sorted(p.name for p in res.iterdir()) == [LOCK_NAME]  # the refused run wrote nothing
        r = _trial(res, "--local", command="run")  # `ablate run`: refused before Ray starts
        assert r.returncode == 2 and f"pid {os.getpid()}" in _error_line(r.stderr)
        assert sorted(p.name for p in res.iterdir()) == [LOCK_NAME]
        for command in ("trial", "run"):  # refused first: before the data (missing here) is checked
            r = _trial(res, command=command, data=str(tmp_path / "no-such-data"))
            assert r.returncode == 2 and f"pid {os.getpid()}" in _error_line(r.stderr), r.stderr
        with pytest.raises(ConfigError, match="being written by another ablate process"):
            with results_lock(res):
                pass
    assert not res.exists()  # created by the lock, empty again: removed


def test_a_stale_lock_is_taken_over_and_released(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    res = tmp_path / "res"
    res.mkdir()
    (res / LOCK_NAME).write_text(json.dumps({"pid": int(dead.stdout), "host": os.uname().nodename,
                                             "command": "ablate run x", "since": "earlier"}))
    with results_lock(res) as lock:
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert not (res / LOCK_NAME).exists() and res.is_dir()  # the folder existed before: kept


def test_results_that_is_a_file_is_one_line(tmp_path):
    f = tmp_path / "a-file"
    f.write_text("x")
    r = _trial(f)
    assert r.returncode == 2 and "is a file, not a folder" in _error_line(r.stderr)
