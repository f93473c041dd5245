"""A sweep's rows in a results folder, and the summary printed when it ends."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from ablate.config import SweepConfig
from ablate.results import load
from ablate.search.translate import display_value


def sweep_trials(results_dir: str | Path, sweep: SweepConfig) -> pd.DataFrame:
    """The trials rows of a sweep in a results folder, best first (by the search metric when
    it is a trials column, else by val_acc)."""
    t = load(results_dir).trials
    if "ray_trial_id" not in t:
        return t.iloc[0:0]
    t = t[(t["sweep"] == sweep.name) & t["ray_trial_id"].notna()]
    metric, mode = _rank_metric(sweep, t)
    return t.sort_values(metric, ascending=mode == "min", na_position="last").reset_index(drop=True)


def known_statuses(results_dir: Path, sweep: SweepConfig) -> dict[str, str]:
    """Tune trial id -> status of the sweep's trials that have rows already (a resumed sweep)."""
    t = sweep_trials(results_dir, sweep)
    return dict(zip(t["ray_trial_id"].astype(str), t["status"].astype(str), strict=True)) if len(t) else {}


def print_best(console: Console, sweep: SweepConfig, trials: pd.DataFrame, results_dir: Path) -> None:
    """The status counts and the best trials: one column per trial, one row per value (so the
    searched values stay readable on an 80-column terminal)."""
    metric, _ = _rank_metric(sweep, trials)
    top = trials[trials["status"] == "ok"].head(5)
    counts = trials["status"].value_counts().to_dict() if len(trials) else {}
    console.print(f"{len(trials)} trial(s): " + ", ".join(f"{v} {k}" for k, v in counts.items()), highlight=False)
    if len(top):
        space = [c for c in trials.columns if c.startswith("space.")]
        shown = [metric] + ([] if metric == "test_acc" else ["test_acc"])
        table = Table(title=f"best {len(top)} of {sweep.name} by {metric}")
        table.add_column("", no_wrap=True, style="bold")
        for _, r in top.iterrows():
            table.add_column(str(r["ray_trial_id"]), overflow="fold")
        for col in [*shown, "epochs_run", *space]:
            table.add_row(col.removeprefix("space."), *[display_value(r[col]) for _, r in top.iterrows()])
        console.print(table)
        console.print(f"trial ids are {sweep.name}-<column>; all rows: ablate.results.load(...).trials", highlight=False)
    console.print(f"results: {results_dir}  (ablate.results.load({str(results_dir)!r}))", soft_wrap=True)


def _rank_metric(sweep: SweepConfig, trials: pd.DataFrame) -> tuple[str, str]:
    if sweep.search.metric in trials:
        return sweep.search.metric, sweep.search.mode
    return "val_acc", "max"
