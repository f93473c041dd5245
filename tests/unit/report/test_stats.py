"""The statistics against scipy / statsmodels / sklearn and hand-computed cases."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from sklearn.metrics import precision_recall_fscore_support

from ablate.report import stats


def _preds(
    n: int = 1000, k: int = 5, acc: float = 0.9, seed: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    return y, np.where(rng.random(n) < acc, y, rng.integers(0, k, n))


# --------------------------------------------------------------------------- one run


def test_bootstrap_accuracy_close_to_scipy_and_deterministic():
    rng = np.random.default_rng(1)
    correct = rng.random(1000) < 0.9
    est, lo, hi = stats.bootstrap_accuracy(correct, n_boot=4000, seed=0)
    ref = sps.bootstrap(
        (correct.astype(float),), np.mean, n_resamples=4000, method="percentile", random_state=0
    ).confidence_interval
    assert est == pytest.approx(correct.mean())
    assert lo == pytest.approx(ref.low, abs=0.004) and hi == pytest.approx(ref.high, abs=0.004)
    assert stats.bootstrap_accuracy(correct, seed=0) == stats.bootstrap_accuracy(correct, seed=0)
    # about +/- 1.9 points for 90% on 1000 images, as the normal approximation says
    assert (hi - lo) / 2 == pytest.approx(1.96 * math.sqrt(0.9 * 0.1 / 1000), abs=0.004)
    assert all(math.isnan(v) for v in stats.bootstrap_accuracy([]))


def test_accuracy_ci_from_labels_is_fast_and_chunking_free(monkeypatch):
    y, p = _preds()
    t0 = time.perf_counter()
    iv = stats.accuracy_ci(y, p, n_boot=2000, seed=3)
    assert time.perf_counter() - t0 < 5.0  # ~20 ms: one vectorised (2000, 1000) resample
    assert iv.estimate == pytest.approx((y == p).mean()) and iv.low < iv.estimate < iv.high
    monkeypatch.setattr(stats, "_CHUNK", 7000)  # 7 resamples per chunk: same indices, same answer
    assert stats.accuracy_ci(y, p, n_boot=2000, seed=3) == iv
    with pytest.raises(ValueError):
        stats.accuracy_ci(y, p[:-1])


def test_wilson_matches_scipy_and_hand_computed():
    p, lo, hi = stats.wilson_interval(8, 10)
    assert (
        p == 0.8 and lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)
    )
    for k, n in [(0, 20), (20, 20), (993, 1000), (500, 1000)]:
        ref = sps.binomtest(k, n).proportion_ci(0.95, method="wilson")
        _, lo, hi = stats.wilson_interval(k, n)
        assert (lo, hi) == pytest.approx((ref.low, ref.high), abs=1e-12)
    y, pr = _preds()
    ref = sps.binomtest(int((y == pr).sum()), len(y)).proportion_ci(0.95, method="wilson")
    assert stats.accuracy_wilson(y, pr)[1:] == pytest.approx((ref.low, ref.high))


def test_per_class_ci_matches_sklearn_and_scipy_bootstrap():
    y, p = _preds(n=600, k=4)
    df = stats.per_class_ci(y, p, num_classes=4, n_boot=2000, seed=0)
    pr, rc, f1, sup = precision_recall_fscore_support(y, p, labels=range(4), zero_division=0)
    assert df.precision.tolist() == pytest.approx(pr)
    assert df.sensitivity.tolist() == pytest.approx(rc)
    assert df.f1.tolist() == pytest.approx(f1)
    assert df.support.tolist() == sup.tolist()
    for m in ("precision", "sensitivity", "f1"):
        assert (df[f"{m}_low"] < df[m]).all() and (df[m] < df[f"{m}_high"]).all()

    def recall0(t, q, axis=-1):  # class-0 sensitivity of a (paired) resample
        return ((t == 0) & (q == 0)).sum(axis) / (t == 0).sum(axis)

    ref = sps.bootstrap(
        (y, p),
        recall0,
        paired=True,
        vectorized=True,
        n_resamples=2000,
        method="percentile",
        random_state=0,
    ).confidence_interval
    assert df.sensitivity_low[0] == pytest.approx(ref.low, abs=0.012)
    assert df.sensitivity_high[0] == pytest.approx(ref.high, abs=0.012)


def test_per_class_ci_undefined_metrics():
    # class 2 never occurs and is never predicted: 0 estimates (sklearn's zero_division=0), NaN bounds
    df = stats.per_class_ci([0, 0, 1, 1], [0, 1, 1, 1], num_classes=3, n_boot=200)
    assert df.loc[2, ["precision", "sensitivity", "f1"]].tolist() == [0, 0, 0]
    assert math.isnan(df.precision_low[2]) and df.support[2] == 0
    assert df.precision[1] == pytest.approx(2 / 3) and df.sensitivity[0] == 0.5


# --------------------------------------------------------------------------- seeds


def test_seed_mean_matches_scipy_t_interval():
    x = [0.95, 0.97, 0.96, 0.99]
    s = stats.seed_mean(x)
    ref = sps.t.interval(0.95, 3, loc=np.mean(x), scale=sps.sem(x))
    assert s.mean == pytest.approx(np.mean(x)) and (s.low, s.high) == pytest.approx(ref)
    assert s.n == 4 and s.has_ci and s.sd == pytest.approx(np.std(x, ddof=1))
    assert stats.t_interval(x) == pytest.approx((s.mean, s.low, s.high))


def test_seed_mean_one_seed_and_degenerate_cases():
    one = stats.seed_mean([0.9])
    assert (
        one.mean == 0.9
        and math.isnan(one.low)
        and math.isnan(one.high)
        and not one.has_ci
        and one.n == 1
    )
    t = stats.t_interval([0.9])
    assert t[0] == 0.9 and math.isnan(t[1]) and math.isnan(t[2])
    assert stats.seed_mean([0.9, float("nan")]).n == 1
    none = stats.seed_mean([])
    assert none.n == 0 and math.isnan(none.mean) and not none.has_ci
    assert stats.seed_mean([0.5, 0.5, 0.5])[:3] == (0.5, 0.5, 0.5)


# --------------------------------------------------------------------------- paired runs


def test_mcnemar_exact_hand_computed():
    # 10 discordant pairs split 8 / 2: p = 2 * P(X <= 2 | n=10, 1/2) = 2 * 56/1024
    a = np.array([True] * 8 + [False] * 2 + [True] * 50)
    b = np.array([False] * 8 + [True] * 2 + [True] * 50)
    assert stats.mcnemar_exact(a, b) == pytest.approx(2 * 56 / 1024)
    assert stats.mcnemar_exact(a, a) == 1.0
    assert stats.mcnemar_exact(a, b) == stats.mcnemar_exact(b, a)
    with pytest.raises(ValueError):
        stats.mcnemar_exact(a, b[:-1])


@pytest.mark.parametrize(
    ("both", "a_only", "b_only", "neither"),
    [(50, 8, 2, 0), (900, 15, 3, 82), (990, 0, 1, 9), (10, 5, 5, 0)],
)
def test_mcnemar_exact_matches_statsmodels(both, a_only, b_only, neither):
    mcnemar = pytest.importorskip("statsmodels.stats.contingency_tables").mcnemar
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
    assert all(math.isnan(v) for v in stats.newcombe_paired_interval(0, 0, 0, 0))
    # no discordant pairs: a zero difference with a non-degenerate interval around it
    d, lo, hi = stats.newcombe_paired_interval(95, 0, 0, 5)
    assert d == 0 and lo < 0 < hi


def test_paired_difference_contains_truth_and_agrees_with_newcombe():
    a = np.array([True] * 95 + [False] * 5)
    b = np.array([True] * 85 + [False] * 15)
    d, lo, hi = stats.paired_difference(a, b, seed=0)
    assert d == pytest.approx(0.10) and lo < 0.10 < hi and lo > 0
    rng = np.random.default_rng(0)
    ca, cb = rng.random(1000) < 0.95, rng.random(1000) < 0.93
    boot = stats.paired_comparison(ca, cb, ci="bootstrap", seed=0)
    newc = stats.paired_comparison(ca, cb, ci="newcombe")
    assert boot.diff == newc.diff == pytest.approx(ca.mean() - cb.mean())
    assert boot.diff_low == pytest.approx(newc.diff_low, abs=0.006)
    assert boot.diff_high == pytest.approx(newc.diff_high, abs=0.006)


def test_paired_comparison_fields():
    a = np.array([True] * 8 + [False] * 2 + [True] * 50)
    b = np.array([False] * 8 + [True] * 2 + [True] * 50)
    c = stats.paired_comparison(a, b, ci="newcombe")
    assert (c.n, c.a_only, c.b_only) == (60, 8, 2)
    assert (
        c.acc_a == pytest.approx(58 / 60)
        and c.acc_b == pytest.approx(52 / 60)
        and c.diff == pytest.approx(0.1)
    )
    assert c.p_value == c.p_adjusted == pytest.approx(2 * 56 / 1024) and c.significant is False
    assert c.ci_method == "newcombe" and c.diff_low < c.diff < c.diff_high
    same = stats.paired_comparison(a, a)
    assert same.p_value == 1.0 and same.diff == 0 and not same.significant
    assert set(c.as_dict()) >= {"diff", "diff_low", "diff_high", "p_value", "significant"}
    big = stats.paired_comparison(np.ones(100, bool), np.r_[np.zeros(20, bool), np.ones(80, bool)])
    assert big.significant and big.p_value == pytest.approx(2 * 0.5**20)
    with pytest.raises(ValueError):
        stats.paired_comparison(a, b, ci="wald")


def test_align_predictions_by_image_id():
    pa = pd.DataFrame({"image": ["c", "a", "b"], "label": [2, 0, 1], "pred": [2, 1, 1]})
    pb = pd.DataFrame({"image": ["a", "b", "c"], "label": [0, 1, 2], "pred": [0, 0, 2]})
    m = stats.align_predictions(pa, pb)
    assert m.image.tolist() == ["a", "b", "c"] and m.label.tolist() == [0, 1, 2]
    assert m.correct_a.tolist() == [False, True, True] and m.correct_b.tolist() == [
        True,
        False,
        True,
    ]
    c = stats.compare_runs(pa, pb, ci="newcombe")
    assert (c.n, c.a_only, c.b_only, c.diff) == (3, 1, 1, 0.0)
    extra = pd.concat([pb, pd.DataFrame({"image": ["d"], "label": [0], "pred": [0]})])
    with pytest.raises(ValueError, match="only one run"):
        stats.align_predictions(pa, extra)
    assert len(stats.align_predictions(pa, extra, strict=False)) == 3
    with pytest.raises(ValueError, match="duplicate"):
        stats.align_predictions(pd.concat([pa, pa]), pb)
    with pytest.raises(ValueError, match="different labels"):
        stats.align_predictions(pa, pb.assign(label=[0, 1, 0]))
    with pytest.raises(ValueError, match="share no"):
        stats.align_predictions(pa, pb.assign(image=["x", "y", "z"]), strict=False)


# --------------------------------------------------------------------------- several comparisons


def test_holm_hand_computed_and_nan():
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    adj = stats.holm([0.01, float("nan"), 0.03])
    assert adj[0] == pytest.approx(0.02) and math.isnan(adj[1]) and adj[2] == pytest.approx(0.03)
    assert stats.holm_significant([0.01, 0.04, 0.03]) == [True, False, False]
    assert stats.holm([]) == []


def test_holm_matches_statsmodels():
    multipletests = pytest.importorskip("statsmodels.stats.multitest").multipletests
    p = np.random.default_rng(0).uniform(0, 0.1, 12)
    reject, adj, *_ = multipletests(p, alpha=0.05, method="holm")
    assert stats.holm(p) == pytest.approx(adj.tolist())
    assert stats.holm_significant(p) == reject.tolist()


def test_holm_comparisons_sets_adjusted_p_and_flag():
    strong = stats.paired_comparison(
        np.ones(100, bool), np.r_[np.zeros(20, bool), np.ones(80, bool)]
    )
    weak = stats.paired_comparison(
        np.r_[np.zeros(1, bool), np.ones(99, bool)],  # discordant 9 / 1: p = 22/1024
        np.r_[np.ones(1, bool), np.zeros(9, bool), np.ones(90, bool)],
    )
    assert weak.p_value < 0.05 and weak.significant
    out = stats.holm_comparisons([weak, strong, weak, weak])
    assert [c.p_adjusted for c in out] == pytest.approx(
        [3 * weak.p_value, 4 * strong.p_value] + [3 * weak.p_value] * 2
    )
    assert out[1].significant and not any(
        c.significant for c in (out[0], out[2], out[3])
    )  # 3 x 0.021 > 0.05
    assert out[0].p_value == weak.p_value


# --------------------------------------------------------------------------- searches


def test_param_importances_find_the_parameter_that_matters():
    rng = np.random.default_rng(0)
    lr = rng.uniform(0, 1, 30)
    noise = rng.uniform(0, 1, 30)
    df = pd.DataFrame({"space.lr": lr, "space.noise": noise, "val_acc": lr + 0.01 * noise})
    imp = stats.param_importances(df, ["space.lr", "space.noise"], "val_acc")
    assert max(imp, key=imp.get) == "space.lr"
    assert stats.param_importances(df.head(2), ["space.lr"], "val_acc") == {}
