"""The paper's testable claims as data, and the "Claims" section that gives each a verdict.

A `Claim` names the rows it sets side by side (``a`` against one or more ``rivals``: trials-row
columns such as ``backbone``, ``variant``, ``scenario`` or a ``cfg.*`` column), the metric, the
paper's numbers (`ablate.report.paper.PAPER`) and its direction. `claims_section` finds those
rows in the results (one configuration per side, `ablate.report.runs.select_config`; a rival
that several configurations match is the one closest to ``a``: the most equal ``cfg.*`` keys)
and compares them:

- test accuracy: `ablate.report.runs.compare`, paired by seed on the same test images;
- accuracy under the paper's noise (``form1``/``form2``, Tables 15, 16): the robustness rows keep
  each trial's accuracy, not its predictions, so the per-seed differences over 3 or more shared
  seeds go through a paired t-test (one per noise level);
- a held-out source: the leave-one-source-out row of the Shortcut checks section
  (`ablate.report.shortcuts`: Fisher's exact test of the seed-pooled counts, different images);
- parameters: counted, not sampled: no test.

A claim over several comparisons (every rival, every noise level, every held-out source) holds
only if each does (an intersection-union test: its p is the largest); the row shows the comparison
that decides it: the strongest evidence against the claim (its p times the number of
comparisons, Bonferroni) when one goes the wrong way, else the weakest for it. Holm's adjustment
runs over the section's claims. Verdicts: ``supported`` (the claimed direction, significant after
Holm), ``contradicted`` (the opposite direction, significant), ``not decided`` (neither; with
what would decide it, `ablate.report.power`), ``not run`` (naming the rows that are missing).
A claim of *no* difference (``no_drop``: accuracy holds on a held-out source) can only be
contradicted: without an equivalence margin, not finding a drop does not show there is none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ablate.report import power, stats
from ablate.report.cells import _pct
from ablate.report.paper import PAPER

__all__ = ["CLAIMS", "Claim", "decide", "verdict", "what_would_decide"]

MOBILE, RESNET = "mobilenet_v3_small", "resnet18"
ORIGINALS = ("vgg16", "inception_v3", "resnet18", "densenet121", "squeezenet1_0", "mobilenet_v3_small")


def _side(backbone: str, variant: str, scenario: str = "cxr5", **cfg: Any) -> dict[str, Any]:
    """The rows of one model: a modified one with the paper's dynamic gate unless `cfg` says otherwise."""
    cfg = {"fusion.gate": "dynamic", **cfg} if variant == "modified" else cfg
    return {"backbone": backbone, "variant": variant, "scenario": scenario, **{f"cfg.{k}": v for k, v in cfg.items()}}


@dataclass(frozen=True)
class Claim:
    """One testable statement of the paper: ``a`` beats every rival (``better``), is smaller
    (``params``), or does not drop (``no_drop``) on the metric."""

    id: str
    statement: str
    table: str
    a: dict[str, Any]
    rivals: tuple[dict[str, Any], ...]
    metric: str = "test_acc"  # test_acc | params | form1 | form2 | held_out
    paper: tuple[float, float] | None = None  # (a, b) as the paper prints them, for the decisive rival
    paper_note: str = ""
    kind: str = "better"  # better | no_drop
    extra: dict[str, Any] = field(default_factory=dict)


def _claims() -> tuple[Claim, ...]:
    out = []
    for scen in ("cxr5", "cxr4", "cxr3"):
        out.append(Claim(f"modified>original:{MOBILE}:{scen}",
                         f"The modification makes MobileNetV3-small more accurate on CXR-{scen[-1]}", "Table 5",
                         _side(MOBILE, "modified", scen), (_side(MOBILE, "original", scen),),
                         paper=PAPER["table5"][scen]))
    for scen in ("cxr5", "cxr4", "cxr3"):
        out.append(Claim(f"modified>original:{RESNET}:{scen}",
                         f"The modification makes ResNet18 more accurate on CXR-{scen[-1]}", "Tables 10, 13",
                         _side(RESNET, "modified", scen), (_side(RESNET, "original", scen),),
                         paper=(PAPER["covidx_ct"]["modified resnet18"]["acc"], PAPER["table10"][RESNET]),
                         paper_note="the paper's numbers are on COVIDx-CT (it ran ResNet18 on CT only)"))
    out.append(Claim("params:modified<original", "The modified MobileNetV3-small is smaller than the original, yet "
                     "more accurate (CXR-5)", "Tables 2, 7", _side(MOBILE, "modified"), (_side(MOBILE, "original"),),
                     metric="params", extra={"same_test_as": f"modified>original:{MOBILE}:cxr5",
                                             "paper_acc_diff": round(PAPER["table5"]["cxr5"][0] - PAPER["table5"]["cxr5"][1], 2)}, paper=(PAPER["covidx"]["modified mobilenet_v3_small"]["params"],
                                             PAPER["table2_params_mb"][MOBILE]),
                     paper_note="MB; the paper's modified size is on COVIDx (Table 7, 3 classes) and larger"))
    out.append(Claim("best-of-seven", "The modified MobileNetV3-small is the most accurate of the seven models on "
                     "CXR-5", "Table 2", _side(MOBILE, "modified"), tuple(_side(b, "original") for b in ORIGINALS),
                     paper=(PAPER["table5"]["cxr5"][0], max(PAPER["table2"].values())),
                     extra={"paper_rivals": PAPER["table2"]}))
    for form, table in (("form1", "Table 15"), ("form2", "Table 16")):
        out.append(Claim(f"robust:{form}", f"The modified MobileNetV3-small is more accurate than the original at "
                         f"every level of the paper's noise {form} (CXR-5)", table, _side(MOBILE, "modified"),
                         (_side(MOBILE, "original"),), metric=form))
    for gate in ("uniform", "static"):
        out.append(Claim(f"gate:dynamic>{gate}", f"The dynamic (per-sample) gate beats a {'plain sum' if gate == 'uniform' else 'static weight per tap'} "
                         "(modified MobileNetV3-small, CXR-5)", "implied, not run",
                         _side(MOBILE, "modified"),
                         (_side(MOBILE, "modified", **{"fusion.gate": gate}),)))
    out.append(Claim("held-out-source", "The accuracy holds on a source the model never saw (modified "
                     "MobileNetV3-small, CXR-5)", "not asked", _side(MOBILE, "modified"), (_side(MOBILE, "modified"),),
                     metric="held_out", kind="no_drop"))
    return tuple(out)


