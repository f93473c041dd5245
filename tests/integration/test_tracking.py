"""Runs in MLflow and Weights & Biases (docs/tracking.md), offline: a 3-trial ``ablate run`` tracked
to an MLflow ``file://`` store and W&B offline at once, an MLflow server that refuses connections,
and ``ablate trial`` tracked to both.

What is checked is what a user reads back: MLflow's ``search_runs`` and metric history, and the
records W&B wrote to each offline run's ``.wandb`` file (what ``wandb sync`` uploads).
"""

from __future__ import annotations

import json
import logging
import socket
import struct
from pathlib import Path
from typing import Any

import pytest
import yaml

from ablate.report.runs import config_ids
from ablate.results import load
from tests.conftest import ablate_cli

pytestmark = pytest.mark.slow

TINY = {"backbone": "resnet18", "input_size": 32, "batch_size": 16, "epochs": 2, "device": "cpu",
        "phases": [{"optimizer": "adam", "lr": 0.001}], "analysis": {"latency": False},
        "fusion": {"pcb_channels": 8},
        "data": {"path": "synthetic", "synthetic": {"n_per_class": 8, "image_size": 32}, "test_per_class": 4,
                 "val_fraction": 0.25}}


def _sweep(tmp: Path, name: str, points: list[dict[str, Any]], epochs: int = 2) -> str:
    """A grid sweep whose combined axis ``run`` sets several keys per point."""
    raw = {"name": name, "trial": {**TINY, "name": name, "epochs": epochs},
           "search": {"algorithm": "grid", "num_samples": 1, "space": {"run": {"grid": points}}},
           "scheduler": {"kind": "none"}}
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return str(path)


def _wandb_records(path: Path) -> dict[str, Any]:
    """An offline run's ``.wandb`` file (a LevelDB-style log of protobuf records, 32 KiB blocks):
    its run record, config, history rows and summary."""
    from wandb.proto import wandb_internal_pb2 as pb

    data, pos, block, chunks, buf = path.read_bytes(), 7, 32768, [], b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:
            pos += block - pos % block
            continue
        _, n, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if n == 0 and kind == 0:
            break
        buf += data[pos + 7:pos + 7 + n]
        pos += 7 + n
        if kind in (1, 4):  # FULL or LAST
            chunks.append(buf)
            buf = b""
    out: dict[str, Any] = {"run": None, "config": {}, "history": [], "summary": {}}

    def items(entries: Any) -> dict[str, Any]:
        return {(e.key or "/".join(e.nested_key)): json.loads(e.value_json) for e in entries}

    for chunk in chunks:
        rec = pb.Record()
        rec.ParseFromString(chunk)
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            out["run"] = rec.run
            out["config"].update(items(rec.run.config.update))
        elif kind == "config":
            out["config"].update(items(rec.config.update))
        elif kind == "history":
            out["history"].append(items(rec.history.item))
        elif kind == "summary":
            out["summary"].update(items(rec.summary.update))
    return out


def _val_acc(epochs: Any, trial_id: str) -> list[tuple[int, float]]:
    e = epochs[epochs.trial_id == trial_id].sort_values("epoch")
    return [(int(a), pytest.approx(float(b))) for a, b in zip(e.epoch, e.val_acc, strict=True)]


