"""The end-of-sweep table fits an 80-column terminal and never splits a number."""

from __future__ import annotations

import pandas as pd
from rich.console import Console

from ablate.config import validate_sweep
from ablate.runners.ray.summary import print_best


def _sweep():
    return validate_sweep({"name": "s", "trial": {"epochs": 2}, "search": {"metric": "val_acc", "mode": "max",
                                                                          "space": {"phases.0.lr": {"loguniform": [1e-4, 1e-2]}}}},
                          source="t")


def _trials(n: int, extra: dict | None = None) -> pd.DataFrame:
    rows = [{"ray_trial_id": f"a1b2c_0000{i}", "status": "ok", "val_acc": 0.9 - i / 100, "test_acc": 0.8,
             "epochs_run": 4, "space.phases.0.lr": 0.000235 + i * 1e-6, **(extra or {})} for i in range(n)]
    return pd.DataFrame(rows)


def _printed(trials: pd.DataFrame) -> list[str]:
    console = Console(width=80, record=True, force_terminal=False)
    print_best(console, _sweep(), trials, __import__("pathlib").Path("/r"))
    return console.export_text().splitlines()


def test_table_fits_80_columns():
    lines = _printed(_trials(2))
    assert max(len(line) for line in lines if not line.startswith("results:")) <= 80
    assert any("0.000236" in line for line in lines)


def test_too_many_trials_give_one_line_each_with_whole_numbers():
    lines = _printed(_trials(5, {"space.fusion.taps": '["features.0", "features.1", "features.12"]'}))
    text = "\n".join(lines)
    assert max(len(line) for line in lines if not line.startswith("results:")) <= 80
    for i in range(5):
        assert f"phases.0.lr={0.000235 + i * 1e-6:.4g}" in text.replace("\n", " ")
    assert "a1b2c_00004" in text


def test_live_lines_name_started_trials_and_where_the_best_comes_from():
    from ablate.runners.ray.live import LiveView

    console = Console(width=80, record=True, force_terminal=False)
    view = LiveView(console, "lines", _sweep(), total=2)
    view.started("t1", {"phases.0.lr": 0.001, "fusion.taps": ["features.0", "features.3"]})
    view.result("t1", {"epoch": 1, "val_acc": 0.4})
    view.result("t1", {"epoch": 2, "val_acc": float("nan")})
    view.ended("t1", {"trial_id": "s-t1", "status": "ok", "val_acc": 0.21, "num_classes": 5, "epochs_run": 2})
    text = console.export_text()
    assert "s-t1 started: phases.0.lr=0.001 fusion.taps=features.{0,3}" in text
    assert "best val_acc 0.4000 (t1, epoch 1)" in text and "(at chance: 1/5)" in text


def test_a_trial_start_line_names_what_the_trial_is():
    """A probe, confirm or ablation trial's start line says which task, rank or variant it is
    (a probe trial has no searched values: it used to show only its seed)."""
    import json

    from ablate.runners.ray.recorder import shown_values

    probe = {"values": {}, "trial": json.dumps({"seed": 1}), "columns": {"stage": "probe", "probe_task": "source"}}
    assert shown_values(probe) == {"probe_task": "source", "seed": 1}
    ablation = {"values": {"lr": 0.01}, "trial": json.dumps({"seed": 2}), "fold": 0,
                "columns": {"ablation_variant": "no-fusion"}}
    assert shown_values(ablation) == {"lr": 0.01, "ablation_variant": "no-fusion", "seed": 2, "fold": 0}
