"""One trials row, one builder: the engine and the sweep recorder build the same row."""

from __future__ import annotations

import math
from dataclasses import fields

import pytest
import torch

from ablate.config import validate_sweep
from ablate.data import PreparedData, Sample, Split
from ablate.engine.trainer import run_trial
from ablate.results import TABLES, load, table_from_rows
from ablate.results.record import ENVIRONMENT_COLUMNS, TrialRecord, environment, trial_row
from ablate.runners.sweep_results import (
    RunStore,
    TrialEnd,
    epoch_dir_name,
    record_trial,
    row_id_for,
    sweep_columns,
    write_epoch_checkpoint,
)
from ablate.search.translate import trial_config

pytestmark = pytest.mark.usefixtures("one_thread")


def _sweep():
    return validate_sweep({
        "name": "rec-sweep",
        "trial": {"backbone": "resnet18", "variant": "original", "input_size": 32, "batch_size": 8, "epochs": 2,
                  "phases": [{"optimizer": "adam", "lr": 1e-3}],
                  "data": {"scenario": "none", "test_per_class": 2}},
        "search": {"num_samples": 1, "space": {"phases.0.lr": {"grid": [1e-3, 1e-2]}}},
    })


def _data(n=16, size=32) -> PreparedData:
    g = torch.Generator().manual_seed(0)

    def split(m):
        labels = torch.arange(m) % 2
        imgs = (torch.rand(m, 3, size, size, generator=g) * 60 + labels.view(-1, 1, 1, 1) * 150).to(torch.uint8)
        return Split(imgs, labels, [Sample(f"img{i}", str(int(lab))) for i, lab in enumerate(labels)])

    return PreparedData(["0", "1"], split(n), split(n // 2), split(n // 2), dataset_hash="h")


class _Recorder:
    def on_start(self, info):
        self.info = info

    def on_epoch(self, row, state):
        self.last_state = state()


def test_record_fields_are_the_trials_schema():
    assert [f.name for f in fields(TrialRecord) if f.name != "extra"] == TABLES["trials"].names


def test_engine_and_sweep_recorder_build_the_same_row(tmp_path):
    sweep = _sweep()
    end = TrialEnd("t_1", {"phases.0.lr": 1e-3}, 0, False, {})
    row_id = row_id_for(sweep.name, end.ray_trial_id)
    rec = _Recorder()
    engine = run_trial(trial_config(sweep, end.values), data=_data(), reporter=rec, trial_id=row_id,
                       extra_columns=sweep_columns(sweep, end)).trial_row
    # the same trial, stopped after its last epoch: the driver builds its row from the checkpoint
    ckpt = tmp_path / "train" / row_id / epoch_dir_name(2)
    ckpt.mkdir(parents=True)
    progress = {"row_id": row_id, "info": rec.info, "history": rec.last_state["history"], "elapsed": 1.0}
    write_epoch_checkpoint(ckpt, progress, rec.last_state)
    swept = record_trial(tmp_path / "res", sweep, end, RunStore(str(tmp_path / "train")))

    assert list(engine) == list(swept), "same columns, in the same order"
    assert set(TABLES["trials"].names) <= set(engine)
    extras = set(engine) - set(TABLES["trials"].names)
    assert all(c.startswith(("cfg.", "space.")) or c in ("ray_trial_id", "grid_point") for c in extras)
    env = {c: engine[c] for c in ENVIRONMENT_COLUMNS}
    assert env == {c: swept[c] for c in ENVIRONMENT_COLUMNS} == environment(rec.info["device"], 1)
    assert env["torch_version"] and env["host"]
    same = ["name", "seed", "config_hash", "config_json", "backbone", "n_train", "params", "epochs_run",
            "best_epoch", "val_acc", "sweep", "space.phases.0.lr"]
    assert {c: engine[c] for c in same} == {c: swept[c] for c in same}
    assert (engine["status"], swept["status"]) == ("ok", "stopped_early")
    assert math.isnan(swept["test_acc"]) and not math.isnan(engine["test_acc"])
    table_from_rows("trials", [engine, swept])  # both fit the schema together
    assert load(tmp_path / "res").trials.git_sha.iloc[0] == env["git_sha"]


def test_an_unresolved_config_keeps_the_searched_values():
    sweep = _sweep()
    row = trial_row(sweep.trial, trial_id="x", status="failed", reason="bad", unresolved={"input_size": 1})
    assert row["config_hash"] == "" and row["config_json"] == '{"input_size": 1}'
    assert not any(c.startswith("cfg.") for c in row) and row["best_epoch"] == -1 and math.isnan(row["val_acc"])
    assert row["torch_version"] == environment()["torch_version"] and row["device"] is None
