"""The corrected resampled t-test of Nadeau & Bengio (2003), for numbers over k-fold fits.

The k fits of a k-fold run share most of their training data (any two share (k-2)/(k-1) of
it), so their accuracies, and the differences between two configurations fit on the same
folds, are positively correlated. A plain t over the fits treats them as independent and its
variance ``var(d) / J`` is too small: the test is too liberal. Nadeau & Bengio (2003,
*Inference for the generalization error*, Machine Learning 52:239-281) inflate the variance by
the ratio of held-out to training data:

    t = mean(d) / sqrt((1/J + n_test/n_train) * var(d)),   df = J - 1,

with ``d`` the J paired differences (here one per seed and fold) and ``var`` the sample
variance (ddof 1). Over r seeds of k folds (J = r*k) this is the "corrected repeated k-fold
cv test" of Bouckaert & Frank (2004). The interval is ``mean(d) +- t_{df} * sqrt((1/J +
n_test/n_train) * var(d))``, the same corrected variance.

``n_test/n_train``: for k-fold each fit holds out one fold and trains on k-1, so the standard
choice is ``1/(k-1)`` (`kfold_ratio`). Our fits are all tested on one fixed test set that no
fold trains on; sharing the test images correlates the fits further, so the correction is a
floor, not a guarantee of a conservative test.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

__all__ = ["CorrectedT", "corrected_resampled_t", "kfold_ratio"]


def kfold_ratio(k: int) -> float:
    """n_test / n_train of k-fold cross-validation: one fold held out, k - 1 trained on."""
    if k < 2:
        raise ValueError(f"k-fold needs k >= 2 folds, got {k}")
    return 1.0 / (k - 1)


@dataclass(frozen=True)
class CorrectedT:
    """Result of `corrected_resampled_t`: the mean, its interval, t, df and the two-sided p."""

    mean: float
    low: float
    high: float
    t: float
    df: int
    p_value: float
    clipped: bool = False


def corrected_resampled_t(values: Sequence[float] | np.ndarray, ratio: float, conf: float = 0.95,
                          bounds: tuple[float, float] = (-1.0, 1.0)) -> CorrectedT:
    """Nadeau & Bengio's corrected resampled t-test of ``mean(values) = 0`` and its interval.

    Args:
        values: the J paired differences (or one configuration's accuracies) of correlated
            fits, e.g. one per (seed, fold).
        ratio: n_test / n_train of each fit (`kfold_ratio` for k-fold); 0 gives the plain t.
        conf: confidence level of the interval (t quantile with df = J - 1).
        bounds: the interval is cut there (``clipped`` says so).

    Returns:
        mean, interval, t, df = J - 1 and the two-sided p (NaN with fewer than two values; with
        zero variance p is 1 for a zero mean, else 0, and the interval is the mean itself).
    """
    d = np.asarray(values, dtype=np.float64).ravel()
    d = d[~np.isnan(d)]
    j = int(d.size)
    nan = float("nan")
    if j == 0:
        return CorrectedT(nan, nan, nan, nan, 0, nan, False)
    m = float(d.mean())
    if j == 1:
        return CorrectedT(m, nan, nan, nan, 0, nan, False)
    var = float(d.var(ddof=1))
    if var == 0:
        return CorrectedT(m, m, m, nan if m == 0 else math.copysign(math.inf, m), j - 1, 1.0 if m == 0 else 0.0, False)
    se = math.sqrt((1.0 / j + ratio) * var)
    t = m / se
    p = float(2 * sps.t.sf(abs(t), j - 1))
    half = float(sps.t.ppf(0.5 + conf / 2, j - 1)) * se
    lo, hi = m - half, m + half
    clipped = bool(lo < bounds[0] or hi > bounds[1])
    return CorrectedT(m, max(lo, bounds[0]), min(hi, bounds[1]), t, j - 1, p, clipped)
