"""The paper's tables, regenerated from whatever a results folder holds.

Each builder takes the loaded `Results` and returns a `Section` (a titled DataFrame with
notes) or None when the results hold nothing for it; what is missing is said, not failed on.
Reproduced numbers stand next to the paper's (columns prefixed ``paper_``), with confidence
intervals: across seeds a Student-t interval of the mean, for a single run a bootstrap over
test images. Paired comparisons use the exact McNemar test on the same test images.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from ablate.report import stats
from ablate.report.paper import PAPER
from ablate.results.store import Results
from ablate.search.translate import display_value, subset_indicators

__all__ = ["SECTIONS", "Section", "build_sections"]


@dataclass
class Section:
    key: str
    title: str
    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def _ok(res: Results) -> pd.DataFrame:
    t = res.trials
    return t[t.status == "ok"] if not t.empty else t


def _pct(x: float) -> float:
    return float("nan") if x is None or pd.isna(x) else round(100.0 * float(x), 2)


def _acc_ci(res: Results, trials: pd.DataFrame) -> tuple[float, float, float, str]:
    """Mean test accuracy of a group of runs and its 95% CI (t over seeds, or bootstrap)."""
    accs = trials.test_acc.dropna().to_numpy()
    if len(accs) >= 2:
        est, lo, hi = stats.t_interval(accs)
        return est, lo, hi, f"t, {len(accs)} seeds"
    if len(accs) == 1:
        pred = res.predictions[res.predictions.trial_id == trials.trial_id.iloc[0]]
        if len(pred):
            est, lo, hi = stats.bootstrap_accuracy(pred.correct.to_numpy(), seed=0)
            return est, lo, hi, "bootstrap"
        return float(accs[0]), float("nan"), float("nan"), "1 run"
    return float("nan"), float("nan"), float("nan"), "no run"


def _is_ct(trials: pd.DataFrame) -> pd.Series:
    return trials.data_source.fillna("").str.contains("covidx-ct")


def backbones(res: Results) -> Section | None:
    """Table 2 (CXR-5) / Table 10 (COVIDx-CT): backbones, accuracy, params and fp32 MB."""
    t = _ok(res)
    if t.empty:
        return None
    rows = []
    for (bb, var, scen, ct), g in t.groupby(["backbone", "variant", "scenario", _is_ct(t)], dropna=False):
        est, lo, hi, how = _acc_ci(res, g)
        paper = PAPER["table10" if ct else "table2"].get(bb) if var == "original" and (ct or scen == "cxr5") else None
        rows.append({"dataset": "COVIDx-CT" if ct else scen, "backbone": bb, "variant": var, "runs": len(g),
                     "test_acc_%": _pct(est), "ci_low_%": _pct(lo), "ci_high_%": _pct(hi), "ci": how,
                     "paper_test_acc_%": paper, "params_M": round(g.params.iloc[0] / 1e6, 3),
                     "fp32_MB": round(g.fp32_mb.iloc[0], 1)})
    df = pd.DataFrame(rows).sort_values(["dataset", "variant", "backbone"])
    return Section("backbones", "Backbones (Table 2 / Table 10)", df,
                   ["paper_test_acc_% is the paper's single-run number (Table 2 for CXR-5, Table 10 for COVIDx-CT)."])


def kfold(res: Results) -> Section | None:
    """Table 4: validation accuracy per fold; the best fold's model on the test set."""
    t = _ok(res)
    if t.empty or "fold" not in t or t.fold.isna().all():
        return None
    t = t[t.fold.notna()]
    rows = []
    for (_, seed), g in t.groupby(["config_hash", "seed"]):
        g = g.sort_values("fold")
        best = g.loc[g.val_acc.idxmax()]
        row = {"config": f"{g.backbone.iloc[0]} {g.variant.iloc[0]}", "seed": seed}
        for _, r in g.iterrows():
            row[f"fold{int(r.fold) + 1}_val_%"] = _pct(r.val_acc)
        row.update({"selected_fold": int(best.fold) + 1, "test_acc_%": _pct(best.test_acc),
                    "paper_folds_%": "/".join(map(str, PAPER["table4"]["folds"])), "paper_test_%": PAPER["table4"]["test"]})
        rows.append(row)
    return Section("kfold", "k-fold cross-validation (Table 4)", pd.DataFrame(rows),
                   ["The fold with the best validation accuracy is the one evaluated on the test set."])


