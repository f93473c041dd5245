"""Atomic, exactly-once writes and load() over real Parquet files."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from ablate.results import TABLES, committed_trials, load, write_trial


def _trial_row(tid: str, **extra) -> dict:
    row = {name: None for name in TABLES["trials"].names}
    row.update(trial_id=tid, status="ok", val_acc=0.5, test_acc=0.4, seed=0, epochs_run=1, best_epoch=1)
    row.update(extra)
    return row


def _epoch(tid: str, e: int) -> dict:
    return {"trial_id": tid, "epoch": e, "phase": 0, "optimizer": "adam", "lr": 1e-3, "train_loss": 1.0,
            "train_acc": 0.5, "val_loss": 1.0, "val_acc": 0.5, "images_per_s": 10.0, "epoch_s": 1.0}


def test_write_then_load_with_pandas(tmp_path):
    write_trial(tmp_path, "t1", {"trials": [_trial_row("t1", **{"cfg.fusion.pcb_channels": 64})],
                                 "epochs": [_epoch("t1", 1), _epoch("t1", 2)]})
    res = load(tmp_path)
    assert list(res.trials.trial_id) == ["t1"]
    assert res.trials["cfg.fusion.pcb_channels"].iloc[0] == 64
    assert len(res.epochs) == 2
    assert res.confusion.empty and list(res.confusion.columns) == TABLES["confusion"].names
    direct = pd.read_parquet(tmp_path / "trials" / "t1.parquet")
    assert direct.trial_id.tolist() == ["t1"]


def test_rewriting_a_trial_replaces_its_rows(tmp_path):
    for acc in (0.1, 0.9):
        write_trial(tmp_path, "t1", {"trials": [_trial_row("t1", val_acc=acc)], "epochs": [_epoch("t1", 1)]})
    res = load(tmp_path)
    assert len(res.trials) == 1 and res.trials.val_acc.iloc[0] == 0.9
    assert len(res.epochs) == 1


def test_rows_without_committed_trial_are_ignored(tmp_path):
    (tmp_path / "epochs").mkdir()
    write_trial(tmp_path, "t1", {"trials": [_trial_row("t1")], "epochs": [_epoch("t1", 1)]})
    # a crash after writing epochs but before the trials row: copy t1's epochs as t2's
    (tmp_path / "epochs" / "t2.parquet").write_bytes((tmp_path / "epochs" / "t1.parquet").read_bytes())
    assert committed_trials(tmp_path) == {"t1"}
    assert len(load(tmp_path).epochs) == 1


def test_columns_that_differ_between_trials_are_unified(tmp_path):
    write_trial(tmp_path, "a", {"trials": [_trial_row("a", **{"space.lr": 0.1})]})
    write_trial(tmp_path, "b", {"trials": [_trial_row("b", **{"space.gate": "static"})]})
    t = load(tmp_path).trials.set_index("trial_id")
    assert t.loc["a", "space.lr"] == 0.1 and math.isnan(t.loc["b", "space.lr"])
    assert t.loc["b", "space.gate"] == "static"


def test_missing_fixed_column_is_an_error_and_writes_nothing(tmp_path):
    bad = _trial_row("t")
    del bad["status"]
    with pytest.raises(ValueError, match="status"):
        write_trial(tmp_path, "t", {"trials": [bad]})
    assert not any(tmp_path.rglob("*.parquet"))


def test_saved_model_round_trip(tmp_path):
    import torch

    from ablate.config import TrialConfig
    from ablate.models import build_model
    from ablate.results.models import load_model, save_model

    cfg = TrialConfig(backbone="squeezenet1_0", variant="modified", input_size=32)
    model = build_model(cfg, 3).eval()
    save_model(tmp_path, "t1", model.state_dict(), cfg.resolved_dump(), ["a", "b", "c"])
    loaded, cfg2, names = load_model(tmp_path, "t1")
    x = torch.rand(2, 3, 32, 32) * 255
    assert names == ["a", "b", "c"] and cfg2.trial_id() == cfg.trial_id()
    assert torch.equal(loaded(x), model(x))
    with pytest.raises(Exception, match="no saved model for trial t2"):
        load_model(tmp_path, "t2")
