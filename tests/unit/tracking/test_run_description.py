"""Tracking's Ray-free parts: ``tracking:`` and ``--track``, a run's description, the config id,
and the missing-package check (one line, exit 2, nothing written)."""

from __future__ import annotations

import sys

import pandas as pd
import pytest
import yaml

from ablate.config import (
    MlflowTracking,
    TrialConfig,
    WandbTracking,
    config_id,
    parse_track,
    validate_sweep,
)
from ablate.errors import ConfigError
from ablate.report.runs import config_ids
from ablate.results.record import trial_row
from ablate.tracking import encode_ids, end_metrics, epoch_metrics, run_info
from tests.conftest import ablate_cli


def test_track_flags_and_the_tracking_section():
    assert parse_track("mlflow=http://h:5000") == MlflowTracking(uri="http://h:5000")
    assert parse_track("mlflow") == MlflowTracking() and parse_track("wandb=p") == WandbTracking(project="p")
    with pytest.raises(ConfigError, match="--track 'neptune': name mlflow"):
        parse_track("neptune")
    sweep = validate_sweep({"name": "s", "tracking": [{"kind": "mlflow", "uri": "sqlite:///x.db"},
                                                      {"kind": "wandb", "entity": "lab"}]})
    assert [t.kind for t in sweep.tracking] == ["mlflow", "wandb"] and sweep.tracking[1].entity == "lab"
    with pytest.raises(ConfigError) as e:
        validate_sweep({"name": "s", "tracking": [{"kind": "wandb", "projet": "p"}]})
    assert "\n" not in str(e.value) and "projet" in str(e.value)


def test_the_config_id_is_the_reports_and_ignores_the_seed():
    base = TrialConfig(name="a", backbone="resnet18")
    seed1 = base.model_copy(update={"seed": 1})
    other = base.model_copy(update={"variant": "original"})
    assert config_id(base) == config_id(seed1) != config_id(other)
    rows = pd.DataFrame([trial_row(c, trial_id=f"t{i}", status="ok") for i, c in enumerate((base, seed1, other))])
    assert config_ids(rows).tolist() == [config_id(base), config_id(seed1), config_id(other)]


def test_what_a_run_carries():
    cfg = TrialConfig(name="a", backbone="resnet18", seed=3)
    info = run_info(cfg, "sw-abc_00001", {"sweep": "sw", "stage": "confirm", "grid_point": 2, "confirm_rank": 1,
                                          "space.phases.0.lr": 0.01}, fold=1)
    assert info.name == "sw-abc_00001" and info.group == config_id(cfg)
    assert info.params["space.phases.0.lr"] == 0.01 and info.params["cfg.backbone"] == "resnet18"
    assert info.tags == {"trial_id": "sw-abc_00001", "config_id": config_id(cfg), "stage": "confirm", "sweep": "sw",
                         "seed": "3", "fold": "1", "grid_point": "2", "confirm_rank": "1"}
    assert epoch_metrics({"epoch": 2, "val_acc": 0.5, "lr": 1e-3, "trial_id": "x", "optimizer": "adam"}) == {
        "val_acc": 0.5, "lr": 1e-3}
    assert end_metrics({"val_acc": 0.9, "test_acc": float("nan"), "macs": None, "params": 10}) == {
        "best_val_acc": 0.9, "params": 10.0}
    assert encode_ids({}) == "" and encode_ids({"wandb": "p/r", "mlflow": "1"}) == '{"mlflow": "1", "wandb": "p/r"}'


@pytest.mark.parametrize(("command", "kind"), [("trial", "mlflow"), ("run", "wandb")])
def test_a_tracker_not_installed_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, command, kind):
    monkeypatch.setitem(sys.modules, kind, None)  # `import mlflow` / `import wandb` fails
    cfg = tmp_path / "t.yaml"
    cfg.write_text(yaml.safe_dump({"name": "t", "backbone": "resnet18", "data": {"path": "synthetic"}}))
    results = tmp_path / "results"
    args = [command, str(cfg), "--results", str(results), "--track", kind, *(["--local"] if command == "run" else [])]
    assert ablate_cli(*args) == 2
    err = capsys.readouterr().err.strip()
    assert err == f'error: tracking to {kind} needs the {kind} package: pip install "ablate[{kind}]"'
    assert not results.exists()


def test_the_plan_names_its_trackers(tmp_path):
    from ablate.api import plan

    cfg = tmp_path / "t.yaml"
    cfg.write_text(yaml.safe_dump({"name": "t", "backbone": "resnet18", "data": {"path": "synthetic"},
                                   "tracking": [{"kind": "wandb", "project": "lab"}]}))
    with pytest.raises(ConfigError):  # tracking: belongs to a sweep file, not a bare trial file
        plan("trial", str(cfg), results=tmp_path / "r")
    sweep = tmp_path / "s.yaml"
    sweep.write_text(yaml.safe_dump({"name": "s", "trial": {"backbone": "resnet18", "data": {"path": "synthetic"}},
                                     "tracking": [{"kind": "wandb", "project": "lab"}]}))
    p = plan("trial", str(sweep), results=tmp_path / "r", track=["mlflow=sqlite:///x.db"])
    assert [t.kind for t in p.sweep.tracking] == ["wandb", "mlflow"]
    assert p.lines()[1] == "tracking: wandb lab, mlflow sqlite:///x.db"
