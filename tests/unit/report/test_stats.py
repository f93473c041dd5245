"""The statistics against scipy and hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from ablate.report import stats


def test_t_interval_matches_scipy():
    x = [0.95, 0.97, 0.96, 0.99]
    m, lo, hi = stats.t_interval(x)
    ref = sps.t.interval(0.95, 3, loc=np.mean(x), scale=sps.sem(x))
    assert m == pytest.approx(np.mean(x)) and (lo, hi) == pytest.approx(ref)
    one = stats.t_interval([0.9])
    assert one[0] == 0.9 and math.isnan(one[1]) and math.isnan(one[2])


def test_bootstrap_accuracy_close_to_scipy_and_deterministic():
    rng = np.random.default_rng(1)
    correct = rng.random(1000) < 0.9
    est, lo, hi = stats.bootstrap_accuracy(correct, n_boot=4000, seed=0)
    ref = sps.bootstrap((correct.astype(float),), np.mean, n_resamples=4000, method="percentile", random_state=0).confidence_interval
    assert est == pytest.approx(correct.mean())
    assert lo == pytest.approx(ref.low, abs=0.004) and hi == pytest.approx(ref.high, abs=0.004)
    assert stats.bootstrap_accuracy(correct, seed=0) == stats.bootstrap_accuracy(correct, seed=0)
    # about +/- 1.9 points for 90% on 1000 images, as the normal approximation says
    assert (hi - lo) / 2 == pytest.approx(1.96 * math.sqrt(0.9 * 0.1 / 1000), abs=0.004)


def test_wilson_interval_hand_computed():
    p, lo, hi = stats.wilson_interval(8, 10)
    assert p == 0.8 and lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)


def test_mcnemar_exact_hand_computed():
    # 10 discordant pairs split 8 / 2: p = 2 * P(X <= 2 | n=10, 1/2) = 2 * 56/1024
    a = np.array([True] * 8 + [False] * 2 + [True] * 50)
    b = np.array([False] * 8 + [True] * 2 + [True] * 50)
    assert stats.mcnemar_exact(a, b) == pytest.approx(2 * 56 / 1024)
    assert stats.mcnemar_exact(a, a) == 1.0
    assert stats.mcnemar_exact(a, b) == stats.mcnemar_exact(b, a)
    with pytest.raises(ValueError):
        stats.mcnemar_exact(a, b[:-1])


def test_paired_difference_contains_truth():
    a = np.array([True] * 95 + [False] * 5)
    b = np.array([True] * 85 + [False] * 15)
    d, lo, hi = stats.paired_difference(a, b, seed=0)
    assert d == pytest.approx(0.10) and lo < 0.10 < hi and lo > 0


def test_holm_hand_computed():
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_param_importances_find_the_parameter_that_matters():
    rng = np.random.default_rng(0)
    lr = rng.uniform(0, 1, 30)
    noise = rng.uniform(0, 1, 30)
    df = pd.DataFrame({"space.lr": lr, "space.noise": noise, "val_acc": lr + 0.01 * noise})
    imp = stats.param_importances(df, ["space.lr", "space.noise"], "val_acc")
    assert max(imp, key=imp.get) == "space.lr"
    assert stats.param_importances(df.head(2), ["space.lr"], "val_acc") == {}
