"""Every interval and test the report prints, in one place.

- **One configuration's accuracy.** Three or more seeds: the mean over seeds with a Student-t
  interval (clipped to [0, 1] and flagged when it reaches past). One or two seeds: a
  percentile bootstrap over the test images (`scipy.stats.bootstrap`) of the accuracy
  averaged over the seeds, which measures test-set sampling only; when every resample is the
  same (all right or all wrong) Wilson's interval of the pooled counts instead.
- **Two configurations on the same test images, paired by seed** (`compare_paired`). The
  difference is the mean over the shared seeds of the per-seed accuracy difference (so it is
  exactly the difference of the two means over those seeds). Three or more seeds: a paired
  t interval and t-test over the per-seed differences (the seed is the unit of replication,
  so training noise is in the interval). One or two seeds: a paired percentile bootstrap over
  images and, per seed, the exact McNemar test; with two seeds the larger p is taken (an
  intersection-union test: significant only if every seed is). McNemar p of every seed is
  returned either way. Newcombe's interval replaces the bootstrap when no image is discordant.
- **Two configurations run with k-fold** (`compare_folds`, via ``compare_paired(folds=k)``): the
  (seed, fold) fits paired on the same test images and Nadeau & Bengio's corrected resampled
  t-test over them (`ablate.report.resampled`: the fits share training data).
- **Several comparisons in a table**: Holm's step-down adjustment at a level the user sets.
- **The paper's own numbers**: Fisher's exact test of two accuracies on the paper's test size.

From libraries: Wilson (`scipy.stats.binomtest(...).proportion_ci`), the bootstrap
(`scipy.stats.bootstrap`), t intervals and tests, Fisher's exact test. Hand-written, because
no runtime dependency has them: exact McNemar on paired predictions (statsmodels has it but is
only a test dependency; here it is a binomial test on the discordant pairs), Newcombe's
square-and-add interval for paired proportions (in no library we ship) and Holm (five lines;
statsmodels' ``multipletests`` checks it in the tests).

Every interval comes back as an `Interval` (``estimate, low, high``) or an `Estimate` that also
says how it was computed.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats as sps

from ablate.report.importance import param_importances
from ablate.report.resampled import corrected_resampled_t, kfold_ratio

__all__ = [
    "ALPHA",
    "Comparison",
    "Estimate",
    "Interval",
    "accuracy_estimate",
    "accuracy_from_counts",
    "align_predictions",
    "compare_folds",
    "compare_paired",
    "holm",
    "holm_comparisons",
    "mcnemar_exact",
    "newcombe_paired_interval",
    "paper_pair",
    "param_importances",
    "seed_mean",
    "wilson_interval",
]

ALPHA = 0.05  # default family-wise level of the `significant` flags (`ablate report --alpha`)
N_BOOT = 2000  # bootstrap resamples
_NAN = float("nan")
# scipy >= 1.15 names the generator `rng` (`random_state` before)
_RNG_ARG = "rng" if "rng" in inspect.signature(sps.bootstrap).parameters else "random_state"


class Interval(NamedTuple):
    """A point estimate and its confidence interval (NaN where undefined)."""

    estimate: float
    low: float
    high: float


NAN3 = Interval(_NAN, _NAN, _NAN)


@dataclass(frozen=True)
class Estimate:
    """A number, its interval and how the interval was computed (the table's ``ci`` column)."""

    estimate: float
    low: float
    high: float
    method: str
    n_seeds: int
    clipped: bool = False  # a t interval cut at the metric's bounds (too wide to mean much)


# --------------------------------------------------------------------------- proportions


def wilson_interval(k: int, n: int, conf: float = 0.95) -> Interval:
    """Proportion k / n with Wilson's score interval (NaN for n = 0)."""
    if n == 0:
        return NAN3
    ci = sps.binomtest(int(k), int(n)).proportion_ci(conf, method="wilson")
    return Interval(k / n, float(ci.low), float(ci.high))


def _bootstrap_mean(samples: Sequence[np.ndarray], conf: float, seed: int) -> Interval | None:
    """Percentile bootstrap of the average of the samples' means, each sample resampled on its
    own; None when every resample would be equal (constant samples)."""
    xs = tuple(np.asarray(s, dtype=np.float64).ravel() for s in samples)
    if not xs or any(x.size == 0 for x in xs):
        return NAN3
    estimate = float(np.mean([x.mean() for x in xs]))
    if all(np.ptp(x) == 0 for x in xs):
        return None

    def stat(*ys: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.mean([y.mean(axis=axis) for y in ys], axis=0)

    res = sps.bootstrap(xs, stat, n_resamples=N_BOOT, confidence_level=conf, method="percentile",
                        vectorized=True, batch=max(1, 4_000_000 // max(x.size for x in xs)),
                        **{_RNG_ARG: np.random.default_rng(seed)})
    ci = res.confidence_interval
    return Interval(estimate, float(ci.low), float(ci.high))


# --------------------------------------------------------------------------- several seeds


def seed_mean(values: Sequence[float] | np.ndarray, conf: float = 0.95,
              bounds: tuple[float, float] = (0.0, 1.0)) -> Estimate:
    """Mean over seeds with a Student-t interval, cut at `bounds` (``clipped`` says so).

    One value: the value and NaN bounds. NaN values are dropped.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[~np.isnan(x)]
    n = int(x.size)
    if n == 0:
        return Estimate(_NAN, _NAN, _NAN, "no run", 0)
    m = float(x.mean())
    if n == 1:
        return Estimate(m, _NAN, _NAN, "1 seed, no interval", 1)
    sd = float(x.std(ddof=1))
    lo, hi = (m, m) if sd == 0 else sps.t.interval(conf, n - 1, loc=m, scale=sd / math.sqrt(n))
    clipped = bool(lo < bounds[0] or hi > bounds[1])
    return Estimate(m, max(float(lo), bounds[0]), min(float(hi), bounds[1]),
                    f"t over {n} seeds" + (", clipped" if clipped else ""), n, clipped)


def accuracy_estimate(correct: Sequence[np.ndarray], conf: float = 0.95, *, aligned: bool = True,
                      seed: int = 0) -> Estimate:
    """Accuracy of one configuration from each seed's per-image correctness.

    Args:
        correct: one boolean array per seed (per test image).
        conf: confidence level.
        aligned: the arrays cover the same images in the same order (then one or two seeds
            are averaged per image and the images resampled jointly).
        seed: seed of the bootstrap.
    """
    arrays = [np.asarray(c, dtype=np.float64).ravel() for c in correct]
    n = len(arrays)
    if n == 0:
        return Estimate(_NAN, _NAN, _NAN, "no run", 0)
    if n >= 3:
        return seed_mean([a.mean() for a in arrays], conf)
    n_img = min(a.size for a in arrays)
    same = aligned and len({a.size for a in arrays}) == 1
    samples = [np.mean(arrays, axis=0)] if same else arrays
    iv = _bootstrap_mean(samples, conf, seed)
    what = f"bootstrap over {n_img} test images" + ("" if n == 1 else f", {n} seeds averaged (seed variation not included)")
    if iv is None:  # every resample equal: a proportion's interval of the pooled counts
        k, total = sum(int(a.sum()) for a in arrays), sum(a.size for a in arrays)
        iv = wilson_interval(k, total, conf)
        what = f"Wilson, {total} predictions" + ("" if n == 1 else f" of {n} seeds pooled")
    return Estimate(iv.estimate, iv.low, iv.high, what, n)


def accuracy_from_counts(accuracies: Sequence[float], n_images: Sequence[int], conf: float = 0.95) -> Estimate:
    """Accuracy of one configuration when only each seed's accuracy and image count are kept
    (robustness rows): t over three or more seeds, else Wilson's interval of the pooled counts."""
    acc = np.asarray(accuracies, dtype=np.float64)
    n = np.asarray(n_images, dtype=np.int64)
    if acc.size >= 3:
        return seed_mean(acc, conf)
    if acc.size == 0:
        return Estimate(_NAN, _NAN, _NAN, "no run", 0)
    k, total = int(np.round(acc * n).sum()), int(n.sum())
    _, lo, hi = wilson_interval(k, total, conf)
    what = f"Wilson, {total} predictions" + ("" if acc.size == 1 else f" of {acc.size} seeds pooled")
    return Estimate(float(acc.mean()), lo, hi, what, int(acc.size))


# --------------------------------------------------------------------------- paired runs


def align_predictions(pred_a: pd.DataFrame, pred_b: pd.DataFrame, on: str = "image") -> pd.DataFrame:
    """Pair two runs' per-image predictions by image id (the images both have).

    Returns:
        Sorted by id: ``on, label, correct_a, correct_b``.

    Raises:
        ValueError: duplicate ids in a run, or shared images whose labels disagree.
    """
    for name, df in (("a", pred_a), ("b", pred_b)):
        dup = df[on].duplicated()
        if dup.any():
            raise ValueError(f"run {name} has {int(dup.sum())} duplicate {on!r} ids (e.g. {df[on][dup].iloc[0]!r}); "
                             "filter to one split and one trial first")
    m = pred_a[[on, "label", "pred"]].merge(pred_b[[on, "label", "pred"]], on=on, how="inner", suffixes=("_a", "_b"))
    bad = m.label_a != m.label_b
    if bad.any():
        raise ValueError(f"{int(bad.sum())} shared images have different labels in the two runs (e.g. {m[on][bad].iloc[0]!r})")
    m = m.sort_values(on, kind="stable").reset_index(drop=True)
    return pd.DataFrame({on: m[on], "label": m.label_a, "correct_a": m.pred_a == m.label_a,
                         "correct_b": m.pred_b == m.label_a})


def mcnemar_exact(correct_a: Sequence[bool] | np.ndarray, correct_b: Sequence[bool] | np.ndarray) -> float:
    """Two-sided exact McNemar p-value: binomial(1/2) test on the discordant pairs (1 if none).

    Hand-written on paired predictions because the one library implementation
    (statsmodels) is a test-only dependency; the binomial test itself is scipy's.
    """
    a, b = np.asarray(correct_a, dtype=bool).ravel(), np.asarray(correct_b, dtype=bool).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired predictions must cover the same images ({a.size} vs {b.size})")
    n01, n10 = int((a & ~b).sum()), int((~a & b).sum())
    if n01 + n10 == 0:
        return 1.0
    return float(sps.binomtest(min(n01, n10), n01 + n10, 0.5).pvalue)


def newcombe_paired_interval(both: int, a_only: int, b_only: int, neither: int, conf: float = 0.95) -> Interval:
    """acc_a - acc_b with Newcombe's square-and-add interval for paired proportions.

    Newcombe (1998) method 10 with the phi correction of Fagerland, Lydersen & Laake (2014):
    Wilson intervals of both accuracies combined with the phi correlation of the 2x2 table.
    Hand-written: no library we ship has it. Used where the bootstrap degenerates (no
    discordant image, so every resample gives 0).

    Args:
        both: images both runs got right.
        a_only: images only run a got right.
        b_only: images only run b got right.
        neither: images both got wrong.
        conf: confidence level.
    """
    n = both + a_only + b_only + neither
    if n == 0:
        return NAN3
    p1, p2 = (both + a_only) / n, (both + b_only) / n
    _, l1, u1 = wilson_interval(both + a_only, n, conf)
    _, l2, u2 = wilson_interval(both + b_only, n, conf)
    margins = (both + a_only) * (b_only + neither) * (both + b_only) * (a_only + neither)
    phi = 0.0
    if margins > 0:
        ad_bc = both * neither - a_only * b_only
        if ad_bc > n / 2:
            phi = (ad_bc - n / 2) / math.sqrt(margins)
        elif ad_bc < 0:
            phi = ad_bc / math.sqrt(margins)
    d = (a_only - b_only) / n  # = p1 - p2, without rounding error
    lo = d - math.sqrt(max((p1 - l1) ** 2 + (u2 - p2) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2), 0.0))
    hi = d + math.sqrt(max((p2 - l2) ** 2 + (u1 - p1) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1), 0.0))
    return Interval(d, max(-1.0, lo), min(1.0, hi))


@dataclass(frozen=True)
class Comparison:
    """Configuration a against b on the same test images, paired by seed (a - b)."""

    seeds: tuple[int, ...]  # the seeds both have, in order
    n_images: int  # shared test images (the smallest over the seeds)
    acc_a: float  # mean over `seeds`
    acc_b: float
    diff: float  # acc_a - acc_b = mean of the per-seed differences
    low: float
    high: float
    ci_method: str
    p_value: float
    test: str
    p_per_seed: tuple[float, ...]  # exact McNemar of each seed
    diff_per_seed: tuple[float, ...]
    clipped: bool = False
    p_adjusted: float = _NAN  # set by `holm_comparisons`
    significant: bool | None = None
    # k-fold on both sides: the (seed, fold) fits paired, and each pair's difference and McNemar p
    units: tuple[tuple[int, int], ...] = ()
    diff_per_unit: tuple[float, ...] = ()
    p_per_unit: tuple[float, ...] = ()


def compare_paired(pairs: Mapping[Any, tuple[np.ndarray, np.ndarray]], conf: float = 0.95, *,
                   aligned: bool = True, seed: int = 0, folds: int = 1) -> Comparison:
    """Compare two configurations seed by seed on the same test images.

    Args:
        pairs: seed -> (correct_a, correct_b), per-image correctness aligned within the seed
            (`align_predictions`); with ``folds > 1``, (seed, fold) -> the same.
        conf: confidence level of the interval.
        aligned: every seed covers the same images in the same order (then one or two seeds
            are averaged per image and the images resampled jointly).
        seed: seed of the bootstrap.
        folds: k of k-fold when `pairs` are keyed by (seed, fold): the corrected resampled
            t-test over the fits (`compare_folds`).
    """
    if folds > 1:
        return compare_folds(pairs, folds, conf)
    seeds = tuple(sorted(pairs))
    arrs = [(np.asarray(pairs[s][0], dtype=bool).ravel(), np.asarray(pairs[s][1], dtype=bool).ravel()) for s in seeds]
    if not arrs:
        return Comparison((), 0, _NAN, _NAN, _NAN, _NAN, _NAN, "no paired seed", _NAN, "", (), ())
    p_seed = tuple(mcnemar_exact(a, b) for a, b in arrs)
    d_seed = tuple(float(a.mean() - b.mean()) for a, b in arrs)
    acc_a, acc_b = float(np.mean([a.mean() for a, _ in arrs])), float(np.mean([b.mean() for _, b in arrs]))
    n, n_img = len(seeds), min(a.size for a, _ in arrs)
    if n >= 3:
        est = seed_mean(d_seed, conf, bounds=(-1.0, 1.0))
        d = np.asarray(d_seed)
        if d.std(ddof=1) == 0:
            p = 1.0 if d[0] == 0 else 0.0
        else:
            p = float(sps.ttest_1samp(d, 0.0).pvalue)
        return Comparison(seeds, n_img, acc_a, acc_b, acc_a - acc_b, est.low, est.high,
                          f"paired t over {n} seeds" + (", clipped" if est.clipped else ""), p,
                          f"paired t-test over {n} seeds", p_seed, d_seed, est.clipped)
    diffs = [a.astype(np.float64) - b.astype(np.float64) for a, b in arrs]  # (N,) in {-1, 0, 1}
    same = aligned and len({x.size for x in diffs}) == 1
    iv = _bootstrap_mean([np.mean(diffs, axis=0)] if same else diffs, conf, seed)
    method = f"paired bootstrap over {n_img} images" + ("" if n == 1 else f", {n} seeds averaged")
    if iv is None:  # no discordant image: Newcombe on the pooled 2x2 table
        a_all, b_all = np.concatenate([a for a, _ in arrs]), np.concatenate([b for _, b in arrs])
        iv = newcombe_paired_interval(int((a_all & b_all).sum()), int((a_all & ~b_all).sum()),
                                      int((~a_all & b_all).sum()), int((~a_all & ~b_all).sum()), conf)
        method = "Newcombe (no discordant image)"
    test = "exact McNemar" if n == 1 else f"exact McNemar, largest p of {n} seeds"
    return Comparison(seeds, n_img, acc_a, acc_b, acc_a - acc_b, iv.low, iv.high, method,
                      max(p_seed), test, p_seed, d_seed)


def compare_folds(pairs: Mapping[tuple[int, int], tuple[np.ndarray, np.ndarray]], k: int,
                  conf: float = 0.95) -> Comparison:
    """Compare two configurations fit on the same k folds, fit by fit, on the same test images.

    The difference is the mean over the J paired (seed, fold) fits of their accuracy
    difference; test and interval are Nadeau & Bengio's corrected resampled t with
    ``n_test/n_train = 1/(k-1)`` and df = J - 1 (`ablate.report.resampled`), because the fits
    share training data. ``diff_per_seed`` is each seed's mean over its folds; ``p_per_seed``
    is NaN (no single McNemar per seed): every fit's exact McNemar p is in ``p_per_unit``.
    """
    units = tuple(sorted(pairs))
    if len(units) < 2:
        raise ValueError(f"the corrected resampled t-test needs two or more paired fits, got {len(units)}")
    arrs = [(np.asarray(pairs[u][0], dtype=bool).ravel(), np.asarray(pairs[u][1], dtype=bool).ravel()) for u in units]
    d_unit = tuple(float(a.mean() - b.mean()) for a, b in arrs)
    p_unit = tuple(mcnemar_exact(a, b) for a, b in arrs)
    seeds = tuple(sorted({s for s, _ in units}))
    d_seed = tuple(float(np.mean([d for u, d in zip(units, d_unit, strict=True) if u[0] == s])) for s in seeds)
    r = corrected_resampled_t(d_unit, kfold_ratio(k), conf)
    acc_a, acc_b = float(np.mean([a.mean() for a, _ in arrs])), float(np.mean([b.mean() for _, b in arrs]))
    what = f"{len(units)} (seed, fold) fits: {len(seeds)} seed{'s' if len(seeds) != 1 else ''} x {k} folds"
    return Comparison(seeds, min(a.size for a, _ in arrs), acc_a, acc_b, r.mean, r.low, r.high,
                      f"corrected t over {what}, n_test/n_train = 1/{k - 1}" + (", clipped" if r.clipped else ""),
                      r.p_value, f"corrected resampled t-test (Nadeau & Bengio 2003), {what}, df {r.df}",
                      tuple(_NAN for _ in seeds), d_seed, r.clipped, units=units, diff_per_unit=d_unit, p_per_unit=p_unit)


# --------------------------------------------------------------------------- several comparisons


def holm(pvalues: Sequence[float] | np.ndarray) -> list[float]:
    """Holm step-down adjusted p-values in the input order (NaN stays NaN, not counted)."""
    p = np.asarray(pvalues, dtype=np.float64).ravel()
    adj = np.full(p.shape, _NAN)
    ok = np.flatnonzero(~np.isnan(p))
    order = ok[np.argsort(p[ok], kind="stable")]
    m, running = len(order), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return adj.tolist()


def holm_comparisons(comparisons: Sequence[Comparison], alpha: float = ALPHA) -> list[Comparison]:
    """The comparisons with Holm-adjusted ``p_adjusted`` and ``significant`` (adjusted p < alpha)."""
    adj = holm([c.p_value for c in comparisons])
    return [dataclasses.replace(c, p_adjusted=q, significant=None if math.isnan(q) else bool(q < alpha))
            for c, q in zip(comparisons, adj, strict=True)]


# --------------------------------------------------------------------------- the paper's numbers


def paper_pair(acc1_pct: float, acc2_pct: float, n: int) -> tuple[float, float]:
    """Can a test set of `n` images tell two of the paper's accuracies apart?

    Returns:
        (Fisher's exact p of the two accuracies as independent samples of n images, the
        smallest exact McNemar p the same images could give: every discordant image favouring
        one model, |k1 - k2| of them).
    """
    k1, k2 = round(acc1_pct / 100 * n), round(acc2_pct / 100 * n)
    fisher = float(sps.fisher_exact([[k1, n - k1], [k2, n - k2]]).pvalue)
    d = abs(k1 - k2)
    best = 1.0 if d == 0 else float(sps.binomtest(0, d, 0.5).pvalue)
    return fisher, best
