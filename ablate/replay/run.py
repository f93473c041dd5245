"""`ablate replay`: how many epochs each search strategy needs to find the grid's best."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ablate.config import SweepConfig, read_sweep
from ablate.replay.curves import Curves
from ablate.replay.report import anytime_figure, rung_correlations, summarize, summary_table
from ablate.replay.simulate import STRATEGIES, Run, Strategy, simulate

__all__ = ["ReplayReport", "replay", "run_replay", "target_line"]


@dataclass(frozen=True)
class ReplayReport:
    """A replay's numbers.

    Attributes:
        summary: one row per strategy (`ablate.replay.report.summarize`).
        runs: one row per strategy and repeat: ``strategy, repeat, seed, epochs_to_target,
            time_to_target_s, epochs_total, time_total_s, trials, stopped, best, regret``.
        rungs: rank correlation of each epoch's score with the final score, ASHA's rungs marked.
        grid_epochs: epochs of the full grid (every configuration, every epoch).
        best: the grid's best score; tolerance: how close counts as found.
        traces: per strategy, each repeat's (epochs, best so far) arrays, for the figure.
    """

    summary: pd.DataFrame
    runs: pd.DataFrame
    rungs: pd.DataFrame
    grid_epochs: int
    best: float
    tolerance: float
    traces: dict[str, list[tuple[np.ndarray, np.ndarray]]]


def replay(sweep: SweepConfig, curves: Curves, *, repeats: int = 20, concurrency: int = 4,
           tolerance: float = 0.005, strategies: Sequence[Strategy] = STRATEGIES) -> ReplayReport:
    """Replay each strategy `repeats` times (seeds ``search.seed + r``) on `curves`.

    Args:
        sweep: supplies the space, ``num_samples`` per grid point, the metric, the ASHA
            ``grace_period`` and ``reduction_factor`` (used by the ASHA strategies whatever
            ``scheduler.kind`` says).
        curves: `Curves.load(sweep, results)`.
        concurrency: trials running at once on the simulated cluster.
        tolerance: a run has found the best once its best so far is within this of the grid's
            best (0.005 = half a point of accuracy).
    """
    target = curves.best - tolerance
    grid_epochs = int(curves.scores.size)
    rows, traces = [], {}
    for strategy in strategies:
        traces[strategy.name] = []
        for r in range(repeats):
            seed = sweep.search.seed + r
            run = simulate(sweep, curves, strategy, seed=seed, concurrency=concurrency)
            rows.append(_run_row(strategy, r, seed, run, target, curves.best))
            traces[strategy.name].append((np.arange(1, run.epochs + 1), np.asarray(run.best)))
    runs = pd.DataFrame(rows)
    sched = sweep.scheduler
    return ReplayReport(
        summary=summarize(runs, grid_epochs), runs=runs,
        rungs=rung_correlations(curves, sched.grace_period, sched.reduction_factor),
        grid_epochs=grid_epochs, best=curves.best, tolerance=tolerance, traces=traces,
    )


def _run_row(strategy: Strategy, repeat: int, seed: int, run: Run, target: float, best: float) -> dict:
    return {
        "strategy": strategy.name, "repeat": repeat, "seed": seed,
        "epochs_to_target": run.epochs_to(target), "time_to_target_s": run.time_to(target),
        "epochs_total": run.epochs, "time_total_s": run.time_s[-1] if run.time_s else 0.0,
        "trials": len(run.configs), "stopped": len(run.stopped_at),
        "best": run.best[-1] if run.best else float("nan"),
        "regret": best - run.best[-1] if run.best else float("nan"),
    }


def target_line(rep: ReplayReport, strategy: str = "TPE + ASHA", budget: float = 0.25,
                share: float = 0.8) -> str:
    """Whether `strategy` found the grid's best within `budget` of its epochs in `share` of repeats."""
    row = rep.summary.set_index("strategy").loc[strategy]
    met = row.within_budget >= share
    return (f"{strategy}: within {rep.tolerance:g} of the grid's best using <= {budget:.0%} of its epochs "
            f"in {row.within_budget:.0%} of {int(row.repeats)} repeats (target >= {share:.0%}): "
            f"{'met' if met else 'NOT met'}")


def run_replay(sweep: SweepConfig | str | Path, results: str | Path, *, overrides: list[str] | None = None,
               repeats: int = 20, concurrency: int | None = None, tolerance: float = 0.005,
               out: str | Path | None = None, console=None) -> ReplayReport:
    """The `ablate replay` job: load the curves, replay, print the tables, write CSV + PNG to `out`.

    Args:
        sweep: a sweep, or its name or file (loaded with ``--set`` `overrides`).
        results: the results folder of a full grid over the sweep's space.
        concurrency: trials at once; None: ``search.max_concurrent``, else 4.
    """
    from rich.console import Console

    from ablate.atomic import atomic_write_text

    console = console or Console()
    if not isinstance(sweep, SweepConfig):
        sweep = read_sweep(sweep, overrides or [])  # data only: a replay builds no model
    if not Path(results, "trials").is_dir():
        from ablate.errors import ConfigError

        raise ConfigError(f"--from {results}: no trials table there (RESULTS/trials/*.parquet)")
    curves = Curves.load(sweep, results)
    conc = concurrency or sweep.search.max_concurrent or 4
    sched = sweep.scheduler
    console.print(
        f"replay {sweep.name}: {len(curves.configs)} configurations x {curves.max_t} epochs from {results}; "
        f"{sweep.search.num_samples} samples per grid point, ASHA grace {sched.grace_period} rf "
        f"{sched.reduction_factor:g}, {conc} at a time, {repeats} repeats")
    rep = replay(sweep, curves, repeats=repeats, concurrency=conc, tolerance=tolerance)
    for table in summary_table(rep.summary, rep.rungs, grid_epochs=rep.grid_epochs, best=curves.sign * rep.best,
                               tolerance=tolerance, title=f"ablate replay {sweep.name}"):
        console.print(table)
    console.print(target_line(rep))
    if out is not None:
        out = Path(out)
        for name, frame in (("summary", rep.summary), ("runs", rep.runs), ("rungs", rep.rungs)):
            atomic_write_text(out / f"{name}.csv", frame.to_csv(index=False))
        anytime_figure(rep.traces, grid_epochs=rep.grid_epochs, best=rep.best, tolerance=tolerance,
                       path=out / "anytime.png")
        console.print(f"written: {out}/summary.csv, runs.csv, rungs.csv, anytime.png")
    return rep
