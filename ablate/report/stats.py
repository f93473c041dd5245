"""Statistics the paper lacks: confidence intervals, paired tests, multiple comparisons.

- One run: accuracy and per-class precision / sensitivity / F1 with a percentile bootstrap
  over the test images (vectorised, chunked), and Wilson's score interval for accuracy.
- Several seeds: the mean with a Student-t interval (one seed: no interval, NaN and a flag).
- Two configurations on the same test images: the exact McNemar test (two-sided binomial on
  the discordant pairs; p = 1 without discordant pairs) and the accuracy difference with a
  paired-bootstrap interval (default) or Newcombe's square-and-add interval for paired
  proportions (Newcombe 1998, method 10, with the phi correction of Fagerland, Lydersen &
  Laake 2014, "Recommended tests and confidence intervals for paired binomial proportions").
- Several comparisons: Holm's step-down adjustment and a ``significant`` flag at ``ALPHA``.

Every interval comes back as an `Interval` (a named tuple ``estimate, low, high``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats as sps

__all__ = [
    "ALPHA",
    "Interval",
    "PairedComparison",
    "SeedMean",
    "accuracy_ci",
    "accuracy_wilson",
    "align_predictions",
    "bootstrap_accuracy",
    "compare_runs",
    "holm",
    "holm_comparisons",
    "holm_significant",
    "mcnemar_exact",
    "newcombe_paired_interval",
    "paired_comparison",
    "paired_difference",
    "param_importances",
    "per_class_ci",
    "seed_mean",
    "t_interval",
    "wilson_interval",
]

ALPHA = 0.05  # significance level of the `significant` flags
_CHUNK = 4_000_000  # resampled indices held at once (32 MB of int64)
_NAN = float("nan")

ArrayLike = Sequence[Any] | np.ndarray


class Interval(NamedTuple):
    """A point estimate and its confidence interval (NaN where undefined)."""

    estimate: float
    low: float
    high: float


NAN3 = Interval(_NAN, _NAN, _NAN)


# --------------------------------------------------------------------------- bootstrap core


def _boot_indices(n: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """(chunk, n) arrays of resampled indices, n_boot rows in all, the same for any chunking."""
    rng = np.random.default_rng(seed)
    per = max(1, _CHUNK // max(n, 1))
    for start in range(0, n_boot, per):
        yield rng.integers(0, n, size=(min(per, n_boot - start), n))


def _percentile(boots: np.ndarray, estimate: float, conf: float) -> Interval:
    """Percentile interval of bootstrap replicates (NaN replicates ignored)."""
    q = (1 - conf) / 2
    with np.errstate(all="ignore"):
        lo, hi = (
            np.nanquantile(boots, [q, 1 - q], axis=0) if np.isfinite(boots).any() else (_NAN, _NAN)
        )
    return Interval(float(estimate), float(lo), float(hi))


def _labels(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    t, p = np.asarray(y_true).astype(np.int64).ravel(), np.asarray(y_pred).astype(np.int64).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} labels but y_pred has {p.size}")
    return t, p


# --------------------------------------------------------------------------- one run


def bootstrap_accuracy(
    correct: ArrayLike, n_boot: int = 2000, seed: int = 0, conf: float = 0.95
) -> Interval:
    """Accuracy with a percentile bootstrap over test images.

    Args:
        correct: per-image booleans (prediction == label).
        n_boot: bootstrap resamples.
        seed: seed of the resampling.
        conf: confidence level.
    """
    c = np.asarray(correct, dtype=np.float64).ravel()
    if c.size == 0:
        return NAN3
    boots = np.concatenate([c[idx].mean(axis=1) for idx in _boot_indices(c.size, n_boot, seed)])
    return _percentile(boots, c.mean(), conf)


def accuracy_ci(
    y_true: ArrayLike, y_pred: ArrayLike, n_boot: int = 2000, seed: int = 0, conf: float = 0.95
) -> Interval:
    """Accuracy of one run with a percentile bootstrap over its test images.

    Args:
        y_true: true class per image.
        y_pred: predicted class per image.
        n_boot: bootstrap resamples.
        seed: seed of the resampling.
        conf: confidence level.
    """
    t, p = _labels(y_true, y_pred)
    return bootstrap_accuracy(t == p, n_boot, seed, conf)


def wilson_interval(k: int, n: int, conf: float = 0.95) -> Interval:
    """Proportion k / n with Wilson's score interval (NaN for n = 0)."""
    if n == 0:
        return NAN3
    z = float(sps.norm.ppf(1 - (1 - conf) / 2))
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