CLAIMS: tuple[Claim, ...] = _claims()


# --------------------------------------------------------------------------- pure logic


def verdict(diff: float, p_holm: float, alpha: float, kind: str = "better") -> str:
    """``supported`` / ``contradicted`` / ``not decided`` from a difference (a - b, the claimed
    direction positive) and its Holm-adjusted p."""
    if p_holm is None or math.isnan(p_holm) or math.isnan(diff) or p_holm >= alpha or diff == 0:
        return "not decided"
    if diff < 0:
        return "contradicted"
    return "supported" if kind == "better" else "not decided"


def decide(comps: list[stats.Comparison]) -> tuple[int, float]:
    """The comparison that decides an all-of claim and the claim's p: the strongest against it
    (p times the number of comparisons) when one goes the wrong way, else the largest p."""
    ps = [1.0 if math.isnan(c.p_value) else c.p_value for c in comps]
    against = [i for i, c in enumerate(comps) if c.diff < 0]
    if against:
        i = min(against, key=lambda j: ps[j])
        return i, math.nan if math.isnan(comps[i].p_value) else min(1.0, len(comps) * ps[i])
    i = max(range(len(comps)), key=lambda j: ps[j])
    return i, comps[i].p_value  # NaN: a comparison without a test (too few seeds) decides nothing


def what_would_decide(comp: stats.Comparison, paper_diff: float | None, alpha: float) -> dict[str, Any]:
    """The smallest difference this run detects at 80 % power, and the seeds / test images that
    would detect the paper's difference (fractions; see `ablate.report.power`).

    A comparison without per-seed differences (seed-pooled counts of different images: the
    held-out source) is sized as two proportions on the pooled images."""
    n, n_img = len(comp.seeds), comp.n_images
    base, pbar = min(comp.acc_a, comp.acc_b), (comp.acc_a + comp.acc_b) / 2
    target, what = (paper_diff, "the paper's") if paper_diff else (abs(comp.diff), "the observed")
    if not comp.diff_per_seed:  # pooled counts: one proportion per side
        pooled = n * n_img
        out: dict[str, Any] = {"detectable": power.two_proportion_mdd(base, pooled, alpha),
                               "how": f"seed-pooled counts ({n} x {n_img} images): two proportions"}
        if target and base + target < 1:
            out["images"] = power.two_proportion_n(base + target, base, alpha)
            out["seeds"] = math.ceil(out["images"] / max(n_img, 1))
            out["target"] = f"{what} {_pct(target)} pts"
        return out
    sd = float(np.std(comp.diff_per_seed, ddof=1)) if len(comp.diff_per_seed) >= 3 else math.nan
    if n >= 3 and sd > 0:
        spread, how = sd, f"seed SD of the paired differences {_pct(sd)} pts"
    else:
        spread = power.binomial_sd(pbar, n_img)
        why = "all paired differences equal" if n >= 3 else f"{n} seed(s)"
        how = f"{why}: SD from the test size, sqrt(2p(1-p)/{n_img}) = {_pct(spread)} pts"
    if not spread > 0:
        return {"how": "cannot be estimated: no spread between seeds and every prediction right (or wrong)"}
    mdd = power.paired_t_mdd(spread, n, alpha) if n >= 3 else power.two_proportion_mdd(base, n_img, alpha)
    out = {"detectable": mdd, "how": how}
    if target:
        out["seeds"] = power.paired_t_n(target, spread, alpha)
        out["images"] = power.two_proportion_n(base + target, base, alpha) if base + target < 1 else math.nan
        out["target"] = f"{what} {_pct(target)} pts"
    return out
