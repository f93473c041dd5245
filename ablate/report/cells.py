"""Shared pieces of the report's tables: the Section type, percent and interval cells, notes."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ablate.report import stats
from ablate.report.runs import (
    RunSet,
)

__all__ = ["PAPER_TEST_IMAGES", "ROW_NOTE", "Section"]

PAPER_TEST_IMAGES = {"cxr": 1000, "covidx-ct": 25658}  # the paper's test sets (Table 1; COVIDx-CT)
ROW_NOTE = ("A row is one configuration (`config`: the resolved config without seed and fold); `seeds` and "
            "`folds` count the runs behind its numbers. Intervals are 95 %: t over seeds for 3 or more seeds, "
            "else a bootstrap over the test images (a single run is never pooled with other configurations).")


@dataclass
class Section:
    key: str
    title: str
    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def _pct(x: float | None) -> float:
    return float("nan") if x is None or pd.isna(x) else round(100.0 * float(x), 2)


def _ci(low: float, high: float, scale: float = 100.0) -> str:
    if pd.isna(low) or pd.isna(high):
        return ""
    digits = 2 if scale == 100.0 else 4
    return f"[{round(scale * low, digits)}, {round(scale * high, digits)}]"


def _inside(paper: float | None, low: float, high: float, scale: float = 100.0) -> bool | None:
    """Whether the paper's value (in the table's unit) lies inside our interval."""
    if paper is None or pd.isna(low) or pd.isna(high):
        return None
    return bool(round(scale * low, 6) <= paper <= round(scale * high, 6))


def _p(p: float) -> float | None:
    return None if pd.isna(p) else round(float(p), 4)


def _where(rs: RunSet) -> str:
    return f"{rs.first('dataset')} {rs.first('scenario')} {rs.first('backbone')} {rs.first('variant')}"


def _clipped_note(rows: list[dict], key: str = "ci") -> list[str]:
    if any("clipped" in str(r.get(key, "")) for r in rows):
        return [("'clipped': the t interval over seeds reached past the metric's bounds and was cut there; "
                 "with so few or so scattered seeds it says little.")]
    return []


def _paper_pairs_note(values: dict[str, float], n: int, alpha: float, table: str) -> list[str]:
    """The pairs of the paper's numbers its own test set (n images) cannot tell apart."""
    names = sorted(values)
    close = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            fisher, _ = stats.paper_pair(values[a], values[b], n)
            if fisher >= alpha:
                close.append(f"{a} {values[a]} vs {b} {values[b]} (p = {fisher:.2g})")
    if not close:
        return []
    return [f"On the paper's {n:,} test images these {table} numbers cannot be told apart (Fisher's exact test "
            f"as independent samples, p >= {alpha}): " + "; ".join(close) + "."]


# --------------------------------------------------------------------------- Table 2 / 10


def _comparison_cells(c: stats.Comparison) -> dict[str, object]:
    return {"diff_%": _pct(c.diff), "diff_ci_%": _ci(c.low, c.high), "diff_ci": c.ci_method, "test": c.test,
            "p": _p(c.p_value), "p_holm": _p(c.p_adjusted), "significant": c.significant,
            "mcnemar_p_per_seed": ", ".join(f"{u}: {p:.3g}" for u, p in _per_fit(c))}


def _per_fit(c: stats.Comparison) -> list[tuple[str, float]]:
    """Each seed's (k-fold: each fit's) exact McNemar p, labelled s<seed> (s<seed> f<fold, from 1>)."""
    if c.units:
        return [(f"s{s} f{f + 1}", p) for (s, f), p in zip(c.units, c.p_per_unit, strict=True)]
    return [(f"s{s}", p) for s, p in zip(c.seeds, c.p_per_seed, strict=True)]


KFOLD_NOTE = ("k-fold on both sides (same k): every (seed, fold) fit is paired with its counterpart and the "
              "test and interval are Nadeau & Bengio's corrected resampled t over the J fits, variance "
              "(1/J + 1/(k-1)) x var(d), df J - 1 (the fits share training data, so a plain paired t is too "
              "liberal); the accuracies are then means over the fits, and mcnemar_p_per_seed lists each fit.")


def _comparison_note(what: str, k: int, alpha: float, *, kfold: bool = False) -> str:
    return ((f"{what} over the seeds both configurations have, paired by seed on the same test images: the mean "
            "of the per-seed differences (= the difference of the two means in the row). 3 or more seeds: paired "
            "t interval and t-test over the per-seed differences; 1-2 seeds: paired bootstrap over the images and "
            "the exact McNemar test per seed (with 2 seeds the larger p). mcnemar_p_per_seed: every seed's exact "
            f"McNemar p. p_holm: Holm's adjustment over the {k} comparison{'s' if k != 1 else ''} of this table; "
            f"significant = p_holm < {alpha}. Intervals are 95 % and not adjusted.") + (" " + KFOLD_NOTE if kfold else ""))
