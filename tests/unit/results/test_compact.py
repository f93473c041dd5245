"""Compaction: per-trial files merged into one file per table, exactly once, crash-safe."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest

import ablate.results.compaction as compact_mod
import ablate.results.layout as layout
from ablate.results import TABLES, committed_trials, compact, load, table_from_rows, write_trial
from ablate.results.layout import COMPACTED, compacted_rows_of
from ablate.results.store import committed_row

KEYS = {"trials": ["trial_id"], "epochs": ["trial_id", "epoch"], "probes": ["trial_id"]}


def _row(table: str, tid: str, **extra) -> dict:
    row = {name: None for name in TABLES[table].names}
    row.update(trial_id=tid, status="ok", val_acc=0.5, test_acc=0.4, seed=0, epochs_run=2, best_epoch=1)
    row.update(extra)
    return row


def _epochs(tid: str, n: int = 2, acc: float = 0.5) -> list[dict]:
    return [{"trial_id": tid, "epoch": e, "phase": 0, "optimizer": "adam", "lr": 1e-3, "train_loss": 1.0,
             "train_acc": acc, "val_loss": 1.0, "val_acc": acc, "images_per_s": 10.0, "epoch_s": 1.0}
            for e in range(1, n + 1)]


def _folder(root) -> None:
    """Trials whose columns differ: the first (by file name) lacks the sweep's columns."""
    write_trial(root, "a-base", {"trials": [_row("trials", "a-base", **{"cfg.fusion.pcb_channels": 64})],
                                 "epochs": _epochs("a-base")})
    write_trial(root, "b-search", {"trials": [_row("trials", "b-search", **{"space.lr": 0.01, "stage": "search"})],
                                   "epochs": _epochs("b-search", 3)})
    write_trial(root, "c-ablation", {"trials": [_row("trials", "c-ablation", stage="ablation",
                                                     ablation_variant="no_gate", **{"cfg.fusion.pcb_channels": 32})],
                                     "epochs": _epochs("c-ablation")})
    write_trial(root, "d-failed", {"trials": [_row("trials", "d-failed", status="failed", val_acc=float("nan"))]})
    (root / "probes").mkdir()  # a self-committed table, written as `ablate probe source` does
    pq.write_table(_probe_table(), root / "probes" / "p1.parquet")
    # a crash mid-write: epochs of a trial whose trials row never came
    (root / "epochs" / "e-crashed.parquet").write_bytes((root / "epochs" / "a-base.parquet").read_bytes())


def _probe_table():
    return table_from_rows("probes", [_row("probes", "p1", probe="source", n_correct=3)])


def _same(a: pd.DataFrame, b: pd.DataFrame, keys: list[str]) -> None:
    assert sorted(a.columns) == sorted(b.columns)
    a, b = (f[sorted(f.columns)].sort_values(keys).reset_index(drop=True) for f in (a, b))
    pd.testing.assert_frame_equal(a, b)


def test_compaction_then_load_equals_load_before(tmp_path):
    _folder(tmp_path)
    before = load(tmp_path)
    merged = compact(tmp_path)
    assert merged == {"trials": 4, "epochs": 3, "probes": 1}
    for table in ("trials", "epochs", "probes"):
        assert sorted(p.name for p in (tmp_path / table).glob("*.parquet")) == [COMPACTED]
    assert (tmp_path / "epochs" / ".uncommitted" / "e-crashed.parquet").is_file()  # set aside, not read
    after = load(tmp_path)
    assert set(after) == set(before)
    for table in before:
        _same(before[table], after[table], KEYS.get(table, ["trial_id"]))
    assert after.trials.set_index("trial_id").loc["c-ablation", "ablation_variant"] == "no_gate"
    assert after.trials["space.lr"].dtype == "float64" and after.trials["seed"].dtype == "int64"
    assert str(after.trials["finished_at"].dtype).startswith("datetime64")


def test_pandas_reads_every_column_of_a_compacted_table(tmp_path):
    _folder(tmp_path)
    full = load(tmp_path)
    compact(tmp_path)
    for table in ("trials", "epochs", "probes"):
        df = pd.read_parquet(tmp_path / table)
        _same(df, full[table], KEYS[table])
    df = pd.read_parquet(tmp_path / "trials").set_index("trial_id")
    assert df.loc["c-ablation", "ablation_variant"] == "no_gate" and df.loc["b-search", "space.lr"] == 0.01


