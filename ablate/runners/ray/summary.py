"""A sweep's rows in a results folder, and the summary printed when it ends."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from ablate.config import SweepConfig
from ablate.results import load
from ablate.search.objectives import constraint_values, non_dominated
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
    """The status counts and the best trials: one column per trial and one row per value when
    that fits the console's width, else one line per trial; numbers are never wrapped."""
    metric, _ = _rank_metric(sweep, trials)
    top = trials[trials["status"] == "ok"].head(5)
    counts = trials["status"].value_counts().to_dict() if len(trials) else {}
    console.print(f"{len(trials)} trial(s): " + ", ".join(f"{v} {k}" for k, v in counts.items()), highlight=False)
    if sweep.search.multi_objective:
        _print_front(console, sweep, trials[trials["status"] == "ok"])
    if len(top):
        space = [c for c in trials.columns if c.startswith("space.")]
        shown = [metric] + ([] if metric == "test_acc" else ["test_acc"])
        rows = [(col.removeprefix("space."), [display_value(r[col]) for _, r in top.iterrows()])
                for col in [*shown, "epochs_run", *space]]
        ids = [str(r["ray_trial_id"]) for _, r in top.iterrows()]
        title = f"best {len(top)} of {sweep.name} by {metric}"
        label_w = max(len(name) for name, _ in rows)
        widths = [max(len(i), *(len(v[j]) for _, v in rows)) for j, i in enumerate(ids)]
        if label_w + sum(w + 3 for w in widths) + 4 <= console.width:
            table = Table(title=title)
            table.add_column("", no_wrap=True, style="bold")
            for i in ids:
                table.add_column(i, no_wrap=True)
            for name, values in rows:
                table.add_row(name, *values)
            console.print(table)
        else:  # too wide: a trial per line, wrapped between `name=value` words, never inside one
            console.print(title, style="italic", highlight=False)
            for j, i in enumerate(ids):
                console.print(f"{j + 1}. {i}: " + " ".join(f"{name}={v[j]}" for name, v in rows), highlight=False)
        console.print(f"trial ids are {sweep.name}-<id>; all rows: ablate.results.load(...).trials", highlight=False)
    console.print(f"results: {results_dir}  (ablate.results.load({str(results_dir)!r}))", soft_wrap=True)


def _print_front(console: Console, sweep: SweepConfig, ok: pd.DataFrame) -> None:
    """A multi-objective search: its non-dominated trials (among those meeting the constraints)."""
    search = sweep.search
    names, modes = [m for m, _ in search.directions], [d for _, d in search.directions]
    if ok.empty or any(n not in ok for n in names):
        return
    feasible = ok[[all(c <= 0 for c in constraint_values(search.constraints, r)) for r in ok.to_dict("records")]]
    front = feasible[non_dominated(feasible[names].to_numpy(dtype=float), modes)]
    shown = "; ".join(f"{r['ray_trial_id']} " + " ".join(f"{n}={display_value(r[n])}" for n in names)
                      for _, r in front.iterrows())
    where = f" meeting {', '.join(f'{k} {v}' for k, v in search.constraints.items())}" if search.constraints else ""
    console.print(f"Pareto front ({', '.join(f'{n} {m}' for n, m in search.directions)}): {len(front)} of "
                  f"{len(ok)} ok trial(s){where}: {shown or '-'}; per configuration with intervals: ablate report",
                  highlight=False, soft_wrap=True)


def _rank_metric(sweep: SweepConfig, trials: pd.DataFrame) -> tuple[str, str]:
    if sweep.search.metric in trials:
        return sweep.search.metric, sweep.search.mode
    return "val_acc", "max"
