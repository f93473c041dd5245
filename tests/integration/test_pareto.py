"""A two-objective sweep end to end on a local Ray instance: cost columns in every row, the final
Tune report carries them, and the report's Pareto set agrees with a brute-force check."""

from __future__ import annotations

import numpy as np
import pytest

from ablate.results import load
from ablate.search.sweep import check_metric, load_sweep
from tests.integration.test_sweep import tiny_sweep_file

pytestmark = pytest.mark.slow


def test_two_objective_sweep_rows_report_and_front(tmp_path, local_ray):
    from ablate.report.pareto import pareto_section
    from ablate.runners.ray import run_sweep

    path = tiny_sweep_file(
        tmp_path, "pareto-sweep", trial={"epochs": 1, "analysis": {"latency_repeats": 3}},
        search={"algorithm": "optuna", "num_samples": 3, "metric": ["val_acc", "params"], "mode": ["max", "min"],
                "constraints": {"params": "<= 1000000"}, "max_concurrent": 2,
                "space": {"fusion.pcb_channels": {"choice": [4, 8, 256]}}},
        scheduler={"kind": "none"},
    )
    sweep = load_sweep(path)
    check_metric(sweep)
    res_dir = tmp_path / "res"
    run_sweep(sweep, results_dir=res_dir, local=True, progress="off")
    t = load(res_dir).trials
    assert len(t) == 3 and (t.status == "ok").all()
    assert (t.macs > 0).all() and (t.flops == 2 * t.macs).all() and (t.latency_ms > 0).all()
    assert (t.throughput_ips > 0).all() and (t.latency_repeats == 3).all()
    from ray import tune  # the final Tune report carried the objectives Optuna was told

    frame = tune.ExperimentAnalysis(str(res_dir / "ray" / "pareto-sweep")).dataframe()  # each trial's last result
    by_ray_id = t.set_index("ray_trial_id")
    assert dict(zip(frame.trial_id, frame.params, strict=True)) == by_ray_id.params.to_dict()
    assert dict(zip(frame.trial_id, frame.latency_ms, strict=True)) == pytest.approx(by_ray_id.latency_ms.to_dict())
    # Optuna was told both objectives and the constraint of every trial: its own storage says so
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(res_dir / "optuna.journal")))
    study = optuna.load_study(storage=storage, study_name="pareto-sweep/search/0")
    by_row = t.set_index("trial_id")
    assert sorted(x.user_attrs["ablate_trial_id"] for x in study.trials) == sorted(by_row.index)  # each once
    for x in study.trials:
        row = by_row.loc[x.user_attrs["ablate_trial_id"]]
        assert x.state.name == "COMPLETE" and x.user_attrs["ray_trial_id"] == row.ray_trial_id
        assert x.values == pytest.approx([row.val_acc, row.params]) and (x.constraints["params"] <= 0) == (
            row.params <= 1_000_000)
        assert x.user_attrs["config_hash"] == row.config_hash and x.params["fusion.pcb_channels"] == int(
            row["space.fusion.pcb_channels"])
    # brute force over configurations (seed 0 only here: one row each), feasible ones only
    g = t.groupby("config_hash")[["val_acc", "params"]].mean()
    g = g[g.params <= 1_000_000]
    front = {h for h, a in g.iterrows()
             if not any((b.val_acc >= a.val_acc and b.params <= a.params and (b.val_acc > a.val_acc or b.params < a.params))
                        for h2, b in g.iterrows() if h2 != h)}
    sec = pareto_section(load(res_dir))
    if len(t.config_hash.unique()) < 2:
        assert sec is None
        return
    got = sorted(sec.table.params_M)
    assert got == sorted(np.round(g.loc[sorted(front)].params / 1e6, 3))