def test_committed_trials_and_row_see_compacted_trials(tmp_path):
    _folder(tmp_path)
    compact(tmp_path)
    assert committed_trials(tmp_path) == {"a-base", "b-search", "c-ablation", "d-failed"}
    assert committed_row(tmp_path, "c-ablation")["ablation_variant"] == "no_gate"
    assert committed_row(tmp_path, "d-failed")["status"] == "failed"
    assert committed_row(tmp_path, "e-crashed") is None


def test_a_trial_rewritten_after_compaction_appears_once_with_its_new_values(tmp_path):
    _folder(tmp_path)
    compact(tmp_path)
    write_trial(tmp_path, "d-failed", {"trials": [_row("trials", "d-failed", val_acc=0.9)],
                                       "epochs": _epochs("d-failed", 4, acc=0.9)})
    write_trial(tmp_path, "f-new", {"trials": [_row("trials", "f-new")], "epochs": _epochs("f-new")})
    for compacted_again in (False, True):
        res = load(tmp_path)
        assert res.trials.trial_id.is_unique and len(res.trials) == 5
        t = res.trials.set_index("trial_id")
        assert t.loc["d-failed", "status"] == "ok" and t.loc["d-failed", "val_acc"] == 0.9
        assert (res.epochs.trial_id == "d-failed").sum() == 4 and (res.epochs.val_acc == 0.9).sum() == 4
        assert committed_row(tmp_path, "d-failed")["val_acc"] == 0.9
        if compacted_again:
            assert sorted(p.name for p in (tmp_path / "trials").glob("*.parquet")) == [COMPACTED]
            for table in ("trials", "epochs"):
                _same(pd.read_parquet(tmp_path / table), res[table], KEYS[table])
        compact(tmp_path)


@pytest.mark.parametrize("crash_at", ["second table written", "before removal", "after one removal"])
def test_a_compaction_killed_midway_loses_and_doubles_nothing(tmp_path, monkeypatch, crash_at):
    _folder(tmp_path)
    compact(tmp_path)  # a compacted file exists, so old rows and new per-trial files both count
    write_trial(tmp_path, "a-base", {"trials": [_row("trials", "a-base", val_acc=0.7)], "epochs": _epochs("a-base", 5)})
    write_trial(tmp_path, "g-new", {"trials": [_row("trials", "g-new", **{"space.gate": "static"})],
                                    "epochs": _epochs("g-new")})
    before = load(tmp_path)

    class Killed(Exception):
        pass

    writes, removals = [], []
    real_write, real_remove = compact_mod.write_compacted, compact_mod._remove_if_unchanged

    def write(*a, **k):
        if crash_at == "second table written" and len(writes) == 1:
            raise Killed
        writes.append(1)
        real_write(*a, **k)

    def remove(*a, **k):
        if crash_at == "before removal" or (crash_at == "after one removal" and removals):
            raise Killed
        removals.append(1)
        real_remove(*a, **k)

    monkeypatch.setattr(compact_mod, "write_compacted", write)
    monkeypatch.setattr(compact_mod, "_remove_if_unchanged", remove)
    with pytest.raises(Killed):
        compact(tmp_path)
    monkeypatch.undo()
    for table in before:
        _same(before[table], load(tmp_path)[table], KEYS.get(table, ["trial_id"]))
    assert committed_trials(tmp_path) == set(before.trials.trial_id)
    assert committed_row(tmp_path, "a-base")["val_acc"] == 0.7
    compact(tmp_path)  # finishes the job
    for table in ("trials", "epochs"):
        assert sorted(p.name for p in (tmp_path / table).glob("*.parquet")) == [COMPACTED]
        _same(before[table], pd.read_parquet(tmp_path / table), KEYS[table])


