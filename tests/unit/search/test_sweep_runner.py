"""Sweep runner pieces without a Ray cluster: the grid x Optuna searcher, resource planning,
and the driver-side exactly-once writing of rows from a run's checkpoints."""

from __future__ import annotations

import json
import math
import pickle

import pytest

from ablate.config import validate_sweep
from ablate.errors import ConfigError
from ablate.results import TABLES, load
from ablate.runners.sweep_results import (
    FINAL,
    RunStore,
    TrialEnd,
    epoch_dir_name,
    reconcile,
    record_trial,
    row_id_for,
    write_epoch_checkpoint,
    write_final_checkpoint,
)

ray_runner = pytest.importorskip("ablate.runners.ray")


def _sweep(space: dict, num_samples: int = 2, **search):
    return validate_sweep({
        "name": "unit-sweep",
        "trial": {"backbone": "resnet18", "input_size": 64, "epochs": 4},
        "search": {"num_samples": num_samples, "space": space, **search},
    })


GRID_X_OPTUNA = {"phases.0.lr": {"grid": [1e-3, 1e-2, 1e-1]}, "fusion.dropout": {"uniform": [0.1, 0.5]}}


def test_grid_searcher_runs_each_point_num_samples_times_round_robin():
    s = ray_runner.GridSearcher(_sweep(GRID_X_OPTUNA, num_samples=2))
    assert s.total == 6
    configs = [s.suggest(f"t{i}") for i in range(6)]
    assert [c["grid_point"] for c in configs] == [0, 1, 2, 0, 1, 2]
    assert [c["values"]["phases.0.lr"] for c in configs[:3]] == [1e-3, 1e-2, 1e-1]
    assert all(0.1 <= c["values"]["fusion.dropout"] <= 0.5 for c in configs)
    assert all(c["ray_trial_id"] == f"t{i}" for i, c in enumerate(configs))
    assert s.suggest("t6") == "FINISHED"


def test_grid_searcher_keeps_each_point_study_in_the_journal_and_restores(tmp_path):
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    journal = str(tmp_path / "optuna.journal")
    s = ray_runner.GridSearcher(_sweep(GRID_X_OPTUNA, num_samples=2), journal=journal)
    pickle.dumps(s)  # what tune.Tuner pickles: no sampler, no study
    for i in range(3):
        s.suggest(f"t{i}")
        s.on_trial_result(f"t{i}", {"val_acc": 0.5, "training_iteration": 1, "epoch": 1})
        s.on_trial_complete(f"t{i}", {"val_acc": 0.1 * i, "config_hash": f"h{i}"})
    assert "_ot_study" not in pickle.dumps(s).decode("latin-1") and b"TPESampler" not in pickle.dumps(s)
    storage = JournalStorage(JournalFileBackend(journal))  # Optuna's own tools read it
    assert sorted(optuna.get_all_study_names(storage)) == [f"unit-sweep/search/{i}" for i in range(3)]
    st = optuna.load_study(storage=storage, study_name="unit-sweep/search/2")
    assert st.user_attrs["grid_point"] == {"phases.0.lr": 0.1}
    t = st.trials[0]
    assert t.value == pytest.approx(0.2) and t.intermediate_values == {1: 0.5}
    assert t.user_attrs["ablate_trial_id"] == "unit-sweep-t2" and t.user_attrs["config_hash"] == "h2"
    assert t.user_attrs["values"]["phases.0.lr"] == 0.1 and t.params["fusion.dropout"] == t.user_attrs["values"][
        "fusion.dropout"]
    path = str(tmp_path / "searcher-state.json")
    s.save(path)
    fresh = ray_runner.GridSearcher(_sweep(GRID_X_OPTUNA, num_samples=2), journal=journal)
    fresh.restore(path)
    assert fresh._issued == [1, 1, 1] and fresh.suggest("t3")["grid_point"] == 0
    assert len(fresh.study(0).trials) == 2 and fresh.study(0).trials[0].state.name == "COMPLETE"
    fresh.on_trial_complete("t0", {"val_acc": 0.9})  # told again after a resume: the first value stays
    assert fresh.study(0).trials[0].value == pytest.approx(0.0)


