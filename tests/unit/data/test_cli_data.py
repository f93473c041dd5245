"""`ablate data synthetic` and `ablate data cache` (the typer sub-app, without the root CLI)."""

from __future__ import annotations

from typer.testing import CliRunner

from ablate.cli_data import data_app
from ablate.config import DataConfig
from ablate.data import prepare_data, read_manifest
from ablate.errors import ConfigError, DataError

runner = CliRunner()


def test_synthetic_command_writes_the_set(tmp_path):
    r = runner.invoke(
        data_app,
        [
            "synthetic",
            "--out",
            str(tmp_path / "s"),
            "--n-per-class",
            "3",
            "--size",
            "24",
            "--seed",
            "2",
        ],
    )
    assert r.exit_code == 0, r.output
    assert len(read_manifest(tmp_path / "s" / "manifest.csv")) == 15


def test_cache_command_prebuilds_what_prepare_data_reads(tree, tmp_path, monkeypatch):
    import ablate.data.cache as cache_mod

    cache = str(tmp_path / "c")
    r = runner.invoke(data_app, ["cache", str(tree), "--size", "16", "--cache-dir", cache])
    assert r.exit_code == 0, r.output
    assert "40 images cached at 16 px" in r.output
    monkeypatch.setattr(
        cache_mod, "_build_store", lambda *a, **k: (_ for _ in ()).throw(AssertionError("rebuilt"))
    )
    prepare_data(
        DataConfig(path=str(tree), test_per_class=2, cache_dir=cache), 16
    )  # reads the store
    r = runner.invoke(data_app, ["cache", str(tree), "--size", "16", "--cache-dir", cache])
    assert "already cached" in r.output


def test_cache_command_errors_are_ablate_errors(tree, tmp_path):
    (tree / "normal" / "1.png").write_bytes(b"junk")
    cache = str(tmp_path / "c")
    r = runner.invoke(data_app, ["cache", str(tree), "--size", "16", "--cache-dir", cache])
    assert isinstance(r.exception, DataError) and "normal/1.png" in str(r.exception)
    r = runner.invoke(
        data_app, ["cache", str(tree), "--size", "16", "--cache-dir", cache, "--skip-bad"]
    )
    assert r.exit_code == 0 and "1 unreadable skipped" in r.output and "already cached" in r.output
    r = runner.invoke(data_app, ["cache", str(tree), "--format", "zip", "--cache-dir", cache])
    assert isinstance(r.exception, ConfigError) and "--format" in str(r.exception)
