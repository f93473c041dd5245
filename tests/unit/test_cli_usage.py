"""Command-line mistakes get click's usage message and exit 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(("args", "message"), [
    (["report", ".", "--bogus"], "No such option: --bogus"),
    (["trial", "cxr5-sweep", "--epochz", "2"], "No such option: --epochz"),
    (["run"], "Missing argument"),
    (["report", ".", "--alpha", "x"], "Invalid value for '--alpha'"),
    (["nosuchcommand"], "No such command"),
])
def test_usage_errors_exit_2_with_the_usage_line(args, message):
    r = subprocess.run([sys.executable, "-m", "ablate.cli", *args], capture_output=True, text=True, timeout=60,
                       check=False)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Usage: ablate" in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
