"""`run_sweep` end to end on a local Ray instance: Tune + Train (V2) + Optuna + ASHA, real Parquet.

One Ray instance (2 CPUs) serves the module. The sweeps are tiny: MobileNetV3-small at 32 px
on the synthetic set, a few epochs.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from ablate.results import TABLES, load
from ablate.search.sweep import load_sweep
from tests.conftest import tensorboard_run

pytestmark = pytest.mark.slow

TINY_TRIAL: dict[str, Any] = {
    "backbone": "mobilenet_v3_small",
    "variant": "modified",
    "input_size": 32,
    "batch_size": 16,
    "epochs": 3,
    "phases": [{"optimizer": "adam", "lr": 0.003}],
    "data": {"path": "synthetic", "normalize": "imagenet", "test_per_class": 5, "val_fraction": 0.2,
             "synthetic": {"n_per_class": 60, "image_size": 32}},
}


def tiny_sweep_file(folder: Path, name: str, *, trial: dict | None = None, **sections: Any) -> Path:
    """Write a small sweep file (the tiny trial plus `sections`) and return its path."""
    raw = {"name": name, "description": f"test sweep {name}", "trial": {**TINY_TRIAL, **(trial or {})}, **sections}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def assert_complete_rows(res_dir: Path, n_trials: int) -> Any:
    """One trials row per trial, and each trial's epochs 1..epochs_run exactly once."""
    res = load(res_dir)
    t, e = res.trials, res.epochs
    assert len(t) == n_trials and t.trial_id.is_unique and t.ray_trial_id.is_unique
    assert set(TABLES["trials"].names) <= set(t.columns)
    assert set(e.trial_id) <= set(t.trial_id)
    for _, row in t.iterrows():
        epochs = sorted(e[e.trial_id == row.trial_id].epoch)
        assert epochs == list(range(1, row.epochs_run + 1)), (row.trial_id, epochs)
    return res


def row_marks(res_dir: Path) -> dict[str, tuple]:
    """Each committed trial's (finished_at, wall_s, val_acc): a trial trained again would change
    them. (Not file times: a stage's end compacts the per-trial files into one per table.)"""
    t = load(res_dir).trials  # loadable at every moment
    assert t.trial_id.is_unique
    return {r.trial_id: (r.finished_at, r.wall_s, r.val_acc) for r in t.itertuples()}


def test_optuna_asha_sweep_writes_one_row_per_trial_and_stops_a_bad_curve(tmp_path, local_ray):
    """A grid over the Adam lr (0.003 learns, 1e-12 cannot) x 2 Optuna samples each. Trials run one at
    a time, good lr first, so when a bad-lr trial reaches the rung at epoch 2 its training loss is
    compared with a good one's: ASHA stops it."""
    from ablate.runners.ray import run_sweep

    path = tiny_sweep_file(
        tmp_path, "asha-sweep", trial={"epochs": 5},
        search={"algorithm": "optuna", "num_samples": 2, "metric": "train_loss", "mode": "min",
                "max_concurrent": 1, "space": {"phases.0.lr": {"grid": [0.003, 1e-12]},
                                               "fusion.dropout": {"uniform": [0.2, 0.5]}}},
        scheduler={"kind": "asha", "grace_period": 2, "reduction_factor": 2},
    )
    res_dir = tmp_path / "res"
    trials = run_sweep(load_sweep(path), results_dir=res_dir, local=True, progress="lines")
    assert len(trials) == 4 and set(trials.sweep) == {"asha-sweep"}
    res = assert_complete_rows(res_dir, 4)
    # the stage's end compacted every table: pandas alone reads each whole, every column there
    for name in ("trials", "epochs"):
        assert [p.name for p in (res_dir / name).glob("*.parquet")] == ["compacted.parquet"]
        plain = pd.read_parquet(res_dir / name)
        assert len(plain) == len(res[name]) and set(plain.columns) == set(res[name].columns)
    t = res.trials.set_index("trial_id")
    assert (t.index.str.startswith("asha-sweep-")).all()
    assert sorted(t["space.phases.0.lr"]) == [1e-12, 1e-12, 0.003, 0.003]
    assert t["space.fusion.dropout"].nunique() == 4  # sampled by Optuna, per grid point
    assert all(json.loads(c)["fusion"]["dropout"] == d for c, d in zip(t.config_json, t["space.fusion.dropout"], strict=True))
    bad = t[t["space.phases.0.lr"] == 1e-12]
    assert (bad.status == "stopped_early").all()  # the curve that cannot learn is cut at the rung
    stopped = t[t.status == "stopped_early"]  # (a good trial may lose at the epoch-4 rung too: that is ASHA)
    assert (stopped.epochs_run < 5).all() and stopped.test_acc.isna().all()
    assert stopped.reason.str.contains("stopped early").all()
    ok = t[t.status == "ok"]
    assert len(ok) >= 1 and (ok.epochs_run == 5).all() and ok.test_acc.notna().all()
    for trial_id in ok.index:  # the final tables came through the run's checkpoint
        assert (res.predictions.trial_id == trial_id).sum() == 25
        assert (res_dir / "models" / f"{trial_id}.pt").is_file()
        assert any((res_dir / "tensorboard" / trial_id).glob("events.out.tfevents.*"))
    _assert_all_cpus_free()  # stopped trials' worker placement groups were removed
    # Ray's own tools read the experiment: one row per trial, the best reported val_acc = the row's
    from ray import tune

    frame = tune.ExperimentAnalysis(str(res_dir / "ray" / "asha-sweep")).dataframe(metric="val_acc", mode="max")
    assert len(frame) == 4 and frame["val_acc"].notna().all()
    by_ray_id = t.set_index("ray_trial_id").val_acc
    assert dict(zip(frame.trial_id, frame.val_acc, strict=True)) == pytest.approx(by_ray_id.to_dict())
    hp = tensorboard_run(res_dir / "tensorboard" / ok.index[0])  # HParams: the searched values, final accuracy
    assert hp["hparams"]["phases.0.lr"] == pytest.approx(ok["space.phases.0.lr"].iloc[0])
    assert hp["scalars"]["hparams/test_acc"] == pytest.approx(ok.test_acc.iloc[0])
    from ablate.report import make_report  # the report reads a sweep's rows as they are

    files, _missing = make_report(res_dir, "md", tmp_path / "report")
    md = next(f for f in files if f.suffix == ".md").read_text()
    assert "Search summary" in md and "phases.0.lr" in md and ok.index[0] in md


