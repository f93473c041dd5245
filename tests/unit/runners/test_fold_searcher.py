"""k-fold in a search: the folds of one sampled configuration are issued together, and Optuna
is told the mean of the metric over them once the last fold ends (a failed fold fails it)."""

from __future__ import annotations

import pytest

from ablate.config import validate_sweep
from ablate.runners.ray.searcher import GridSearcher

TRIAL = {"backbone": "mobilenet_v3_small", "variant": "modified", "input_size": 32, "epochs": 1,
         "data": {"path": "synthetic", "folds": 3}}


def test_one_optuna_trial_is_all_folds_of_a_configuration():
    sweep = validate_sweep({"name": "f", "trial": TRIAL,
                            "search": {"num_samples": 2, "space": {"fusion.dropout": {"uniform": [0.0, 0.6]}}}})
    s = GridSearcher(sweep)
    assert s.total == 2 * 3
    got = [s.suggest(f"t{i}") for i in range(6)]
    assert [g["fold"] for g in got] == [0, 1, 2, 0, 1, 2]
    assert len({g["values"]["fusion.dropout"] for g in got[:3]}) == 1  # the same configuration's folds
    assert got[0]["values"] != got[3]["values"]
    assert s.suggest("t6") == "FINISHED"

    study = s.study(0)  # Optuna's own record of what it was told
    for tid, acc in (("t0", 0.5), ("t1", 0.7)):
        s.on_trial_complete(tid, {"val_acc": acc})
    assert [t.state.name for t in study.trials] == ["RUNNING", "RUNNING"]  # not told before the last fold
    s.on_trial_complete("t2", {"val_acc": 0.9})
    assert study.trials[0].value == pytest.approx(0.7)  # the mean of 0.5, 0.7, 0.9
    s.on_trial_complete("t3", {"val_acc": 0.4})
    s.on_trial_complete("t4", None, error=True)
    s.on_trial_complete("t5", {"val_acc": 0.6})
    assert study.trials[1].state.name == "FAIL"  # a failed fold fails the configuration