def accuracy_wilson(y_true: ArrayLike, y_pred: ArrayLike, conf: float = 0.95) -> Interval:
    """Accuracy of one run with Wilson's score interval."""
    t, p = _labels(y_true, y_pred)
    return wilson_interval(int((t == p).sum()), t.size, conf)


def _class_metrics(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, sensitivity, F1 of (..., K, K) confusion counts (rows true); NaN if undefined."""
    tp = np.diagonal(cm, axis1=-2, axis2=-1).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = tp / cm.sum(axis=-2)
        sensitivity = tp / cm.sum(axis=-1)
        f1 = 2 * tp / (cm.sum(axis=-2) + cm.sum(axis=-1))
    return {"precision": precision, "sensitivity": sensitivity, "f1": f1}


def per_class_ci(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    num_classes: int | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    conf: float = 0.95,
) -> pd.DataFrame:
    """Per-class precision, sensitivity (recall) and F1 with percentile-bootstrap intervals.

    Point estimates follow `ablate.engine.metrics.per_class_metrics` (0 where undefined);
    resamples in which a metric is undefined (class absent or never predicted) are left out
    of that metric's interval.

    Args:
        y_true: true class per image.
        y_pred: predicted class per image.
        num_classes: K (default: the largest class index seen + 1).
        n_boot: bootstrap resamples.
        seed: seed of the resampling.
        conf: confidence level.

    Returns:
        One row per class: ``class_index, support`` and for each of ``precision,
        sensitivity, f1`` the estimate and ``<metric>_low`` / ``<metric>_high``.
    """
    t, p = _labels(y_true, y_pred)
    k = int(
        num_classes if num_classes is not None else max(t.max(initial=-1), p.max(initial=-1)) + 1
    )
    cell = t * k + p  # (N,) flat confusion-cell index of each image
    point = _class_metrics(np.bincount(cell, minlength=k * k).reshape(k, k))
    boots: dict[str, list[np.ndarray]] = {m: [] for m in point}
    if t.size:
        for idx in _boot_indices(t.size, n_boot, seed):
            b = idx.shape[0]
            flat = (np.arange(b)[:, None] * (k * k) + cell[idx]).ravel()  # (b * N,)
            cms = np.bincount(flat, minlength=b * k * k).reshape(b, k, k)  # (b, K, K)
            for m, v in _class_metrics(cms).items():
                boots[m].append(v)
    rows = []
    support = np.bincount(t, minlength=k)
    for c in range(k):
        row: dict[str, Any] = {"class_index": c, "support": int(support[c])}
        for m, est in point.items():
            e = float(np.nan_to_num(est[c]))
            iv = (
                _percentile(np.concatenate(boots[m])[:, c], e, conf)
                if boots[m]
                else Interval(e, _NAN, _NAN)
            )
            row.update({m: iv.estimate, f"{m}_low": iv.low, f"{m}_high": iv.high})
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- several seeds


class SeedMean(NamedTuple):
    """Mean over seeds with a Student-t interval; ``has_ci`` is False for a single seed."""

    mean: float
    low: float
    high: float
    sd: float
    n: int
    has_ci: bool


def seed_mean(values: ArrayLike, conf: float = 0.95) -> SeedMean:
    """Mean of one metric over seeds with a Student-t interval (NaN values dropped).

    One value gives the value, NaN bounds and ``has_ci=False``; no values give all NaN.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[~np.isnan(x)]
    n = int(x.size)
    if n == 0:
        return SeedMean(_NAN, _NAN, _NAN, _NAN, 0, False)
    m = float(x.mean())
    if n == 1:
        return SeedMean(m, _NAN, _NAN, _NAN, 1, False)
    sd = float(x.std(ddof=1))
    if sd == 0:
        return SeedMean(m, m, m, 0.0, n, True)
    lo, hi = sps.t.interval(conf, n - 1, loc=m, scale=sd / math.sqrt(n))
    return SeedMean(m, float(lo), float(hi), sd, n, True)


def t_interval(values: ArrayLike, conf: float = 0.95) -> Interval:
    """Mean with a Student-t interval; one value: NaN bounds (see `seed_mean` for the flag)."""
    s = seed_mean(values, conf)
    return Interval(s.mean, s.low, s.high)


# --------------------------------------------------------------------------- paired runs


def align_predictions(
    pred_a: pd.DataFrame, pred_b: pd.DataFrame, on: str = "image", strict: bool = True
) -> pd.DataFrame:
    """Pair two runs' per-image predictions by image id.

    Args:
        pred_a: columns ``on``, ``label``, ``pred`` (e.g. one trial's ``predictions`` rows).
        pred_b: the same for the other run.
        on: the image id column.
        strict: require both runs to cover exactly the same images (else keep the shared ones).

    Returns:
        Sorted by id: ``on, label, pred_a, pred_b, correct_a, correct_b``.

    Raises:
        ValueError: duplicate ids, labels that disagree, no shared images, or (strict) images
            only one run has.
    """
    for name, df in (("a", pred_a), ("b", pred_b)):
        missing = {on, "label", "pred"} - set(df.columns)
        if missing:
            raise ValueError(f"run {name} predictions lack columns {sorted(missing)}")
        dup = df[on].duplicated()
        if dup.any():
            raise ValueError(
                f"run {name} has {int(dup.sum())} duplicate {on!r} ids (e.g. {df[on][dup].iloc[0]!r}); "
                "filter to one split and one trial first"
            )
    m = pred_a[[on, "label", "pred"]].merge(
        pred_b[[on, "label", "pred"]], on=on, how="inner", suffixes=("_a", "_b")
    )
    only = len(pred_a) + len(pred_b) - 2 * len(m)
    if m.empty:
        raise ValueError(f"the two runs share no {on!r} ids")
    if strict and only:
        raise ValueError(
            f"{only} images are in only one run; pass strict=False to compare the {len(m)} shared ones"
        )
    bad = m.label_a != m.label_b
    if bad.any():
        raise ValueError(
            f"{int(bad.sum())} shared images have different labels in the two runs (e.g. {m[on][bad].iloc[0]!r})"
        )
    m = (
        m.rename(columns={"label_a": "label"})
        .drop(columns="label_b")
        .sort_values(on, kind="stable")
    )
    m["correct_a"] = m.pred_a == m.label
    m["correct_b"] = m.pred_b == m.label
    return m.reset_index(drop=True)[[on, "label", "pred_a", "pred_b", "correct_a", "correct_b"]]


def _paired(correct_a: ArrayLike, correct_b: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(correct_a, dtype=bool).ravel(), np.asarray(correct_b, dtype=bool).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired predictions must cover the same images ({a.size} vs {b.size})")
    return a, b


def mcnemar_exact(correct_a: ArrayLike, correct_b: ArrayLike) -> float:
    """Two-sided exact McNemar p-value: binomial(1/2) test on the discordant pairs (1 if none)."""
    a, b = _paired(correct_a, correct_b)
    n01, n10 = int((a & ~b).sum()), int((~a & b).sum())
    if n01 + n10 == 0:
        return 1.0
    return float(sps.binomtest(min(n01, n10), n01 + n10, 0.5).pvalue)


def paired_difference(
    correct_a: ArrayLike,
    correct_b: ArrayLike,
    n_boot: int = 2000,
    seed: int = 0,
    conf: float = 0.95,
) -> Interval:
    """acc_a - acc_b with a percentile paired bootstrap (images resampled jointly)."""
    a, b = _paired(correct_a, correct_b)
    if a.size == 0:
        return NAN3
    d = a.astype(np.float64) - b.astype(np.float64)  # (N,) in {-1, 0, 1}
    boots = np.concatenate([d[idx].mean(axis=1) for idx in _boot_indices(d.size, n_boot, seed)])
    return _percentile(boots, d.mean(), conf)


def newcombe_paired_interval(
    both: int, a_only: int, b_only: int, neither: int, conf: float = 0.95
) -> Interval:
    """acc_a - acc_b with Newcombe's square-and-add interval for paired proportions.

    Wilson intervals of both accuracies combined with the phi correlation of the 2x2 table
    (phi set to 0 for 0 <= ad - bc <= n/2 and shrunk by n/2 above, as in Fagerland et al.).

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
class PairedComparison:
    """Two runs on the same test images: accuracies, their difference (a - b), McNemar."""

    n: int  # shared test images
    acc_a: float
    acc_b: float
    diff: float  # acc_a - acc_b
    diff_low: float
    diff_high: float
    ci_method: str  # "bootstrap" (paired percentile) or "newcombe" (square-and-add)
    a_only: int  # images only a got right
    b_only: int  # images only b got right
    p_value: float  # exact McNemar, two-sided
    p_adjusted: float  # p_value, or its Holm adjustment after `holm_comparisons`
    significant: bool  # p_adjusted < alpha

    def as_dict(self) -> dict[str, Any]:
        """The fields as a flat dict (a table row)."""
        return dataclasses.asdict(self)


def paired_comparison(
    correct_a: ArrayLike,
    correct_b: ArrayLike,
    *,
    ci: Literal["bootstrap", "newcombe"] = "bootstrap",
    n_boot: int = 2000,
    seed: int = 0,
    conf: float = 0.95,
    alpha: float = ALPHA,
) -> PairedComparison:
    """Compare two runs image by image: exact McNemar plus the accuracy difference's interval.

    Args:
        correct_a: per-image correctness of run a (aligned with b; see `align_predictions`).
        correct_b: the same for run b.
        ci: ``bootstrap`` (paired percentile bootstrap) or ``newcombe`` (square-and-add).
        n_boot: bootstrap resamples.
        seed: seed of the resampling.
        conf: confidence level of the difference's interval.
        alpha: level of the ``significant`` flag (p < alpha).
    """
    a, b = _paired(correct_a, correct_b)
    n = int(a.size)
    both, a_only, b_only = int((a & b).sum()), int((a & ~b).sum()), int((~a & b).sum())
    if ci == "bootstrap":
        iv = paired_difference(a, b, n_boot, seed, conf)
    elif ci == "newcombe":
        iv = newcombe_paired_interval(both, a_only, b_only, n - both - a_only - b_only, conf)
    else:
        raise ValueError(f"ci must be 'bootstrap' or 'newcombe', got {ci!r}")
    p = mcnemar_exact(a, b) if n else _NAN
    return PairedComparison(
        n=n,
        acc_a=float(a.mean()) if n else _NAN,
        acc_b=float(b.mean()) if n else _NAN,
        diff=iv.estimate,
        diff_low=iv.low,
        diff_high=iv.high,
        ci_method=ci,
        a_only=a_only,
        b_only=b_only,
        p_value=p,
        p_adjusted=p,
        significant=bool(p < alpha),
    )


def compare_runs(
    pred_a: pd.DataFrame,
    pred_b: pd.DataFrame,
    on: str = "image",
    strict: bool = True,
    **kwargs: Any,
) -> PairedComparison:
    """`align_predictions` then `paired_comparison` (keyword arguments go to the latter)."""
    m = align_predictions(pred_a, pred_b, on=on, strict=strict)
    return paired_comparison(m.correct_a.to_numpy(), m.correct_b.to_numpy(), **kwargs)


# --------------------------------------------------------------------------- several comparisons


def holm(pvalues: ArrayLike) -> list[float]:
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


def holm_significant(pvalues: ArrayLike, alpha: float = ALPHA) -> list[bool]:
    """Which hypotheses Holm's procedure rejects at family-wise level `alpha`."""
    return [bool(q < alpha) for q in holm(pvalues)]


def holm_comparisons(
    comparisons: Sequence[PairedComparison], alpha: float = ALPHA
) -> list[PairedComparison]:
    """The comparisons with Holm-adjusted ``p_adjusted`` and ``significant`` set from it."""
    adj = holm([c.p_value for c in comparisons])
    return [
        dataclasses.replace(c, p_adjusted=q, significant=bool(q < alpha))
        for c, q in zip(comparisons, adj, strict=True)
    ]


# --------------------------------------------------------------------------- searches


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
            params[c] = (
                str(row[c])
                if isinstance(d, optuna.distributions.CategoricalDistribution)
                else float(row[c])
            )
        else:
            study.add_trial(
                optuna.trial.create_trial(
                    params=params, distributions=dists, value=float(row[metric])
                )
            )
    if len(study.trials) < 3:
        return {}
    try:
        # fANOVA, seeded: the global share of variance (Optuna 5's default, PED-ANOVA, measures
        # what matters within the top trials only)
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
        return {k: float(v) for k, v in optuna.importance.get_param_importances(study, evaluator=evaluator).items()}
    except (RuntimeError, ValueError):
        return {}
