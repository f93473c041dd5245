"""Statistics the paper lacks: confidence intervals, paired tests, importances.

- One run: accuracy with a percentile bootstrap over test images (and Wilson's interval).
- Several seeds: the mean with a Student-t interval.
- Two configurations on the same test images: the exact McNemar test (two-sided binomial on
  the discordant pairs) and the accuracy difference with a paired-bootstrap interval.
- Several comparisons: Holm's step-down adjustment.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

__all__ = [
    "bootstrap_accuracy",
    "holm",
    "mcnemar_exact",
    "paired_difference",
    "param_importances",
    "t_interval",
    "wilson_interval",
]

NAN3 = (float("nan"), float("nan"), float("nan"))


def t_interval(values: Sequence[float], conf: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high) of the mean with a Student-t interval; no interval for one value."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return NAN3
    m = float(x.mean())
    if len(x) < 2:
        return m, float("nan"), float("nan")
    se = float(x.std(ddof=1)) / math.sqrt(len(x))
    if se == 0:
        return m, m, m
    lo, hi = sps.t.interval(conf, len(x) - 1, loc=m, scale=se)
    return m, float(lo), float(hi)


def bootstrap_accuracy(correct: Sequence[bool], n_boot: int = 2000, seed: int = 0, conf: float = 0.95) -> tuple[float, float, float]:
    """(accuracy, low, high): percentile bootstrap over test images."""
    c = np.asarray(correct, dtype=float)
    if len(c) == 0:
        return NAN3
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(c), size=(n_boot, len(c)))
    boots = c[idx].mean(axis=1)
    a = (1 - conf) / 2
    return float(c.mean()), float(np.quantile(boots, a)), float(np.quantile(boots, 1 - a))


def wilson_interval(k: int, n: int, conf: float = 0.95) -> tuple[float, float, float]:
    """(proportion, low, high) with Wilson's score interval."""
    if n == 0:
        return NAN3
    z = float(sps.norm.ppf(1 - (1 - conf) / 2))
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return p, centre - half, centre + half


def mcnemar_exact(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> float:
    """Two-sided exact McNemar p-value for two classifiers on the same images (1 if no discord)."""
    a, b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    if a.shape != b.shape:
        raise ValueError("paired predictions must cover the same images")
    n01, n10 = int((a & ~b).sum()), int((~a & b).sum())
    if n01 + n10 == 0:
        return 1.0
    return float(sps.binomtest(min(n01, n10), n01 + n10, 0.5).pvalue)


def paired_difference(
    correct_a: Sequence[bool], correct_b: Sequence[bool], n_boot: int = 2000, seed: int = 0, conf: float = 0.95
) -> tuple[float, float, float]:
    """(acc_a - acc_b, low, high) with a paired bootstrap over the shared test images."""
    a, b = np.asarray(correct_a, float), np.asarray(correct_b, float)
    if len(a) == 0:
        return NAN3
    d = a - b
    rng = np.random.default_rng(seed)
    boots = d[rng.integers(0, len(d), size=(n_boot, len(d)))].mean(axis=1)
    q = (1 - conf) / 2
    return float(d.mean()), float(np.quantile(boots, q)), float(np.quantile(boots, 1 - q))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the input order."""
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p)
    m = len(p)
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return adj.tolist()


def param_importances(trials: pd.DataFrame, columns: list[str], metric: str) -> dict[str, float]:
    """Optuna's fANOVA importances of the searched columns for `metric` ({} when too few trials)."""
    import optuna

    t = trials.dropna(subset=[metric])
    usable = [c for c in columns if t[c].nunique(dropna=True) > 1]
    if len(t) < 3 or not usable:
        return {}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = {}
    for c in usable:
        vals = t[c].dropna()
        if pd.api.types.is_numeric_dtype(vals) and not pd.api.types.is_bool_dtype(vals):
            dists[c] = optuna.distributions.FloatDistribution(float(vals.min()), float(vals.max()))
        else:
            dists[c] = optuna.distributions.CategoricalDistribution(sorted(map(str, vals.unique())))
    study = optuna.create_study(direction="maximize")
    for _, row in t.iterrows():
        params = {}
        for c, d in dists.items():
            if pd.isna(row[c]):
                break
            params[c] = str(row[c]) if isinstance(d, optuna.distributions.CategoricalDistribution) else float(row[c])
        else:
            study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=float(row[metric])))
    if len(study.trials) < 3:
        return {}
    try:
        return dict(optuna.importance.get_param_importances(study))
    except (RuntimeError, ValueError):
        return {}
