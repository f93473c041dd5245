"""The Claims section: verdicts on planted results, the deciding comparison, what would decide it."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ablate.report import power, stats
from ablate.report.claims import CLAIMS, decide, verdict, what_would_decide
from ablate.report.claims_table import claims_section
from ablate.report.power import paired_t_n
from ablate.report.render import render
from ablate.report.tables import build_sections
from ablate.results.store import Results
from tests.unit.report.test_tables import _trial

MOD = "modified>original:mobilenet_v3_small:cxr5"
REAL = "/data/cxr5-real/manifest.csv"  # real chest X-rays: the paper's numbers stand beside them


def _res(*trials, robustness: pd.DataFrame | None = None) -> Results:
    return Results({"trials": pd.DataFrame([t for t, _ in trials]),
                    "predictions": pd.DataFrame([p for _, ps in trials for p in ps]), "class_metrics": pd.DataFrame(),
                    "robustness": pd.DataFrame() if robustness is None else robustness}, Path("."))


def _pair(acc_mod: float, acc_orig: float, seeds: int, **kw) -> list:
    return ([_trial(f"m{s}", s, acc_mod, **kw) for s in range(seeds)]
            + [_trial(f"o{s}", s, acc_orig, variant="original", **kw) for s in range(seeds)])


def _copy(trial, tid: str, **row):
    """The same predictions under another trial id (identical runs)."""
    t, preds = trial
    return {**t, "trial_id": tid, **row}, [{**p, "trial_id": tid} for p in preds]


def _rows(res: Results) -> dict[str, dict]:
    return {r["claim"]: r for r in claims_section(res).table.to_dict("records")}


def _comp(diffs, acc=0.8, n_img=200, p=0.5) -> stats.Comparison:
    d = tuple(diffs)
    return stats.Comparison(seeds=tuple(range(len(d))), n_images=n_img, acc_a=acc + np.mean(d) / 2,
                            acc_b=acc - np.mean(d) / 2, diff=float(np.mean(d)), low=math.nan, high=math.nan,
                            ci_method="", p_value=p, test="", p_per_seed=(), diff_per_seed=d)


def test_verdict_by_hand():
    assert verdict(0.05, 0.01, 0.05) == "supported"
    assert verdict(-0.05, 0.01, 0.05) == "contradicted"
    assert verdict(0.05, 0.2, 0.05) == verdict(0.0, 0.0, 0.05) == verdict(0.05, math.nan, 0.05) == "not decided"
    assert verdict(0.05, 0.01, 0.05, "no_drop") == "not decided"  # finding no drop never shows there is none
    assert verdict(-0.05, 0.01, 0.05, "no_drop") == "contradicted"


def test_an_all_of_claim_is_decided_by_its_weakest_or_its_worst_comparison():
    good, weak, bad = _comp([0.1] * 3, p=0.001), _comp([0.01] * 3, p=0.3), _comp([-0.1] * 3, p=0.01)
    assert decide([good, weak]) == (1, 0.3)  # intersection-union: the largest p
    assert decide([good, bad, weak]) == (1, pytest.approx(0.03))  # against it: p times 3 comparisons


def test_what_would_decide_by_hand():
    c = _comp([0.02, 0.04, 0.00, 0.02])  # seed SD 0.01633
    out = what_would_decide(c, 0.008, 0.05)
    assert "seed SD" in out["how"] and out["seeds"] == paired_t_n(0.008, float(np.std(c.diff_per_seed, ddof=1)))
    # identical runs: no spread at all; the test-size floor sqrt(2 p (1 - p) / n) makes it finite
    same = what_would_decide(_comp([0.0] * 3, acc=0.7), 0.008, 0.05)
    sd = math.sqrt(2 * 0.7 * 0.3 / 200)
    assert "all paired differences equal" in same["how"] and same["seeds"] == paired_t_n(0.008, sd) < math.inf
    h = 2 * math.asin(math.sqrt(0.708)) - 2 * math.asin(math.sqrt(0.7))  # 70.8 vs 70.0 %, one run per model
    assert same["images"] == math.ceil(2 * ((1.959964 + 0.841621) / h) ** 2) == 51_110
    perfect = what_would_decide(_comp([0.0] * 3, acc=1.0), 0.008, 0.05)
    assert perfect["how"].startswith("cannot be estimated") and "seeds" not in perfect


def test_planted_difference_is_supported_and_missing_rows_are_named():
    sec = claims_section(_res(*_pair(0.85, 0.65, 5, path=REAL)))
    assert sec.key == "claims"
    rows = {r["claim"]: r for r in sec.table.to_dict("records")}
    r = rows[MOD]
    assert r["verdict"] == "supported" and r["seeds"] == 5 and r["diff_%"] > 10 and r["p_holm"] < 0.05
    assert r["paper_values"] == "99.6 vs 98.8" and r["paper_diff_%"] == 0.8 and pd.isna(r["seeds_needed"])
    assert rows["modified>original:resnet18:cxr4"]["verdict"] == "not run"
    assert rows["modified>original:resnet18:cxr4"]["note"] == "needs resnet18 modified cxr4; resnet18 original cxr4"
    assert "needs vgg16 original cxr5" in rows["best-of-seven"]["note"]
    assert rows["params:modified<original"]["verdict"] == "contradicted"  # the fixture's modified has more params
    assert len(rows) == len(CLAIMS)
    syn = _rows(_res(*_pair(0.85, 0.65, 5)))[MOD]  # the paper's numbers never stand beside the synthetic set
    assert syn["verdict"] == "supported" and pd.isna(syn["paper_values"]) and pd.isna(syn["paper_diff_%"])


def test_opposite_effect_is_contradicted_and_one_seed_is_not_decided():
    assert _rows(_res(*_pair(0.6, 0.85, 4)))[MOD]["verdict"] == "contradicted"
    r = _rows(_res(*_pair(0.72, 0.70, 1)))[MOD]
    assert r["verdict"] == "not decided" and r["test"] == "exact McNemar"
    assert "1 seed(s): SD from the test size" in r["note"]
    assert 5 < r["detectable_diff_%"] < 20 and 2 <= r["seeds_needed"] < 10_000 and r["images_needed"] > 1000


def test_identical_variants_are_not_decided_with_a_finite_number_of_seeds():
    mods = [_trial(f"m{s}", s, 0.7) for s in range(3)]
    res = _res(*mods, *[_copy(m, f"o{s}", variant="original", **{"cfg.variant": "original"})
                        for s, m in enumerate(mods)])
    r = _rows(res)[MOD]
    assert r["verdict"] == "not decided" and r["diff_%"] == 0 and r["p"] == 1.0
    assert "all paired differences equal" in r["note"] and isinstance(r["seeds_needed"], int)
    assert r["seeds_needed"] > 3 and math.isfinite(r["detectable_diff_%"])


def test_gate_ablation_and_noise_levels_and_held_out_source():
    gate = [_trial(f"g{s}", s, 0.6, path=REAL, extra={"cfg.fusion.gate": "uniform"}) for s in range(3)]
    held = [_trial(f"h{s}", s, 0.3, path=REAL, extra={"cfg.fusion.gate": "dynamic", "cfg.data.hold_out_source": "DS1"})
            for s in range(3)]
    pairs = _pair(0.85, 0.84, 3, path=REAL, extra={"cfg.fusion.gate": "dynamic"})
    levels = [(1.0, 1.0), (1.0, 3.0)]
    rob = pd.DataFrame([{"trial_id": f"{v}{s}", "form": "form1", "n": n, "m": m, "n_images": 200,
                         "accuracy": (0.8 if v == "m" else 0.5) - 0.01 * m + 0.01 * s}
                        for v in "mo" for s in range(3) for n, m in levels])
    rows = _rows(_res(*pairs, *gate, *held, robustness=rob))
    assert rows["gate:dynamic>uniform"]["verdict"] == "supported"
    assert rows["gate:dynamic>static"]["note"].startswith("needs mobilenet_v3_small modified cxr5 gate static")
    f1 = rows["robust:form1"]
    assert f1["verdict"] == "supported" and f1["test"] == "paired t over 3 seeds" and "(deciding of 2)" in f1["compared"]
    assert f1["paper_values"] in ("98.58 vs 97.72", "97.22 vs 95.45")
    assert rows["robust:form2"]["verdict"] == "not run"
    h = rows["held-out-source"]
    assert h["verdict"] == "contradicted" and "Fisher" in h["test"] and h["diff_%"] < -30
    assert h["compared"].startswith("held out DS1")
    pooled = what_would_decide(stats.Comparison(seeds=(0, 1, 2), n_images=20, acc_a=0.5, acc_b=0.7, diff=-0.2,
                                                low=math.nan, high=math.nan, ci_method="", p_value=0.2, test="",
                                                p_per_seed=(), diff_per_seed=()), None, 0.05)
    assert pooled["how"] == "seed-pooled counts (3 x 20 images): two proportions"
    assert pooled["images"] == power.two_proportion_n(0.7, 0.5) and pooled["seeds"] == math.ceil(pooled["images"] / 20)


def test_claims_come_first_in_every_format(tmp_path):
    sections, _ = build_sections(_res(*_pair(0.85, 0.65, 3)))
    assert sections[0].key == "claims"
    for fmt in ("md", "latex", "csv", "html"):
        (path, *_) = render(sections, [], [], fmt, tmp_path / fmt, "t")
        text = path.read_text()
        assert "supported" in text and "held-out-source" in text
    md = (tmp_path / "md" / "report.md").read_text()
    assert md.index("## Claims of the paper") < md.index("## Backbones")
