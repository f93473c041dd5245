"""`--help` reads as a user expects: boolean flags take no value."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from ablate.cli import app


@pytest.mark.parametrize("command", ["trial", "run"])
def test_boolean_flags_read_as_flags(command: str) -> None:
    out = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "100"}).output
    assert "--skip-bad" in out and "--help" in out
    assert "<bool>" not in out