def test_a_run_issued_after_the_saved_state_is_adopted_and_a_lost_ask_is_failed(tmp_path):
    """What --resume sees when the kill fell between Tune's last save and a trial's start."""
    sweep = _sweep(GRID_X_OPTUNA, num_samples=2)
    journal, store = str(tmp_path / "optuna.journal"), RunStore(str(tmp_path / "train"))
    s = ray_runner.GridSearcher(sweep, journal=journal)
    s.keep_in(store, sweep.name, tmp_path)
    s.suggest("t0")
    saved = str(tmp_path / "state.json")
    s.save(saved)  # Tune's last snapshot: t0 only
    late = s.suggest("t1")  # started after it; its run is in storage
    s.study(2).ask().set_user_attr("ray_trial_id", "t9")  # asked, killed before its run was kept
    again = ray_runner.GridSearcher(sweep, journal=journal)
    again.keep_in(store, sweep.name, tmp_path)
    again.restore(saved)
    adopted = again.suggest("n1")
    assert adopted == late and adopted["ray_trial_id"] == "t1"  # the same run, values and id
    again.on_trial_complete("n1", {"val_acc": 0.7})
    assert [t.user_attrs["ray_trial_id"] for t in again.study(1).trials] == ["t1"]
    assert again.study(1).trials[0].value == pytest.approx(0.7)
    assert [t.state.name for t in again.study(2).trials] == ["FAIL"]  # the lost ask
    assert again.study(2).trials[0].user_attrs["status"] == "abandoned"
    assert [again.suggest(f"n{i}")["grid_point"] for i in (2, 3, 4, 5)] == [2, 0, 1, 2]
    assert again.suggest("n6") == "FINISHED"


def test_grid_only_sweep_needs_no_optuna():
    s = ray_runner.GridSearcher(_sweep({"backbone": {"grid": ["resnet18", "squeezenet1_0"]}}, num_samples=1))
    assert s.study(0) is None
    assert [s.suggest(t)["values"] for t in ("a", "b")] == [{"backbone": "resnet18"}, {"backbone": "squeezenet1_0"}]
    assert s.suggest("c") == "FINISHED"


@pytest.mark.parametrize(
    ("resources", "cluster", "concurrency", "gpus"),
    [
        ({}, {"CPU": 2, "ablate_driver": 1000}, 2, 0.0),
        ({"workers": 2}, {"CPU": 2, "ablate_driver": 1000}, 1, 0.0),
        ({}, {"CPU": 2}, 2, 0.0),  # one worker: the Tune trial trains itself, no separate driver
        ({"workers": 2}, {"CPU": 4}, 1, 0.0),  # no driver resource: each Train run's driver takes 0.01 CPU
        ({}, {"CPU": 16, "GPU": 4, "ablate_driver": 1}, 4, 1.0),  # gpus auto: one per worker
        ({"workers": 2, "gpus_per_worker": 0.5}, {"CPU": 16, "GPU": 4, "ablate_driver": 1}, 4, 0.5),
        ({"gpus_per_worker": 0}, {"CPU": 8, "GPU": 1, "ablate_driver": 1}, 8, 0.0),
    ],
)
def test_concurrency_follows_cluster_and_trial_resources(resources, cluster, concurrency, gpus):
    sweep = validate_sweep({"name": "x", "resources": resources})
    plan = ray_runner.plan_resources(sweep, cluster, strict=True)
    assert (plan.concurrency, plan.gpus_per_worker) == (concurrency, gpus)
    assert plan.worker == {"CPU": 1.0, **({"GPU": gpus} if gpus else {})}  # each Train worker's, or the trial's
    if plan.inline:  # the Tune trial holds exactly one worker's resources
        assert plan.bundles == [plan.worker]
    else:  # a light driver; the Train run reserves its workers itself
        assert plan.bundles == [{"ablate_driver": 1.0} if "ablate_driver" in cluster else {"CPU": 0.01}]


def test_placement_is_pack_or_spread_checked_at_load():
    assert validate_sweep({"name": "x", "resources": {"workers": 2}}).resources.placement == "PACK"
    sweep = validate_sweep({"name": "x", "resources": {"workers": 2, "placement": "SPREAD"}})
    assert ray_runner.plan_resources(sweep, {"CPU": 2, "ablate_driver": 1}, strict=True).placement == "SPREAD"
    with pytest.raises(ConfigError, match=r"resources.placement: must be 'PACK' or 'SPREAD', got 'spread-out'"):
        validate_sweep({"name": "x", "resources": {"workers": 2, "placement": "spread-out"}})


