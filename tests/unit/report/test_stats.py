"""The statistics against scipy / statsmodels / published and hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

from ablate.report import stats

# --------------------------------------------------------------------------- one configuration


def test_wilson_is_scipys():
    for k, n in [(8, 10), (0, 20), (20, 20), (993, 1000)]:
        ref = sps.binomtest(k, n).proportion_ci(0.95, method="wilson")
        assert stats.wilson_interval(k, n) == (k / n, ref.low, ref.high)
    _, lo, hi = stats.wilson_interval(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)
    assert all(math.isnan(v) for v in stats.wilson_interval(0, 0))


def test_one_run_is_a_bootstrap_over_images_close_to_the_normal_approximation():
    correct = np.random.default_rng(1).random(1000) < 0.9
    est = stats.accuracy_estimate([correct])
    assert est.estimate == pytest.approx(correct.mean()) and est.n_seeds == 1
    assert est.method == "bootstrap over 1000 test images"
    assert (est.high - est.low) / 2 == pytest.approx(1.96 * math.sqrt(0.09 / 1000), abs=0.004)
    assert stats.accuracy_estimate([correct]) == est  # seeded


def test_all_correct_run_falls_back_to_wilson():
    est = stats.accuracy_estimate([np.ones(200, bool)])
    ref = sps.binomtest(200, 200).proportion_ci(method="wilson")
    assert (est.estimate, est.low, est.high) == (1.0, ref.low, ref.high) and est.method.startswith("Wilson")


def test_two_seeds_average_per_image_and_three_seeds_use_t():
    rng = np.random.default_rng(2)
    seeds = [rng.random(500) < p for p in (0.8, 0.85, 0.9)]
    two = stats.accuracy_estimate(seeds[:2])
    assert two.estimate == pytest.approx((seeds[0].mean() + seeds[1].mean()) / 2)
    assert "2 seeds averaged" in two.method and two.low < two.estimate < two.high
    three = stats.accuracy_estimate(seeds)
    accs = [s.mean() for s in seeds]
    ref = sps.t.interval(0.95, 2, loc=np.mean(accs), scale=sps.sem(accs))
    assert (three.low, three.high) == pytest.approx(ref) and three.method == "t over 3 seeds"


def test_seed_mean_clips_and_flags():
    e = stats.seed_mean([0.05, 0.5, 0.95])
    assert (e.low, e.high, e.clipped) == (0.0, 1.0, True) and "clipped" in e.method
    one = stats.seed_mean([0.9, float("nan")])
    assert one.estimate == 0.9 and math.isnan(one.low) and one.n_seeds == 1
    e = stats.seed_mean([0.5] * 3)
    assert (e.estimate, e.low, e.high) == (0.5, 0.5, 0.5)


def test_accuracy_from_counts():
    e = stats.accuracy_from_counts([0.9], [100])
    ref = sps.binomtest(90, 100).proportion_ci(method="wilson")
    assert (e.low, e.high) == (ref.low, ref.high)
    assert stats.accuracy_from_counts([0.9, 0.8, 0.85], [100] * 3).method == "t over 3 seeds"


# --------------------------------------------------------------------------- paired


def test_mcnemar_exact_hand_computed():
    # 10 discordant pairs split 8 / 2: p = 2 * P(X <= 2 | n=10, 1/2) = 2 * 56/1024
    a = np.array([True] * 8 + [False] * 2 + [True] * 50)
    b = np.array([False] * 8 + [True] * 2 + [True] * 50)
    assert stats.mcnemar_exact(a, b) == pytest.approx(2 * 56 / 1024)
    assert stats.mcnemar_exact(a, a) == 1.0
    with pytest.raises(ValueError):
        stats.mcnemar_exact(a, b[:-1])


@pytest.mark.parametrize(("both", "a_only", "b_only", "neither"),
                         [(50, 8, 2, 0), (900, 15, 3, 82), (990, 0, 1, 9), (10, 5, 5, 0)])
def test_mcnemar_exact_matches_statsmodels(both, a_only, b_only, neither):
    a = np.array([1] * both + [1] * a_only + [0] * b_only + [0] * neither, bool)
    b = np.array([1] * both + [0] * a_only + [1] * b_only + [0] * neither, bool)
    ref = mcnemar([[both, a_only], [b_only, neither]], exact=True).pvalue
    assert stats.mcnemar_exact(a, b) == pytest.approx(ref, rel=1e-12)


def test_newcombe_paired_interval_published_example():
    # Fagerland, Lydersen & Laake (2017), ch. 8: Cavo et al. (2012), n = [[59, 6], [16, 80]]:
    # estimate -0.0621, Newcombe square-and-add 95% CI -0.1186 to -0.0046
    d, lo, hi = stats.newcombe_paired_interval(59, 6, 16, 80)
    assert d == pytest.approx(-10 / 161)
    assert lo == pytest.approx(-0.1186, abs=5e-5) and hi == pytest.approx(-0.0046, abs=5e-5)
    d, lo, hi = stats.newcombe_paired_interval(95, 0, 0, 5)
    assert d == 0 and lo < 0 < hi


def test_one_seed_comparison_is_a_paired_bootstrap_and_mcnemar():
    rng = np.random.default_rng(0)
    a, b = rng.random(1000) < 0.95, rng.random(1000) < 0.90
    c = stats.compare_paired({0: (a, b)})
    ref = sps.bootstrap((a.astype(float), b.astype(float)), lambda x, y, axis: x.mean(axis) - y.mean(axis),
                        paired=True, vectorized=True, n_resamples=2000, method="percentile",
                        rng=np.random.default_rng(5)).confidence_interval
    assert c.diff == pytest.approx(a.mean() - b.mean()) and c.seeds == (0,)
    assert (c.low, c.high) == pytest.approx((ref.low, ref.high), abs=0.006)
    assert c.p_value == c.p_per_seed[0] == stats.mcnemar_exact(a, b) and c.test == "exact McNemar"
    same = stats.compare_paired({0: (a, a)})  # no discordant image: Newcombe, not a zero-width interval
    assert same.diff == 0 and same.low < 0 < same.high and same.ci_method.startswith("Newcombe")


def test_two_seeds_take_the_larger_mcnemar_p():
    rng = np.random.default_rng(1)
    pairs = {s: (rng.random(300) < 0.9, rng.random(300) < 0.8) for s in (3, 7)}
    c = stats.compare_paired(pairs)
    assert c.seeds == (3, 7) and c.p_value == max(c.p_per_seed)
    assert c.diff == pytest.approx(np.mean([a.mean() - b.mean() for a, b in pairs.values()]))
    assert c.diff == pytest.approx(c.acc_a - c.acc_b)


def test_three_seeds_use_the_paired_t_over_seeds():
    rng = np.random.default_rng(2)
    pairs = {s: (rng.random(300) < 0.9, rng.random(300) < 0.85) for s in range(4)}
    c = stats.compare_paired(pairs)
    d = [a.mean() - b.mean() for a, b in pairs.values()]
    assert c.p_value == pytest.approx(sps.ttest_rel([a.mean() for a, _ in pairs.values()],
                                                    [b.mean() for _, b in pairs.values()]).pvalue)
    assert (c.low, c.high) == pytest.approx(sps.t.interval(0.95, 3, loc=np.mean(d), scale=sps.sem(d)))
    assert c.diff_per_seed == pytest.approx(d)


def test_align_predictions_by_image_id():
    pa = pd.DataFrame({"image": ["c", "a", "b"], "label": [2, 0, 1], "pred": [2, 1, 1]})
    pb = pd.DataFrame({"image": ["a", "b", "c", "d"], "label": [0, 1, 2, 0], "pred": [0, 0, 2, 0]})
    m = stats.align_predictions(pa, pb)
    assert m.image.tolist() == ["a", "b", "c"] and m.label.tolist() == [0, 1, 2]
    assert m.correct_a.tolist() == [False, True, True] and m.correct_b.tolist() == [True, False, True]
    with pytest.raises(ValueError, match="duplicate"):
        stats.align_predictions(pd.concat([pa, pa]), pb)
    with pytest.raises(ValueError, match="different labels"):
        stats.align_predictions(pa, pb.assign(label=[0, 1, 0, 0]))


# --------------------------------------------------------------------------- several comparisons


def test_holm_matches_statsmodels_and_keeps_nan():
    p = np.random.default_rng(0).uniform(0, 0.1, 12)
    _, adj, *_ = multipletests(p, alpha=0.05, method="holm")
    assert stats.holm(p) == pytest.approx(adj.tolist())
    out = stats.holm([0.01, float("nan"), 0.03])
    assert out[0] == pytest.approx(0.02) and math.isnan(out[1]) and out[2] == pytest.approx(0.03)


def test_holm_comparisons_set_adjusted_p_and_flag():
    strong = stats.compare_paired({0: (np.ones(100, bool), np.r_[np.zeros(20, bool), np.ones(80, bool)])})
    weak = stats.compare_paired({0: (np.r_[np.zeros(1, bool), np.ones(99, bool)],  # discordant 9 / 1
                                     np.r_[np.ones(1, bool), np.zeros(9, bool), np.ones(90, bool)])})
    out = stats.holm_comparisons([weak, strong, weak, weak], alpha=0.05)
    reject, adj, *_ = multipletests([weak.p_value, strong.p_value] + [weak.p_value] * 2, 0.05, method="holm")
    assert [c.p_adjusted for c in out] == pytest.approx(adj.tolist())
    assert [c.significant for c in out] == reject.tolist() == [False, True, False, False]


# --------------------------------------------------------------------------- the paper's numbers


def test_paper_pair_on_the_papers_test_set():
    fisher, best = stats.paper_pair(99.6, 98.8, 1000)
    assert fisher == pytest.approx(sps.fisher_exact([[996, 4], [988, 12]]).pvalue) and fisher > 0.05
    assert best == pytest.approx(2 * 0.5**8)  # 8 discordant images, all one way
    assert stats.paper_pair(99.7, 99.6, 1000)[1] == 1.0


# --------------------------------------------------------------------------- searches


def test_param_importances_find_the_parameter_that_matters():
    rng = np.random.default_rng(0)
    lr, noise = rng.uniform(0, 1, 30), rng.uniform(0, 1, 30)
    df = pd.DataFrame({"space.lr": lr, "space.noise": noise, "val_acc": lr + 0.01 * noise})
    imp = stats.param_importances(df, ["space.lr", "space.noise"], "val_acc")
    assert max(imp, key=imp.get) == "space.lr"
    assert stats.param_importances(df.head(2), ["space.lr"], "val_acc") == {}


# --------------------------------------------------------------------------- k-fold (Nadeau & Bengio)


def test_corrected_resampled_t_by_hand_and_more_cautious_than_the_plain_paired_t():
    from ablate.report.resampled import corrected_resampled_t, kfold_ratio

    d = [0.03, 0.01, 0.02]  # J = 3 fits of 3-fold: mean 0.02, var (ddof 1) 1e-4, n_test/n_train = 1/2
    r = corrected_resampled_t(d, kfold_ratio(3))
    se = math.sqrt((1 / 3 + 1 / 2) * 1e-4)  # 0.0091287
    assert r.mean == pytest.approx(0.02) and r.df == 2 and r.t == pytest.approx(0.02 / se) == pytest.approx(2.19089, abs=1e-5)
    # with 2 df, P(|T| > t) = 1 - t / sqrt(2 + t^2): no table needed
    assert r.p_value == pytest.approx(1 - 2.19089 / math.sqrt(2 + 2.19089**2), abs=1e-5) == pytest.approx(0.15983, abs=1e-5)
    assert (r.low, r.high) == pytest.approx((0.02 - 4.302653 * se, 0.02 + 4.302653 * se), abs=1e-6)  # t_0.975,2
    plain = corrected_resampled_t(d, 0.0)
    assert plain.p_value == pytest.approx(sps.ttest_1samp(d, 0).pvalue) == pytest.approx(1 - 3.4641 / math.sqrt(14), abs=1e-4)
    assert r.p_value > plain.p_value and r.high - r.low > plain.high - plain.low
    assert corrected_resampled_t([0.01, 0.01], 0.5).p_value == 0.0 and corrected_resampled_t([0.0, 0.0], 0.5).p_value == 1.0
    with pytest.raises(ValueError, match="k >= 2"):
        kfold_ratio(1)


def test_compare_paired_over_folds_pairs_every_fit():
    rng = np.random.default_rng(3)
    pairs = {(s, f): (rng.random(100) < 0.7 + 0.02 * f, rng.random(100) < 0.6) for s in (0, 1) for f in range(3)}
    c = stats.compare_paired(pairs, folds=3)
    d = [a.mean() - b.mean() for a, b in pairs.values()]
    j = len(d)
    t = np.mean(d) / math.sqrt((1 / j + 1 / 2) * np.var(d, ddof=1))
    assert c.units == tuple(pairs) and c.diff_per_unit == pytest.approx(d) and c.seeds == (0, 1)
    assert c.p_value == pytest.approx(2 * sps.t.sf(abs(t), j - 1)) and c.p_value > sps.ttest_1samp(d, 0).pvalue
    assert c.diff == pytest.approx(c.acc_a - c.acc_b) == pytest.approx(np.mean(d))
    assert c.test == "corrected resampled t-test (Nadeau & Bengio 2003), 6 (seed, fold) fits: 2 seeds x 3 folds, df 5"
    assert c.diff_per_seed == pytest.approx([np.mean(d[:3]), np.mean(d[3:])]) and len(c.p_per_unit) == 6
