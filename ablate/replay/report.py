"""Replay figures: per-strategy summaries, rung-vs-final rank correlations, anytime curves.

Statistics come from numpy/scipy: quantiles, ``scipy.stats.bootstrap`` (percentile interval
of the median over repeats) and ``scipy.stats.spearmanr``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ablate.replay.asha import rung_epochs
from ablate.replay.curves import Curves

__all__ = ["anytime_figure", "rung_correlations", "summarize", "summary_table"]

_BIG = 1e15  # stands in for "never reached" inside quantiles and the bootstrap (finite: no overflow)


def _quantiles(x: np.ndarray, qs: Sequence[float]) -> list[float]:
    """Quantiles of `x`, where inf ("never reached") counts as larger than any value."""
    v = np.quantile(np.where(np.isinf(x), _BIG, x), qs)
    return [float("inf") if q >= _BIG / 2 else float(q) for q in v]


def _median_ci(x: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the median over repeats."""
    from scipy.stats import bootstrap

    if len(x) < 2 or np.all(x == x[0]):
        return float(x[0]), float(x[0])
    data = np.where(np.isinf(x), _BIG, x)
    res = bootstrap((data,), np.median, n_resamples=2000, method="percentile",
                    rng=np.random.default_rng(seed))
    lo, hi = res.confidence_interval
    return tuple(float("inf") if v >= _BIG / 2 else float(v) for v in (lo, hi))  # type: ignore[return-value]


def summarize(runs: pd.DataFrame, grid_epochs: int, budget: float = 0.25) -> pd.DataFrame:
    """One row per strategy from one row per (strategy, repeat).

    Columns: ``strategy, repeats, reached`` (repeats that came within tolerance of the grid's
    best), ``epochs_median, epochs_q25, epochs_q75, epochs_ci_low, epochs_ci_high`` (epochs
    spent until then; inf when not reached), ``fraction_median`` (of the grid's epochs),
    ``within_budget`` (share of repeats that got there within `budget` x the grid's epochs),
    ``time_median_s`` (simulated seconds until then), ``epochs_total_median``,
    ``trials_median``, ``stopped_median`` (trials ASHA stopped), ``regret_median`` (grid's
    best minus the run's best at its end).
    """
    rows = []
    for name, g in runs.groupby("strategy", sort=False):
        x = g["epochs_to_target"].to_numpy(float)
        q25, med, q75 = _quantiles(x, [0.25, 0.5, 0.75])
        lo, hi = _median_ci(x)
        rows.append({
            "strategy": name, "repeats": len(g), "reached": int(np.isfinite(x).sum()),
            "epochs_median": med, "epochs_q25": q25, "epochs_q75": q75,
            "epochs_ci_low": lo, "epochs_ci_high": hi,
            "fraction_median": med / grid_epochs,
            "within_budget": float(np.mean(x <= budget * grid_epochs)),
            "time_median_s": _quantiles(g["time_to_target_s"].to_numpy(float), [0.5])[0],
            "epochs_total_median": float(g["epochs_total"].median()),
            "trials_median": float(g["trials"].median()),
            "stopped_median": float(g["stopped"].median()),
            "regret_median": float(g["regret"].median()),
        })
    return pd.DataFrame(rows)


