"""Power of the report's paired comparisons: what difference a run can detect, what would decide a claim.

Two tests, both two-sided at the report's ``alpha`` and sized for 80 % power by default:

- **Paired t over seeds** (what `ablate.report.stats.compare_paired` runs with 3 or more seeds):
  the power of a one-sample t-test of the per-seed differences, exactly, from the noncentral t
  distribution (``scipy.stats.nct``): with ``n`` seeds, standard deviation ``sd`` of the per-seed
  differences and a true difference ``d``, the statistic has ``n - 1`` degrees of freedom and
  noncentrality ``d / sd * sqrt(n)``. The smallest detectable difference and the seeds needed are
  found by root finding (``scipy.optimize.brentq``) and by counting up. The same numbers as
  statsmodels' ``TTestPower`` (the tests check it), without making statsmodels a runtime dependency.
- **Two proportions on n test images** (one run per model, or no seed spread to go by): the
  normal approximation on Cohen's arcsine effect size ``h = 2 asin(sqrt(p1)) - 2 asin(sqrt(p2))``,
  both tails counted, as statsmodels' ``NormalIndPower`` with ``proportion_effectsize``. It treats
  the two models' test sets as independent samples, which overstates the variance of a
  difference on the *same* images (paired predictions agree more often than chance): the image
  counts are upper bounds.

Where a quantity cannot be computed (no spread and no test size, a target power that no number of
seeds reaches) the functions return ``math.inf`` or NaN and `ablate.report.claims` says why in words.
"""

from __future__ import annotations

import math

from scipy import integrate, optimize
from scipy import stats as sps

__all__ = [
    "POWER",
    "binomial_sd",
    "paired_t_mdd",
    "paired_t_n",
    "paired_t_power",
    "two_proportion_mdd",
    "two_proportion_n",
    "two_proportion_power",
]

POWER = 0.8  # the power the report's "what would decide it" columns are sized for
MAX_SEEDS = 100_000  # counting seeds up stops here (inf beyond)


def paired_t_power(diff: float, sd: float, n: int, alpha: float = 0.05) -> float:
    """Power of the two-sided paired t-test over `n` seeds to detect a true mean difference `diff`
    when the per-seed differences have standard deviation `sd` (NaN for n < 2 or sd <= 0)."""
    if n < 2 or not sd > 0:
        return math.nan
    df, nc = n - 1, abs(diff) / sd * math.sqrt(n)
    crit = sps.t.ppf(1 - alpha / 2, df)
    return _nct_sf(crit, df, nc) + _nct_sf(crit, df, -nc)


def _nct_sf(c: float, df: int, nc: float) -> float:
    """P(T > c) for T noncentral t; scipy's ``nct`` returns NaN for a large noncentrality on few
    degrees of freedom, where the integral over the chi-square variable is used instead."""
    val = float(sps.nct.sf(c, df, nc))
    if math.isfinite(val):
        return val
    return float(integrate.quad(lambda v: sps.norm.sf(c * math.sqrt(v / df) - nc) * sps.chi2.pdf(v, df), 0, math.inf)[0])


def paired_t_mdd(sd: float, n: int, alpha: float = 0.05, power: float = POWER) -> float:
    """The smallest true difference the paired t-test over `n` seeds detects with `power`
    (NaN for n < 2 or sd <= 0)."""
    if n < 2 or not sd > 0:
        return math.nan
    hi = sd
    while paired_t_power(hi, sd, n, alpha) < power:
        hi *= 2
    return float(optimize.brentq(lambda d: paired_t_power(d, sd, n, alpha) - power, 0.0, hi, xtol=1e-12))


def paired_t_n(diff: float, sd: float, alpha: float = 0.05, power: float = POWER) -> float:
    """The fewest seeds (at least 2) at which the paired t-test detects `diff` with `power`; inf when
    `diff` is 0 or more than `MAX_SEEDS` would be needed; NaN for sd <= 0."""
    if not sd > 0:
        return math.nan
    if diff == 0:
        return math.inf
    z = sps.norm.ppf(1 - alpha / 2) + sps.norm.ppf(power)
    n = max(2, math.floor((z * sd / abs(diff)) ** 2))  # the normal approximation: a lower bound
    while paired_t_power(diff, sd, n, alpha) < power:
        n += 1
        if n > MAX_SEEDS:
            return math.inf
    return float(n)


def binomial_sd(p: float, n_images: int) -> float:
    """Standard deviation of one seed's accuracy difference between two models at accuracy `p` on
    `n_images` images, as independent samples: ``sqrt(2 p (1 - p) / n)`` (NaN when undefined).

    The floor the report puts under the seed spread where it sees none (all per-seed differences
    equal, or fewer than 3 seeds): the test images alone make two runs differ this much."""
    if n_images <= 0 or not 0 <= p <= 1:
        return math.nan
    return math.sqrt(2 * p * (1 - p) / n_images)


def _h(p1: float, p2: float) -> float:
    return 2 * math.asin(math.sqrt(p1)) - 2 * math.asin(math.sqrt(p2))


def two_proportion_power(p1: float, p2: float, n_images: int, alpha: float = 0.05) -> float:
    """Power of the two-sided two-proportion z-test (arcsine) with `n_images` per model."""
    if n_images <= 0:
        return math.nan
    z, shift = sps.norm.ppf(1 - alpha / 2), abs(_h(p1, p2)) * math.sqrt(n_images / 2)
    return float(sps.norm.sf(z - shift) + sps.norm.cdf(-z - shift))


def two_proportion_mdd(p: float, n_images: int, alpha: float = 0.05, power: float = POWER) -> float:
    """The smallest accuracy gain over `p` that `n_images` test images per model detect with `power`
    (NaN when no gain below 1 - p would: the accuracy is too close to 1)."""
    if n_images <= 0 or not 0 <= p < 1:
        return math.nan
    if two_proportion_power(1.0, p, n_images, alpha) < power:
        return math.nan
    return float(optimize.brentq(lambda q: two_proportion_power(q, p, n_images, alpha) - power, p, 1.0,
                                 xtol=1e-12) - p)


def two_proportion_n(p1: float, p2: float, alpha: float = 0.05, power: float = POWER) -> float:
    """Test images per model the two-proportion test needs to tell `p1` from `p2` (inf if equal)."""
    h = abs(_h(p1, p2))
    if h == 0:
        return math.inf
    lo = 1
    hi = 2
    while two_proportion_power(p1, p2, hi, alpha) < power:
        lo, hi = hi, hi * 2
        if hi > 10**12:
            return math.inf
    while hi - lo > 1:  # power rises with n: the first n that reaches it
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if two_proportion_power(p1, p2, mid, alpha) < power else (lo, mid)
    return float(hi if two_proportion_power(p1, p2, lo, alpha) < power else lo)
