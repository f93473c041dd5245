"""Figures on planted results: trials told apart in legends, integer epochs, a drawn Pareto front."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from ablate.report import figures
from ablate.results.store import Results


def _results() -> Results:
    trials = pd.DataFrame([
        {"trial_id": f"sw-a_0000{i}", "ray_trial_id": f"a_0000{i}", "status": "ok", "seed": 0,
         "backbone": "mobilenet_v3_small", "variant": "modified", "space.fusion.pcb_channels": 16 * (i + 1),
         "space.phases.0.lr": 1e-3 * (i + 1)} for i in range(3)])
    epochs = pd.DataFrame([{"trial_id": f"sw-a_0000{i}", "epoch": e, "val_acc": 0.2 + 0.1 * e + 0.01 * i}
                           for i in range(3) for e in (1, 2, 3)])
    return Results({"trials": trials, "epochs": epochs}, Path("."))


def test_curve_legend_names_each_trial_by_id_and_values(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(figures, "_save", lambda fig, path: seen.setdefault("fig", fig) and path)
    figures.validation_curves(_results(), tmp_path)
    ax = seen["fig"].axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(set(labels)) == 3
    assert labels[0] == "a_00000 fusion.pcb_channels=16 phases.0.lr=0.001"
    seen["fig"].canvas.draw()
    ticks = [t for t in ax.get_xticks() if 1 <= t <= 3]
    assert ticks and all(float(t).is_integer() for t in ticks)
    plt.close(seen["fig"])


def test_labels_without_searched_values_show_what_differs():
    t = pd.DataFrame([{"trial_id": "resnet18-modified-s0-abcdef1234", "seed": 0, "cfg.seed": 0, "cfg.name": "x",
                       "cfg.fusion.gate": g, "cfg.epochs": 3} for g in ("dynamic", "static")])
    t.loc[1, "trial_id"] = "resnet18-modified-s0-0123456789"
    labels = figures._labels(t.set_index("trial_id"), list(t.trial_id))
    assert list(labels.values()) == ["s0 abcdef1 fusion.gate=dynamic", "s0 0123456 fusion.gate=static"]


@pytest.mark.parametrize("n_front", [1, 2])
def test_pareto_front_is_drawn(n_front, tmp_path, monkeypatch):
    pts = pd.DataFrame({"backbone": ["a", "b"], "variant": ["original", "modified"],
                        "params": [1e6, 2e6], "acc": [0.9, 0.95 if n_front == 2 else 0.5]})
    seen = {}
    monkeypatch.setattr(figures, "_save", lambda fig, path: seen.setdefault("fig", fig) and path)
    figures._pareto_figure(pts, tmp_path)
    ax = seen["fig"].axes[0]
    front = next(line for line in ax.get_lines() if line.get_label() == "Pareto front")
    assert len(front.get_xdata()) == n_front + 1  # the staircase runs on to the right edge
    plt.close(seen["fig"])