def rung_correlations(curves: Curves, grace_period: int, reduction_factor: float) -> pd.DataFrame:
    """Spearman's rho between each epoch's score and the final score, over every configuration.

    ASHA ranks trials by the score at a rung; it is only as good as that ranking predicts the
    final one. Every epoch is listed, so a later first rung can be chosen where rho is high.
    Columns: ``epoch, rung`` (the ASHA rung index at that epoch, -1 if none), ``rho, n``.
    """
    from scipy.stats import spearmanr

    rungs = {e: k for k, e in enumerate(rung_epochs(grace_period, reduction_factor, curves.max_t))}
    rows = []
    for epoch in range(1, curves.max_t + 1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # constant input: rho is nan, shown as such
            rho = spearmanr(curves.scores[:, epoch - 1], curves.final).statistic
        rows.append({"epoch": epoch, "rung": rungs.get(epoch, -1), "rho": float(rho), "n": len(curves.final)})
    return pd.DataFrame(rows)


def _fmt(v: float, digits: int = 0) -> str:
    return "never" if np.isinf(v) else f"{v:.{digits}f}"


def summary_table(summary: pd.DataFrame, rungs: pd.DataFrame, *, grid_epochs: int, best: float,
                  tolerance: float, budget: float = 0.25, title: str = "") -> list:
    """Rich tables (strategies, rungs) for the console."""
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=title or None, caption=(
        f"epochs until the best so far is within {tolerance:g} of the grid's best ({best:.4f}), "
        f"of the grid's {grid_epochs}: median [IQR] (95% bootstrap CI of the median) over repeats; "
        f"<={budget:.0%}: share of repeats that found it within {budget:.0%} of the grid's epochs"))
    heads = ("strategy", "found", "epochs [IQR]", "CI", "% grid", f"<={budget:.0%}", "spent",
             "trials (stopped)", "sim h", "regret")
    for col in heads:
        t.add_column(col, justify="left" if col == "strategy" else "right")
    for r in summary.itertuples():
        t.add_row(
            r.strategy, f"{r.reached}/{r.repeats}",
            escape(f"{_fmt(r.epochs_median)} [{_fmt(r.epochs_q25)}-{_fmt(r.epochs_q75)}]"),
            f"{_fmt(r.epochs_ci_low)}-{_fmt(r.epochs_ci_high)}",
            "never" if np.isinf(r.fraction_median) else f"{r.fraction_median:.0%}",
            f"{r.within_budget:.0%}", _fmt(r.epochs_total_median),
            f"{r.trials_median:.0f} ({r.stopped_median:.0f})", _fmt(r.time_median_s / 3600, 2),
            f"{r.regret_median:.4f}",
        )
    c = Table(title="Rank correlation (Spearman) of each epoch's score with the final score")
    for col in ("epoch", "ASHA rung", "rho", "configs"):
        c.add_column(col, justify="right")
    for r in rungs.itertuples():
        c.add_row(str(r.epoch), str(r.rung) if r.rung >= 0 else "", f"{r.rho:.3f}", str(r.n))
    return [t, c]


def anytime_figure(curves_by_strategy: dict[str, list[tuple[np.ndarray, np.ndarray]]], *, grid_epochs: int,
                   best: float, tolerance: float, path: Path, budget: float = 0.25) -> Path:
    """Best-so-far against epochs spent (% of the grid's), median and IQR band over repeats.

    Args:
        curves_by_strategy: per strategy, one ``(epochs, best so far)`` pair per repeat.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ablate.atomic import atomic_file

    xs = np.arange(1, grid_epochs + 1)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, reps in curves_by_strategy.items():
        ys = np.array([_step(e, b, xs) for e, b in reps])
        pct = 100 * xs / grid_epochs
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # all-nan columns before a run's first epoch
            med, lo, hi = (np.nanquantile(ys, q, axis=0) for q in (0.5, 0.25, 0.75))
        (line,) = ax.plot(pct, med, label=name)
        ax.fill_between(pct, lo, hi, color=line.get_color(), alpha=0.15)
    ax.axhline(best - tolerance, color="grey", ls="--", lw=1, label=f"grid's best - {tolerance:g}")
    ax.axvline(100 * budget, color="grey", ls=":", lw=1)
    ax.set(xlabel="epochs spent (% of the grid's)", ylabel="best score so far",
           title="Anytime performance (median, IQR over repeats)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return path


def _step(epochs: np.ndarray, best: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Best so far at each x (nan before the first epoch; the last value after the run ends)."""
    idx = np.searchsorted(epochs, xs, side="right") - 1
    return np.where(idx >= 0, best[np.clip(idx, 0, None)], np.nan)