def _paired(res: Results, a: str, b: str) -> dict[str, float]:
    """McNemar and the accuracy difference (a - b) on the test images both runs saw."""
    p = res.predictions
    pa, pb = p[p.trial_id == a], p[p.trial_id == b]
    if pa.empty or pb.empty:
        return {"diff": float("nan"), "diff_low": float("nan"), "diff_high": float("nan"), "p": float("nan")}
    m = pa.merge(pb, on="image", suffixes=("_a", "_b"))
    ca, cb = m.correct_a.to_numpy(), m.correct_b.to_numpy()
    d, lo, hi = stats.paired_difference(ca, cb, seed=0)
    return {"diff": d, "diff_low": lo, "diff_high": hi, "p": stats.mcnemar_exact(ca, cb)}


def scenarios(res: Results) -> Section | None:
    """Table 5: 3/4/5 classes, modified vs original MobileNetV3-small."""
    t = _ok(res)
    t = t[t.backbone == "mobilenet_v3_small"] if not t.empty else t
    if t.empty or t.variant.nunique() < 2:
        return None
    rows = []
    for scen, g in t.groupby("scenario"):
        mod, orig = g[g.variant == "modified"], g[g.variant == "original"]
        if mod.empty or orig.empty:
            continue
        em, *_ = _acc_ci(res, mod)
        eo, *_ = _acc_ci(res, orig)
        pair = _paired(res, mod.trial_id.iloc[0], orig.trial_id.iloc[0])
        paper = PAPER["table5"].get(scen, (None, None))
        rows.append({"scenario": scen, "modified_%": _pct(em), "original_%": _pct(eo),
                     "diff_%": _pct(pair["diff"]), "diff_ci_%": f"[{_pct(pair['diff_low'])}, {_pct(pair['diff_high'])}]",
                     "mcnemar_p": round(pair["p"], 4) if not pd.isna(pair["p"]) else None,
                     "significant": bool(pair["p"] < 0.05) if not pd.isna(pair["p"]) else None,
                     "paper_modified_%": paper[0], "paper_original_%": paper[1]})
    if not rows:
        return None
    return Section("scenarios", "Class scenarios, modified vs original (Table 5)", pd.DataFrame(rows),
                   [("diff and McNemar p compare the first seed of each variant on the same test images; "
                     "significant = p < 0.05 (not significant differences are marked False).")])


def per_class(res: Results) -> Section | None:
    """Table 6: per-class precision / sensitivity / F1 / support of the best modified run."""
    t = _ok(res)
    cm = res.class_metrics
    if t.empty or cm.empty:
        return None
    pick = t[t.variant == "modified"] if (t.variant == "modified").any() else t
    best = pick.loc[pick.test_acc.idxmax()]
    c = cm[(cm.trial_id == best.trial_id) & (cm.split == "test")].copy()
    if c.empty:
        return None
    paper = PAPER["table6"] if best.scenario == "cxr5" and best.backbone == "mobilenet_v3_small" else {}
    c["paper_precision"] = c.class_name.map(lambda n: paper.get(n, (None,) * 3)[0])
    c["paper_sensitivity"] = c.class_name.map(lambda n: paper.get(n, (None,) * 3)[1])
    c["paper_f1"] = c.class_name.map(lambda n: paper.get(n, (None,) * 3)[2])
    cols = ["class_name", "precision", "sensitivity", "f1", "support", "paper_precision", "paper_sensitivity", "paper_f1"]
    return Section("per_class", f"Per-class metrics of {best.trial_id} (Table 6)", c[cols].round(4),
                   ["Test split; the paper's columns apply to the modified MobileNetV3-small on CXR-5."])


def robustness(res: Results) -> Section | None:
    """Tables 15/16: accuracy under the paper's pixel noise, per model."""
    r = res.get("robustness") if hasattr(res, "get") else None
    if r is None or r.empty:
        return None
    t = res.trials.set_index("trial_id")
    df = r.copy()
    df["model"] = df.trial_id.map(lambda i: f"{t.loc[i, 'backbone']} {t.loc[i, 'variant']}" if i in t.index else i)
    df["accuracy_%"] = df.accuracy.map(_pct)

    def paper(row: pd.Series) -> float | None:
        idx = 0 if "original" in row.model else 1
        if row.form == "form1" and row.n == 1.0:
            return PAPER["table15"].get(int(row.m), (None, None))[idx] if float(row.m).is_integer() else None
        if row.form == "form2" and row.m == 2.0:
            return PAPER["table16"].get(round(float(row.n), 2), (None, None))[idx]
        return None

    df["paper_accuracy_%"] = df.apply(paper, axis=1)
    cols = ["model", "form", "n", "m", "accuracy_%", "paper_accuracy_%", "n_images"]
    return Section("robustness", "Robustness to pixel noise (Tables 15, 16)",
                   df[[c for c in cols if c in df]].sort_values(["model", "form", "n", "m"]),
                   ["form1: a' = a + m*randn; form2: a' = n*a + m*randn (m = 2); clipped to [0, 255] and rounded."])