def test_max_concurrent_caps_and_too_big_trials_fail_locally():
    sweep = validate_sweep({"name": "x", "search": {"max_concurrent": 1}})
    assert ray_runner.plan_resources(sweep, {"CPU": 8}, strict=True).concurrency == 1
    big = validate_sweep({"name": "x", "resources": {"workers": 4}})
    with pytest.raises(ConfigError, match="4 worker"):
        ray_runner.plan_resources(big, {"CPU": 2}, strict=True)
    assert ray_runner.plan_resources(big, {"CPU": 2}, strict=False).concurrency == 1  # autoscaler may add nodes


# --------------------------------------------------------------------------- exactly-once rows


def _epoch(row_id: str, e: int, acc: float) -> dict:
    return {"trial_id": row_id, "epoch": e, "phase": 0, "optimizer": "adam", "lr": 1e-3, "train_loss": 1.0,
            "train_acc": acc, "val_loss": 1.0, "val_acc": acc, "images_per_s": 10.0, "epoch_s": 1.0}


INFO = {"params": 10, "fp32_mb": 4e-5, "num_classes": 2, "class_names": json.dumps(["a", "b"]), "n_train": 8,
        "n_val": 2, "n_test": 2, "dataset_hash": "h", "data_source": "synthetic", "skipped_images": "[]",
        "device": "cpu", "world_size": 1}


def _epoch_ckpt(store_root, row_id: str, epochs: int) -> None:
    d = store_root / row_id / epoch_dir_name(epochs)
    d.mkdir(parents=True)
    hist = [_epoch(row_id, e, 0.2 * e) for e in range(1, epochs + 1)]
    write_epoch_checkpoint(d, {"row_id": row_id, "info": INFO, "history": hist, "elapsed": 3.0}, {"model": {}})


def test_stopped_trial_gets_its_epochs_so_far_and_nan_test_metrics(tmp_path):
    sweep = _sweep(GRID_X_OPTUNA)
    store_root = tmp_path / "train"
    end = TrialEnd("abc_00001", {"phases.0.lr": 1e-3, "fusion.dropout": 0.3}, 0, False, {"epoch": 2, "val_acc": 0.4})
    row_id = row_id_for(sweep.name, end.ray_trial_id)
    _epoch_ckpt(store_root, row_id, 1)
    _epoch_ckpt(store_root, row_id, 2)
    row = record_trial(tmp_path / "res", sweep, end, RunStore(str(store_root)))
    assert row["status"] == "stopped_early" and "2 epoch" in row["reason"]
    res = load(tmp_path / "res")
    t = res.trials.iloc[0]
    assert t.trial_id == row_id == "unit-sweep-abc_00001" and t.ray_trial_id == "abc_00001"
    assert t.epochs_run == 2 and t.best_epoch == 2 and math.isnan(t.test_acc) and t.n_train == 8
    assert t["space.phases.0.lr"] == 1e-3 and json.loads(t["cfg.phases"])[0]["lr"] == 1e-3 and t.sweep == "unit-sweep"
    assert res.epochs.epoch.tolist() == [1, 2]
    assert not list(store_root.rglob("state.pt"))  # a stopped run never resumes: its states are pruned


def test_failed_trials_keep_their_reason(tmp_path):
    sweep = _sweep(GRID_X_OPTUNA)
    store = RunStore(str(tmp_path / "train"))
    bad = TrialEnd("t_1", {"phases.0.lr": 1e-3, "fusion.dropout": 0.3}, 0, False,
                   {"final": True, "status": "failed", "reason": "sampled x: input_size too small"})
    crashed = TrialEnd("t_2", {"phases.0.lr": 1e-2, "fusion.dropout": 0.2}, 1, True, {}, "RayActorError: node died")
    assert record_trial(tmp_path / "res", sweep, bad, store)["reason"] == "sampled x: input_size too small"
    assert record_trial(tmp_path / "res", sweep, crashed, store)["reason"] == "RayActorError: node died"
    t = load(tmp_path / "res").trials
    assert (t.status == "failed").all() and (t.epochs_run == 0).all() and (t.best_epoch == -1).all()