def test_a_trial_rewritten_during_compaction_keeps_its_new_file(tmp_path, monkeypatch):
    _folder(tmp_path)
    real_read = compact_mod.read_file

    def read_then_rewrite(path):
        table = real_read(path)
        if path.parent.name == "trials" and path.stem == "b-search":  # a writer replaces it meanwhile
            write_trial(tmp_path, "b-search", {"trials": [_row("trials", "b-search", val_acc=0.99)]})
        return table

    monkeypatch.setattr(compact_mod, "read_file", read_then_rewrite)
    compact(tmp_path)
    assert (tmp_path / "trials" / "b-search.parquet").is_file()
    t = load(tmp_path).trials
    assert (t.trial_id == "b-search").sum() == 1 and t.set_index("trial_id").loc["b-search", "val_acc"] == 0.99


def test_rows_of_a_trial_that_commits_during_compaction_are_not_set_aside(tmp_path, monkeypatch):
    _folder(tmp_path)
    pq.write_table(table_from_rows("epochs", _epochs("h-late")), tmp_path / "epochs" / "h-late.parquet")
    real_write = compact_mod.write_compacted

    def write_then_commit(path, *a, **k):
        real_write(path, *a, **k)
        if path.parent.name == "trials":  # the writer of h-late publishes its trials row meanwhile
            pq.write_table(table_from_rows("trials", [_row("trials", "h-late")]), tmp_path / "trials" / "h-late.parquet")

    monkeypatch.setattr(compact_mod, "write_compacted", write_then_commit)
    compact(tmp_path)
    assert (tmp_path / "epochs" / "h-late.parquet").is_file()
    assert not (tmp_path / "epochs" / "e-crashed.parquet").exists()  # never committed: set aside
    assert (load(tmp_path).epochs.trial_id == "h-late").sum() == 2


def test_columns_whose_types_clash_become_text(tmp_path):
    write_trial(tmp_path, "a", {"trials": [_row("trials", "a", **{"space.taps": 3})]})
    write_trial(tmp_path, "b", {"trials": [_row("trials", "b", **{"space.taps": "features.3"})]})
    before = load(tmp_path).trials.set_index("trial_id")["space.taps"]
    compact(tmp_path)
    after = pd.read_parquet(tmp_path / "trials").set_index("trial_id")["space.taps"]
    assert before.to_dict() == after.to_dict() == {"a": "3", "b": "features.3"}


def test_one_trials_rows_are_read_from_their_row_groups(tmp_path, monkeypatch):
    monkeypatch.setattr(layout, "ROW_GROUP", 3)  # runs of rows cross row-group boundaries
    for i, n in enumerate([2, 5, 1, 4]):
        write_trial(tmp_path, f"t{i}", {"trials": [_row("trials", f"t{i}")], "epochs": _epochs(f"t{i}", n)})
    compact(tmp_path)
    assert pq.ParquetFile(tmp_path / "epochs" / COMPACTED).metadata.num_row_groups == 4
    for i, n in enumerate([2, 5, 1, 4]):
        rows = compacted_rows_of(tmp_path / "epochs" / COMPACTED, f"t{i}").to_pylist()
        assert [(r["trial_id"], r["epoch"]) for r in rows] == [(f"t{i}", e) for e in range(1, n + 1)]
    assert compacted_rows_of(tmp_path / "epochs" / COMPACTED, "t9") is None


def test_the_compacted_file_name_is_no_trial_id(tmp_path):
    with pytest.raises(ValueError, match="reserved"):
        write_trial(tmp_path, "compacted", {"trials": [_row("trials", "compacted")]})


def test_the_cli_compacts_a_folder_and_refuses_one_that_is_not(tmp_path):
    from typer.testing import CliRunner

    from ablate.cli import app
    from ablate.errors import ConfigError

    _folder(tmp_path)
    res = CliRunner().invoke(app, ["results", "compact", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "trials 4, epochs 3, probes 1" in res.output
    assert sorted(p.name for p in (tmp_path / "trials").glob("*.parquet")) == [COMPACTED]
    assert not (tmp_path / ".ablate.lock").exists()  # the lock was taken and given back
    res = CliRunner().invoke(app, ["results", "compact", str(tmp_path / "nothing")])
    assert isinstance(res.exception, ConfigError) and "not a results folder" in str(res.exception)