@pytest.fixture
def offline(monkeypatch):
    """W&B offline and quiet; MLflow's environment restored after the test."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    for var in ("MLFLOW_ALLOW_FILE_STORE", "MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
                "MLFLOW_HTTP_REQUEST_TIMEOUT", "MLFLOW_TRACKING_URI", "WANDB_PROJECT"):
        monkeypatch.delenv(var, raising=False)


def test_a_sweep_is_three_runs_in_mlflow_and_wandb_grouped_by_configuration(tmp_path, local_ray, offline):
    from mlflow.tracking import MlflowClient

    points = [{"seed": 0, "variant": "original"}, {"seed": 1, "variant": "original"},
              {"seed": 0, "variant": "modified"}]
    sweep = _sweep(tmp_path, "tracked", points)
    store, results = f"file://{tmp_path / 'mlruns'}", tmp_path / "results"
    assert ablate_cli("run", sweep, "--local", "--results", str(results), "--track", f"mlflow={store}",
                      "--track", "wandb") == 0
    r = load(results)
    trials, epochs = r.trials.set_index("trial_id", drop=False), r.epochs
    assert len(trials) == 3 and set(trials.status) == {"ok"}
    config = dict(zip(trials.trial_id, config_ids(r.trials.set_index("trial_id", drop=False)), strict=True))

    client = MlflowClient(store)
    runs = client.search_runs([client.get_experiment_by_name("tracked").experiment_id])
    assert len(runs) == 3
    by_trial = {run.data.tags["trial_id"]: run for run in runs}
    assert set(by_trial) == set(trials.trial_id)
    for tid, run in by_trial.items():
        row = trials.loc[tid]
        assert run.info.run_name == tid and run.info.status == "FINISHED"
        assert json.loads(row.tracking_ids)["mlflow"] == run.info.run_id  # the row leads to its run
        assert run.data.params["space.run"] == row["space.run"]  # the searched values, as in Parquet
        assert run.data.params["cfg.seed"] == str(row["cfg.seed"]) and run.data.params["cfg.variant"] == row.variant
        tags = run.data.tags
        assert tags["config_id"] == config[tid]  # the report's configuration id
        assert (tags["sweep"], tags["stage"], tags["seed"], tags["status"]) == ("tracked", "search", str(row.seed), "ok")
        history = [(m.step, m.value) for m in sorted(client.get_metric_history(run.info.run_id, "val_acc"),
                                                     key=lambda m: m.step)]
        assert history == _val_acc(epochs, tid)
        assert run.data.metrics["test_acc"] == pytest.approx(row.test_acc)
        assert run.data.metrics["best_val_acc"] == pytest.approx(row.val_acc)
    groups = {tid: by_trial[tid].data.tags["config_id"] for tid in by_trial}
    original = [tid for tid in groups if trials.loc[tid].variant == "original"]
    assert len(original) == 2 and groups[original[0]] == groups[original[1]]  # two seeds, one configuration
    assert len(set(groups.values())) == 2

    folders = sorted((results / "wandb").glob("offline-run-*"))
    assert len(folders) == 3
    for folder in folders:
        w = _wandb_records(next(folder.glob("*.wandb")))
        tid = w["run"].display_name
        row = trials.loc[tid]
        assert json.loads(row.tracking_ids)["wandb"] == f"tracked/{w['run'].run_id}"
        assert w["run"].run_group == config[tid] and w["run"].job_type == "search"
        assert w["config"]["cfg.seed"] == row["cfg.seed"] and w["config"]["space.run"] == row["space.run"]
        assert w["config"]["trial_id"] == tid
        history = [(h["_step"], h["val_acc"]) for h in w["history"] if "val_acc" in h]
        assert history == _val_acc(epochs, tid)
        assert w["summary"]["status"] == "ok" and w["summary"]["test_acc"] == pytest.approx(row.test_acc)


def test_an_mlflow_server_that_refuses_makes_one_warning_and_the_sweep_goes_on(tmp_path, local_ray, offline,
                                                                                  caplog):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sweep = _sweep(tmp_path, "refused", [{"seed": 0}, {"seed": 1}], epochs=1)
    with caplog.at_level(logging.WARNING, logger="ablate.tracking"):
        code = ablate_cli("run", sweep, "--local", "--results", str(tmp_path / "results"),
                          "--track", f"mlflow=http://127.0.0.1:{port}")
    assert code == 0
    warnings = [r.getMessage() for r in caplog.records if r.name == "ablate.tracking"]
    assert len(warnings) == 1 and f"127.0.0.1:{port}" in warnings[0], warnings
    t = load(tmp_path / "results").trials
    assert len(t) == 2 and set(t.status) == {"ok"} and set(t.tracking_ids) == {""}


def test_a_trial_is_one_run_in_each_tracker(tmp_path, offline):
    from mlflow.tracking import MlflowClient

    cfg = tmp_path / "one.yaml"
    cfg.write_text(yaml.safe_dump({**TINY, "name": "one"}))
    results = tmp_path / "results"
    assert ablate_cli("trial", str(cfg), "--results", str(results), "--track", "mlflow", "--track", "wandb=mine") == 0
    r = load(results)
    row = r.trials.iloc[0]
    ids = json.loads(row.tracking_ids)
    client = MlflowClient(f"sqlite:///{results.resolve()}/mlflow.db")  # the default store: in the results folder
    run = client.get_run(ids["mlflow"])
    assert run.info.run_name == row.trial_id and run.data.tags["status"] == "ok"
    assert run.data.tags["config_id"] == config_ids(r.trials).iloc[0]
    history = [(m.step, m.value) for m in client.get_metric_history(ids["mlflow"], "val_acc")]
    assert sorted(history) == _val_acc(r.epochs, row.trial_id)
    (folder,) = (results / "wandb").glob("offline-run-*")
    w = _wandb_records(next(folder.glob("*.wandb")))
    assert ids["wandb"] == f"mine/{w['run'].run_id}" and w["run"].display_name == row.trial_id
    assert [(h["_step"], h["val_acc"]) for h in w["history"] if "val_acc" in h] == _val_acc(r.epochs, row.trial_id)