def test_final_checkpoint_is_the_source_and_rewrites_replace(tmp_path):
    sweep = _sweep(GRID_X_OPTUNA)
    store_root, res_dir = tmp_path / "train", tmp_path / "res"
    end = TrialEnd("t_3", {"phases.0.lr": 1e-3, "fusion.dropout": 0.3}, 0, False, {"final": True, "status": "ok"})
    row_id = row_id_for(sweep.name, end.ray_trial_id)
    _epoch_ckpt(store_root, row_id, 2)  # a stale epoch checkpoint next to the final one
    final = store_root / row_id / FINAL
    final.mkdir(parents=True)
    trial_row = {**dict.fromkeys(TABLES["trials"].names),
                 "trial_id": row_id, "status": "ok", "reason": "", "epochs_run": 3, "best_epoch": 3,
                 "val_acc": 0.9, "test_acc": 0.8, **INFO}
    tables = {"trials": [trial_row], "epochs": [_epoch(row_id, e, 0.3 * e) for e in (1, 2, 3)]}
    import torch

    write_final_checkpoint(final, {"row_id": row_id, "info": INFO, "history": tables["epochs"], "metrics": {}},
                           tables, ({"w": torch.zeros(2)}, {"backbone": "resnet18"}, ["a", "b"]))
    store = RunStore(str(store_root))
    record_trial(res_dir, sweep, end, store)
    written = (res_dir / "trials" / f"{row_id}.parquet").stat().st_mtime_ns
    record_trial(res_dir, sweep, end, store)  # a second writer (resume, reconciliation): no duplicate
    assert (res_dir / "trials" / f"{row_id}.parquet").stat().st_mtime_ns == written  # an ok row is kept as is
    lost = TrialEnd("t_4", end.values, 0, True, {}, "lost")
    assert record_trial(res_dir, sweep, lost, store)["status"] == "failed"
    retried = TrialEnd("t_4", end.values, 0, True, {}, "lost again")
    assert record_trial(res_dir, sweep, retried, store)["reason"] == "lost again"  # a failed row is replaced
    (res_dir / "trials" / f"{row_id_for(sweep.name, 't_4')}.parquet").unlink()
    assert reconcile(res_dir, sweep, [end, TrialEnd("t_4", end.values, 0, True, {}, "lost")], store) == [
        row_id_for(sweep.name, "t_4")]
    res = load(res_dir)
    assert sorted(res.trials.trial_id) == [row_id, row_id_for(sweep.name, "t_4")]
    assert res.epochs[res.epochs.trial_id == row_id].epoch.tolist() == [1, 2, 3]
    ok = res.trials.set_index("trial_id").loc[row_id]
    assert ok.status == "ok" and ok.test_acc == pytest.approx(0.8) and ok.ray_trial_id == "t_3"
    assert (res_dir / "models" / f"{row_id}.pt").is_file()


def test_a_torn_newest_checkpoint_falls_back_to_the_previous(tmp_path):
    sweep = _sweep(GRID_X_OPTUNA)
    store_root = tmp_path / "train"
    end = TrialEnd("t_5", {"phases.0.lr": 1e-3, "fusion.dropout": 0.3}, 0, False, {})
    row_id = row_id_for(sweep.name, end.ray_trial_id)
    _epoch_ckpt(store_root, row_id, 1)
    torn = store_root / row_id / epoch_dir_name(2)
    torn.mkdir()
    (torn / "progress.json").write_text('{"history": [')  # killed mid-copy
    assert record_trial(tmp_path / "res", sweep, end, RunStore(str(store_root)))["epochs_run"] == 1


def test_a_torn_final_checkpoint_is_not_taken_for_a_finished_trial(tmp_path):
    sweep = _sweep(GRID_X_OPTUNA)
    store_root = tmp_path / "train"
    end = TrialEnd("t_6", {"phases.0.lr": 1e-3, "fusion.dropout": 0.3}, 0, True, {}, "driver lost")
    row_id = row_id_for(sweep.name, end.ray_trial_id)
    _epoch_ckpt(store_root, row_id, 2)
    final = store_root / row_id / FINAL
    (final / "tables").mkdir(parents=True)
    (final / "tables" / "trials.parquet").write_bytes(b"PAR1 torn")
    (final / "progress.json").write_text(json.dumps({"row_id": row_id, "metrics": {}}))
    row = record_trial(tmp_path / "res", sweep, end, RunStore(str(store_root)))
    assert (row["status"], row["epochs_run"], row["reason"]) == ("failed", 2, "driver lost")