def ablation(res: Results) -> Section | None:
    """Each ablation variant: accuracy mean and CI over seeds, difference to the base with CI and p."""
    t = _ok(res)
    if t.empty or "ablation_variant" not in t or t.ablation_variant.isna().all():
        return None
    t = t[t.ablation_variant.notna()]
    base_name = "base" if (t.ablation_variant == "base").any() else t.ablation_variant.iloc[0]
    base = t[t.ablation_variant == base_name]
    rows = []
    for name, g in t.groupby("ablation_variant", sort=False):
        est, lo, hi, how = _acc_ci(res, g)
        row = {"variant": name, "runs": len(g), "test_acc_%": _pct(est), "ci_%": f"[{_pct(lo)}, {_pct(hi)}]", "ci": how}
        if name != base_name:
            pairs = [(a, b) for a, b in zip(g.sort_values("seed").trial_id, base.sort_values("seed").trial_id, strict=False)]
            diffs = [_paired(res, a, b) for a, b in pairs]
            ps = [d["p"] for d in diffs if not pd.isna(d["p"])]
            accd = g.test_acc.mean() - base.test_acc.mean()
            row.update({"diff_to_base_%": _pct(accd),
                        "diff_ci_%": f"[{_pct(diffs[0]['diff_low'])}, {_pct(diffs[0]['diff_high'])}]" if diffs else "",
                        "mcnemar_p": round(max(ps), 4) if ps else None,
                        "significant": bool(max(ps) < 0.05) if ps else None})
        rows.append(row)
    return Section("ablation", f"Ablation against {base_name!r}", pd.DataFrame(rows),
                   ["diff CI and McNemar p on the same test images (first seed pair for the CI; the largest p over seed pairs)."])


def search_summary(res: Results) -> Section | None:
    """The best configurations of a search and Optuna's parameter importances."""
    t = _ok(res)
    space = [c for c in t.columns if c.startswith("space.")]
    if t.empty or not space:
        return None
    top = t.sort_values("val_acc", ascending=False).head(5)
    df = top[["trial_id", "val_acc", "test_acc"]].round(4)
    for c in space:  # searched values, lists of taps compacted (features.{0,3,12})
        df[c.removeprefix("space.")] = [display_value(v) for v in top[c]]
    notes = []
    # a subset axis (fusion placement) enters as one boolean per element, as Optuna searched it
    expanded = t[["val_acc"]].copy()
    for c in space:
        flags = subset_indicators(t[c].rename(c.removeprefix("space.")))
        if flags is None:
            expanded[c.removeprefix("space.")] = t[c]
        else:
            for name, col in flags.items():
                expanded[name] = col
    imp = stats.param_importances(expanded, [c for c in expanded.columns if c != "val_acc"], "val_acc")
    if imp:
        top_imp = list(imp.items())[:12]
        notes.append(f"Parameter importances (Optuna fANOVA on val_acc, {len(t)} finished trials): "
                     + ", ".join(f"{k} {v:.2f}" for k, v in top_imp)
                     + (f" (+{len(imp) - len(top_imp)} more)" if len(imp) > len(top_imp) else ""))
    return Section("search", "Search summary: best configurations", df, notes)


SECTIONS: dict[str, Callable[[Results], Section | None]] = {
    "backbones": backbones, "kfold": kfold, "scenarios": scenarios, "per_class": per_class,
    "robustness": robustness, "ablation": ablation, "search": search_summary,
}


def build_sections(res: Results) -> tuple[list[Section], list[str]]:
    """Every section the results can fill, and a line for each one they cannot."""
    built, missing = [], []
    for key, fn in SECTIONS.items():
        sec = fn(res)
        if sec is None:
            missing.append(f"{key}: {(fn.__doc__ or '').splitlines()[0]} - no matching results yet")
        else:
            built.append(sec)
    t = res.trials
    if not t.empty and (t.status != "ok").any():
        counts = t.status.value_counts().to_dict()
        left = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in counts.items() if k != "ok")
        missing.append(f"trials left out of the tables (only status ok count): {left}; "
                       f"{counts.get('ok', 0)} ok")
    return built, missing