def _assert_all_cpus_free(timeout: float = 15) -> None:
    import time

    import ray
    from ray.util import placement_group_table

    end = time.monotonic() + timeout
    while ray.available_resources().get("CPU", 0) < 2 and time.monotonic() < end:
        time.sleep(0.5)
    held = [pg for pg in placement_group_table().values() if pg["state"] != "REMOVED"]
    assert ray.available_resources().get("CPU", 0) == 2, held


def test_asha_stops_a_train_run_and_the_next_trial_gets_its_workers(tmp_path, local_ray):
    """Three 2-worker trials (Ray Train runs) one after another, the middle one (lr 1e-12) stopped
    by ASHA at its first rung (epoch 2): Tune ends its trial, and with it the Train run; its
    workers' placement group is freed (`ablate.runners.ray.placement`), so the last trial gets
    both CPUs, starts and finishes. Every trial has its rows (a single-worker trial's schema)."""
    from ablate.runners.ray import run_sweep

    path = tiny_sweep_file(
        tmp_path, "ddp-sweep", trial={"epochs": 3, "data": {**TINY_TRIAL["data"], "synthetic": {
            "n_per_class": 30, "image_size": 32}}},
        search={"algorithm": "grid", "num_samples": 1, "metric": "train_loss", "mode": "min", "max_concurrent": 1,
                "space": {"phases.0.lr": {"grid": [0.003, 1e-12, 0.002]}}},
        scheduler={"kind": "asha", "grace_period": 2, "reduction_factor": 2},
        resources={"workers": 2, "cpus_per_worker": 1})
    trials = run_sweep(load_sweep(path), results_dir=tmp_path / "res", local=True, progress="off")
    res = assert_complete_rows(tmp_path / "res", 3)
    t = res.trials.set_index("space.phases.0.lr")
    assert (t.world_size == 2).all()
    assert t.loc[1e-12, "status"] == "stopped_early" and t.loc[1e-12, "epochs_run"] == 2
    for lr in (0.003, 0.002):  # the last one ran after the stop, on the freed CPUs
        row = t.loc[lr]
        assert row.status == "ok" and row.epochs_run == 3 and row.n_test == 25
        assert (res.predictions.trial_id == row.trial_id).sum() == 25
    assert list(trials.columns) == list(res.trials.columns)
    assert set(res.epochs.columns) == set(TABLES["epochs"].names)
    _assert_all_cpus_free()  # no Train placement group left holding CPUs


