"""The one atomic-write helper: nothing half-written is ever visible, errors leave no debris."""

from __future__ import annotations

import pytest

from ablate.atomic import atomic_dir, atomic_file, atomic_write_text


def test_file_replaces_and_error_keeps_old(tmp_path):
    p = tmp_path / "sub" / "a.txt"
    atomic_write_text(p, "one")
    assert p.read_text() == "one"
    with pytest.raises(RuntimeError), atomic_file(p) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash while writing")
    assert p.read_text() == "one"
    assert sorted(x.name for x in p.parent.iterdir()) == ["a.txt"]


def test_dir_first_writer_wins_unless_replace(tmp_path):
    out = tmp_path / "set"
    with atomic_dir(out) as tmp:
        (tmp / "x").write_text("first")
    with atomic_dir(out) as tmp:
        (tmp / "x").write_text("second")
    assert (out / "x").read_text() == "first"
    with atomic_dir(out, replace=True) as tmp:
        (tmp / "x").write_text("third")
    assert (out / "x").read_text() == "third"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["set"]


def test_dir_error_publishes_nothing(tmp_path):
    out = tmp_path / "set"
    with pytest.raises(ValueError), atomic_dir(out) as tmp:
        (tmp / "x").write_text("partial")
        raise ValueError("bad image")
    assert list(tmp_path.iterdir()) == []


def test_published_entries_get_ordinary_permissions(tmp_path):
    """Not mkstemp's private 0600: a manifest or result file is for everyone (the umask applies)."""
    import os

    umask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "m.csv", "x")
        with atomic_dir(tmp_path / "set") as tmp:
            (tmp / "x").write_text("y")
    finally:
        os.umask(umask)
    assert (tmp_path / "m.csv").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "set").stat().st_mode & 0o777 == 0o755
