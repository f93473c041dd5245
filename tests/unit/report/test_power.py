"""The power numbers behind the Claims section, against statsmodels and by hand."""

from __future__ import annotations

import math

import pytest
from statsmodels.stats.power import NormalIndPower, TTestPower
from statsmodels.stats.proportion import proportion_effectsize

from ablate.report import power


@pytest.mark.parametrize(("diff", "sd", "n"), [(0.02, 0.03, 3), (0.02, 0.03, 5), (0.008, 0.01, 12), (0.1, 0.02, 2)])
def test_paired_t_power_and_mdd_match_statsmodels(diff, sd, n):
    assert power.paired_t_power(diff, sd, n) == pytest.approx(TTestPower().power(diff / sd, n, 0.05), abs=1e-9)
    want = TTestPower().solve_power(nobs=n, alpha=0.05, power=0.8) * sd
    assert power.paired_t_mdd(sd, n) == pytest.approx(want, rel=1e-5)
    assert power.paired_t_power(power.paired_t_mdd(sd, n), sd, n) == pytest.approx(0.8, abs=1e-9)


@pytest.mark.parametrize(("diff", "sd"), [(0.02, 0.03), (0.008, 0.034), (0.05, 0.01)])
def test_seeds_needed_is_statsmodels_rounded_up(diff, sd):
    want = TTestPower().solve_power(effect_size=diff / sd, alpha=0.05, power=0.8)
    assert power.paired_t_n(diff, sd) == max(2, math.ceil(want))


def test_hand_computed_paired_t():
    # d/sd = 1 with 10 seeds: the textbook 80 % (one-sample t, two-sided 5 %): 0.803
    assert power.paired_t_power(1.0, 1.0, 10) == pytest.approx(0.8031, abs=1e-4)
    assert power.paired_t_n(1.0, 1.0) == 10  # 9 seeds give 0.759
    assert power.paired_t_n(0.0, 1.0) == math.inf and math.isnan(power.paired_t_mdd(0.0, 5))
    assert math.isnan(power.paired_t_power(0.1, 0.1, 1))


def test_two_proportions_match_statsmodels_and_the_papers_test_set():
    h = proportion_effectsize(0.996, 0.988)
    assert power.two_proportion_power(0.996, 0.988, 1000) == pytest.approx(NormalIndPower().power(h, 1000, 0.05))
    # 99.6 vs 98.8 needs 1,817 images per model: the paper's 1,000 are too few (its Fisher p is 0.08)
    assert power.two_proportion_n(0.996, 0.988) == math.ceil(NormalIndPower().solve_power(h, alpha=0.05, power=0.8)) == 1817
    mdd = power.two_proportion_mdd(0.5, 150)
    assert NormalIndPower().power(proportion_effectsize(0.5 + mdd, 0.5), 150, 0.05) == pytest.approx(0.8, abs=1e-6)
    assert math.isnan(power.two_proportion_mdd(0.999, 20))  # no gain below 100 % is detectable on 20 images
    assert power.binomial_sd(0.5, 200) == pytest.approx(0.05) and power.binomial_sd(1.0, 200) == 0.0