@pytest.mark.real_data
@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds the Train workers through /proc")
def test_a_train_run_learns_real_images_and_restarts_a_lost_worker_from_its_checkpoint(tmp_path, local_ray, real_data):
    """A 2-worker trial (a Ray Train run) on 500 real chest X-rays at 32 px. Once Train has
    registered its epoch-2 checkpoint, one Train worker is SIGKILLed: Train's FailureConfig
    restarts the worker group from that checkpoint (``ray.train.get_checkpoint()``) inside the
    same Tune trial (Tune never relaunches it), each epoch row is written once, the trial ends
    ok and learns: well above chance (0.2), so the ranks really train one model. Each rank takes
    half of each epoch's images in batches of 16 (the small-set floor), so 6 epochs make the ~75
    optimizer steps of the single-worker check's 3 (test_trial.py). Its checkpoint is Ray's:
    ``ray.train.Result.from_path`` opens the run, and its ``final`` checkpoint holds the tables
    and the best weights."""
    import ray.train
    from ray import tune

    from ablate.runners.ray import run_sweep
    from ablate.runners.sweep_results import read_checkpoint

    data = {"path": str(real_data / "manifest.csv"), "normalize": "imagenet", "test_per_class": 20}
    path = tiny_sweep_file(tmp_path, "ddp-real", trial={"epochs": 6, "batch_size": 128, "data": data},
                           search={"num_samples": 1}, scheduler={"kind": "none"},
                           resources={"workers": 2, "cpus_per_worker": 1})
    res_dir = tmp_path / "res"
    done, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_train_worker_after_checkpoint,
                              args=(res_dir / "ray" / "train", 2, done, killed))
    killer.start()
    try:
        run_sweep(load_sweep(path), results_dir=res_dir, local=True, progress="off")
    finally:
        done.set()
        killer.join()
    assert killed, "no Train worker was killed (the run ended before its epoch-2 checkpoint?)"
    res = assert_complete_rows(res_dir, 1)
    row = res.trials.iloc[0]
    assert row.status == "ok" and row.world_size == 2 and row.epochs_run == 6 and row.n_test == 100
    assert row.val_acc >= 0.45 and row.test_acc >= 0.45, f"chance is 0.2: val {row.val_acc}, test {row.test_acc}"
    # Train restarted the group from the epoch-2 checkpoint: the epochs before it kept their times
    history = killed[0][1]
    assert len(history) >= 2
    rows = res.epochs.sort_values("epoch")
    assert rows.epoch_s.tolist()[: len(history)] == pytest.approx([h["epoch_s"] for h in history])
    trial = tune.ExperimentAnalysis(str(res_dir / "ray" / "ddp-real")).trials[0]
    assert trial.num_failures == 0  # Train's restart, not Tune's relaunch
    # a user opens the trial's run and checkpoint with Ray's API
    result = ray.train.Result.from_path(str(res_dir / "ray" / "train" / row.trial_id))
    assert isinstance(result.checkpoint, ray.train.Checkpoint) and Path(result.checkpoint.path).name == "final"
    with result.checkpoint.as_directory() as d:
        state, finished = read_checkpoint(Path(d))
        assert state is None and finished["test_acc"] == pytest.approx(row.test_acc)
        assert (Path(d) / "models" / f"{row.trial_id}.pt").is_file()
    _assert_all_cpus_free()


def test_an_invalid_sampled_combination_fails_its_trial_not_the_sweep(tmp_path, local_ray):
    from ablate.runners.ray import run_sweep

    # inception_v3 needs >= 75 px: valid alone, invalid with input_size 32
    path = tiny_sweep_file(tmp_path, "bad-combo", trial={"variant": "original", "epochs": 1, "input_size": 80},
                           search={"algorithm": "grid", "num_samples": 1,
                                   "space": {"backbone": {"grid": ["mobilenet_v3_small", "inception_v3"]},
                                             "input_size": {"grid": [32]}}},
                           scheduler={"kind": "none"})
    trials = run_sweep(load_sweep(path), results_dir=tmp_path / "res", local=True, progress="off")
    by_backbone = trials.set_index("space.backbone")
    assert by_backbone.loc["mobilenet_v3_small", "status"] == "ok"
    failed = by_backbone.loc["inception_v3"]
    assert failed.status == "failed" and "too small for inception_v3" in failed.reason and failed.epochs_run == 0


def test_rerunning_a_finished_sweep_without_resume_is_refused(tmp_path, local_ray):
    from ablate.errors import ConfigError
    from ablate.runners.ray import run_sweep

    path = tiny_sweep_file(tmp_path, "again", trial={"epochs": 1}, search={"num_samples": 1},
                           scheduler={"kind": "none"})
    run_sweep(load_sweep(path), results_dir=tmp_path / "res", local=True, progress="off")
    with pytest.raises(ConfigError, match="--resume"):
        run_sweep(load_sweep(path), results_dir=tmp_path / "res", local=True, progress="off")
    trials = run_sweep(load_sweep(path), results_dir=tmp_path / "res", local=True, resume=True, progress="off")
    assert len(trials) == 1  # nothing left to run; the row is there once


TUNE_TRIAL = b"ray::ImplicitFunc"  # how Ray titles a Tune trial's process (an inline trial trains there)
TRAIN_WORKER = b"ray::RayTrainWorker"  # a Ray Train worker of a data-parallel trial


def _training_pids(title: bytes = TUNE_TRIAL) -> list[int]:
    """Processes on this machine whose Ray title starts with `title`."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if (proc / "cmdline").read_bytes().startswith(title):
                    pids.append(int(proc.name))
            except OSError:
                continue
    return pids


def newest_epoch_checkpoint(run: Path) -> Path | None:
    """The progress file of a Train run's newest epoch checkpoint (published whole), if any."""
    found = sorted(run.glob("epoch-*/progress.json"))
    return found[-1] if found else None


def _kill_worker_after_epoch(train_root: Path, epoch: int, done: threading.Event, killed: list,
                            title: bytes = TUNE_TRIAL) -> None:
    """SIGKILL the training process(es) titled `title` once a run has published the checkpoint of `epoch`."""
    while not done.is_set():
        for run in train_root.glob("*"):
            progress = newest_epoch_checkpoint(run)
            if progress is None or int(progress.parent.name.split("-")[1]) < epoch:
                continue
            try:
                history = json.loads(progress.read_text())["history"]  # what a relaunch resumes from
            except (OSError, ValueError):  # replaced by the next epoch's meanwhile
                continue
            for pid in _training_pids(title):
                os.kill(pid, signal.SIGKILL)
                killed.append((pid, history))
            if killed:
                return
        time.sleep(0.1)


def registered_checkpoint(run: Path) -> str | None:
    """The newest checkpoint Train has registered for a run (its checkpoint manager's snapshot)."""
    try:
        snap = json.loads((run / "checkpoint_manager_snapshot.json").read_text())
    except (OSError, ValueError):
        return None
    latest = snap.get("latest_checkpoint_result") or {}
    return latest.get("checkpoint_dir_name")


def _kill_train_worker_after_checkpoint(train_root: Path, epoch: int, done: threading.Event, killed: list) -> None:
    """SIGKILL one Ray Train worker once Train registered a run's checkpoint of `epoch` or later."""
    while not done.is_set():
        for run in train_root.glob("*"):
            name = registered_checkpoint(run)
            if not name or not name.startswith("epoch-") or int(name.split("-")[1]) < epoch:
                continue
            try:
                history = json.loads((run / name / "progress.json").read_text())["history"]
            except (OSError, ValueError):  # replaced by the next epoch's meanwhile
                continue
            pids = _training_pids(TRAIN_WORKER)
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append((pids[0], history))
                return
        time.sleep(0.1)


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds the worker through /proc")
def test_a_lost_worker_is_relaunched_and_continues_from_its_checkpoint(tmp_path, local_ray):
    """The process training a single-worker trial killed mid-trial (a lost GPU node, say): Tune
    relaunches the trial, it resumes from its last checkpoint, and the trial ends ok with every
    epoch once. (A 2-worker trial's lost worker is Train's to restart: the real-images test.)"""
    from ablate.runners.ray import run_sweep

    path = tiny_sweep_file(tmp_path, "lost-worker", trial={"epochs": 5}, search={"num_samples": 1},
                           scheduler={"kind": "none"})
    res_dir = tmp_path / "res"
    done, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_worker_after_epoch,
                              args=(res_dir / "ray" / "train", 2, done, killed))
    killer.start()
    try:
        trials = run_sweep(load_sweep(path), results_dir=res_dir, local=True, progress="off")
    finally:
        done.set()
        killer.join()
    assert killed, "the worker was never killed (the trial ended before its second epoch?)"
    res = assert_complete_rows(res_dir, 1)
    row = trials.iloc[0]
    assert row.status == "ok" and row.epochs_run == 5 and not pd.isna(row.test_acc) and row.world_size == 1
    # continued, not restarted: the epochs up to the checkpoint keep the times they had then
    history = killed[0][1]
    assert 2 <= len(history) < 5  # killed mid-trial, after its epoch-2 checkpoint
    rows = res.epochs.sort_values("epoch")
    assert rows.epoch_s.tolist()[: len(history)] == pytest.approx([h["epoch_s"] for h in history])
