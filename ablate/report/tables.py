"""The paper's tables, regenerated from whatever a results folder holds.

Each builder takes the loaded `Results` and the family-wise level ``alpha`` and returns a
`Section` (a titled DataFrame with notes) or None when the results hold nothing for it; what is
missing is said, not failed on.

A row is one configuration (`ablate.report.runs`: the resolved config without seed and fold),
with the seeds and folds behind its numbers. Where a study ran several configurations of one
model (a search), the row shows the one it selected and the notes say so. Differences are
paired by seed on the same test images. Every interval and test comes from
`ablate.report.stats`; the methods are in its docstring and in docs/statistics.md ("How the numbers
are computed"). The paper's columns (``paper_*``) appear only beside runs on real chest X-rays
in the paper's class scenarios (or COVIDx-CT for Table 10), never beside the synthetic set.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pandas as pd

from ablate.report import stats
from ablate.report.cells import (
    PAPER_TEST_IMAGES,
    ROW_NOTE,
    Section,
    _ci,
    _clipped_note,
    _comparison_cells,
    _comparison_note,
    _inside,
    _paper_pairs_note,
    _pct,
    _where,
)
from ablate.report.claims_table import claims_section
from ablate.report.legend import legend_section
from ablate.report.paper import PAPER
from ablate.report.pareto import pareto_section
from ablate.report.runs import (
    RunSet,
    TestPredictions,
    compare,
    ok_trials,
    paired_runs,
    paper_data,
    runs_by_config,
    select_config,
)
from ablate.report.shortcuts import shortcut_checks
from ablate.report.studies import ablation, confirmed, search_summary
from ablate.results.store import Results

__all__ = ["SECTIONS", "Section", "ablation", "backbones", "build_sections", "confirmed", "kfold", "per_class", "robustness", "scenarios", "search_summary"]

def backbones(res: Results, alpha: float = stats.ALPHA) -> Section | None:
    """Table 2 (CXR-5) / Table 10 (COVIDx-CT): backbones, accuracy, params and fp32 MB."""
    t = ok_trials(res)
    if t.empty:
        return None
    preds, sets = TestPredictions(res.predictions), runs_by_config(t)
    rows, notes = [], [ROW_NOTE]
    shown: dict[str, dict[str, float]] = {}
    for (dataset, scen, bb, var), g in t.groupby(["dataset", "scenario", "backbone", "variant"], dropna=False):
        rs, how = select_config([sets[c] for c in g.config.unique()])
        if how:
            notes.append(f"{_where(rs)}: {how}.")
        est = preds.accuracy(rs)
        kind = paper_data(dataset, scen)
        table = "table10" if kind == "covidx-ct" else "table2" if kind == "cxr" and scen == "cxr5" else None
        paper = PAPER[table].get(bb) if table and var == "original" else None
        if paper is not None:
            shown.setdefault(kind, {})[bb] = paper
        rows.append({"dataset": dataset, "scenario": scen, "backbone": bb, "variant": var, "config": rs.config,
                     "configs": g.config.nunique(), "seeds": len(rs.trials), "folds": rs.folds,
                     "test_images": rs.first("n_test"), "test_acc_%": _pct(est.estimate), "ci_low_%": _pct(est.low),
                     "ci_high_%": _pct(est.high), "ci": est.method, "paper_test_acc_%": paper,
                     "paper_in_ci": _inside(paper, est.low, est.high),
                     "params_M": round(rs.first("params") / 1e6, 3), "fp32_MB": round(rs.first("fp32_mb"), 1)})
    df = pd.DataFrame(rows).sort_values(["dataset", "scenario", "variant", "backbone"])
    notes += _clipped_note(rows)
    if shown:
        notes.append("paper_test_acc_% is the paper's single run of the original backbone on its own test set "
                     "(Table 2: CXR-5, 1,000 images; Table 10: COVIDx-CT); paper_in_ci: whether it lies inside "
                     "our interval.")
        for kind, values in shown.items():
            notes += _paper_pairs_note(values, PAPER_TEST_IMAGES[kind], alpha,
                                       "Table 10" if kind == "covidx-ct" else "Table 2")
    if (df.dataset == "synthetic").any():
        notes.append("Rows on the synthetic set have no paper columns: the paper's numbers are for real images.")
    return Section("backbones", "Backbones (Table 2 / Table 10)", df, notes)


# --------------------------------------------------------------------------- Table 4


def kfold(res: Results, alpha: float = stats.ALPHA) -> Section | None:
    """Table 4: validation accuracy per fold; the best fold's model on the test set; mean and SD over the folds."""
    t = ok_trials(res)
    if t.empty or "fold" not in t or t.fold.isna().all():
        return None
    t = t[t.fold.notna()]
    rows = []
    for (cid, seed), g in t.groupby(["config", "seed"]):
        g = g.sort_values("fold")
        best = g.loc[g.val_acc.idxmax()]
        paper = paper_data(best.dataset, best.scenario) == "cxr"
        row = {"dataset": best.dataset, "scenario": best.scenario, "model": f"{best.backbone} {best.variant}",
               "config": cid, "seed": seed}
        for _, r in g.iterrows():
            row[f"fold{int(r.fold) + 1}_val_%"] = _pct(r.val_acc)
        row.update({"selected_fold": int(best.fold) + 1, "test_acc_%": _pct(best.test_acc),
                    "folds": len(g), "val_mean_%": _pct(g.val_acc.mean()), "val_sd_%": _pct(g.val_acc.std(ddof=1)),
                    "test_mean_%": _pct(g.test_acc.mean()), "test_sd_%": _pct(g.test_acc.std(ddof=1)),
                    "fold_tests_%": " / ".join(f"{_pct(a):g}" for a in g.test_acc),
                    "paper_folds_%": "/".join(map(str, PAPER["table4"]["folds"])) if paper else None,
                    "paper_test_%": PAPER["table4"]["test"] if paper else None})
        rows.append(row)
    df = pd.DataFrame(rows)
    cols = [c for c in df.columns if c.startswith("fold") and c.endswith("_val_%")]
    df = df[["dataset", "scenario", "model", "config", "seed", *sorted(cols, key=lambda c: int(c[4:-6])),
             *[c for c in df.columns if c not in cols and c not in ("dataset", "scenario", "model", "config", "seed")]]]
    several = df.groupby("config").seed.nunique().max() > 1
    return Section("kfold", "k-fold cross-validation (Table 4)", df, [
        "One row per configuration and seed. selected_fold and test_acc_%: the paper's protocol, the fold with the "
        "best validation accuracy evaluated on the test set (the number the paper reports).",
        "val_mean_%/val_sd_% and test_mean_%/test_sd_%: the cross-validated estimate, mean and SD (ddof 1) over the "
        "folds of this row's seed" + (" (within one seed, not over seeds)" if several else "") + " of every fold's "
        "validation and test accuracy (fold_tests_%: each fold's test accuracy). The SD is the fold-to-fold "
        "spread, not a standard error: the folds share training data (comparisons use Nadeau & Bengio's "
        "corrected resampled t for that reason)."])


# --------------------------------------------------------------------------- comparisons


def scenarios(res: Results, alpha: float = stats.ALPHA) -> Section | None:
    """Table 5: 3/4/5 classes, modified vs original MobileNetV3-small."""
    t = ok_trials(res)
    t = t[t.backbone == "mobilenet_v3_small"] if not t.empty else t
    if t.empty or t.variant.nunique() < 2:
        return None
    preds, sets = TestPredictions(res.predictions), runs_by_config(t)
    rows, comps, notes, paper_notes = [], [], [], []
    for (dataset, scen), g in t.groupby(["dataset", "scenario"]):
        mod = [sets[c] for c in g[g.variant == "modified"].config.unique()]
        orig = [sets[c] for c in g[g.variant == "original"].config.unique()]
        if not mod or not orig:
            continue
        (m, how_m), (o, how_o) = select_config(mod), select_config(orig)
        notes += [f"{_where(rs)}: {how}." for rs, how in ((m, how_m), (o, how_o)) if how]
        comp, pair_notes = compare(preds, m, o, ("modified", "original"))
        notes += [f"{dataset} {scen}: {n}." for n in pair_notes]
        em, eo = (preds.accuracy(paired_runs(x, comp.seeds), every_fold=bool(comp.units)) for x in (m, o))
        paper = PAPER["table5"].get(scen) if paper_data(dataset, scen) == "cxr" else None
        rows.append({"dataset": dataset, "scenario": scen, "modified_config": m.config, "original_config": o.config,
                     "seeds": len(comp.seeds), "test_images": comp.n_images,
                     "modified_%": _pct(comp.acc_a), "modified_ci_%": _ci(em.low, em.high),
                     "original_%": _pct(comp.acc_b), "original_ci_%": _ci(eo.low, eo.high), "ci": em.method,
                     "paper_modified_%": paper[0] if paper else None,
                     "paper_modified_in_ci": _inside(paper[0], em.low, em.high) if paper else None,
                     "paper_original_%": paper[1] if paper else None,
                     "paper_original_in_ci": _inside(paper[1], eo.low, eo.high) if paper else None})
        comps.append(comp)
        if paper:
            paper_notes.append(_paper_claim(scen, paper, comp.n_images, alpha))
    if not rows:
        return None
    for row, c in zip(rows, stats.holm_comparisons(comps, alpha), strict=True):
        row.update(_comparison_cells(c))
    cols = ["dataset", "scenario", "modified_config", "original_config", "seeds", "test_images", "modified_%",
            "modified_ci_%", "original_%", "original_ci_%", "ci", "diff_%", "diff_ci_%", "diff_ci", "test", "p",
            "p_holm", "significant", "mcnemar_p_per_seed", "paper_modified_%", "paper_modified_in_ci",
            "paper_original_%", "paper_original_in_ci"]
    notes = [_comparison_note("modified_%, original_% and diff_% (modified - original) are", len(rows), alpha,
                              kfold=any(c.units for c in comps)),
             *notes, *_clipped_note(rows), *paper_notes]
    return Section("scenarios", "Class scenarios, modified vs original (Table 5)", pd.DataFrame(rows)[cols], notes)


def _paper_claim(scen: str, paper: tuple[float, float], our_n: int, alpha: float) -> str:
    n = PAPER_TEST_IMAGES["cxr"]
    fisher, best = stats.paper_pair(paper[0], paper[1], n)
    k = abs(round(paper[0] / 100 * n) - round(paper[1] / 100 * n))
    verdict = ("too small to tell them apart" if fisher >= alpha else "enough to tell them apart as independent samples")
    ours = f"; on our {our_n} test images the paper's difference is {abs(paper[0] - paper[1]) / 100 * our_n:.1f} images"
    return (f"{scen}: the paper's {paper[0]} vs {paper[1]} on its {n:,} test images is {k} images: Fisher's exact "
            f"p = {fisher:.2g} as independent samples ({verdict} at {alpha}); on the same images the exact McNemar "
            f"p could reach {best:.2g} only if every discordant image favoured one model, and the paper reports "
            f"no discordant counts{ours if our_n else ''}.")


# --------------------------------------------------------------------------- Table 6


def _class_rows(rs: RunSet, preds: TestPredictions) -> list[dict[str, object]] | None:
    """Per seed and class: precision, sensitivity, F1 (scikit-learn) and the counts behind them."""
    from ablate.engine.metrics import class_metrics, confusion_matrix

    names = json.loads(rs.first("class_names"))
    out = []
    for seed in rs.seeds:
        p = preds.of(rs.trials[seed])
        if p is None or p.empty:
            return None
        y, q = p.label.to_numpy(), p.pred.to_numpy()
        cm = confusion_matrix(y, q, len(names)).numpy()
        for i, m in enumerate(class_metrics(y, q, len(names))):
            out.append({"seed": seed, "class_index": i, "class_name": names[i], **m, "tp": int(cm[i, i]),
                        "predicted": int(cm[:, i].sum())})
    return out


def per_class(res: Results, alpha: float = stats.ALPHA) -> Section | None:
    """Table 6: per-class precision / sensitivity / F1 / support of the selected modified model."""
    t = ok_trials(res)
    if t.empty:
        return None
    preds, sets = TestPredictions(res.predictions), runs_by_config(t)
    cands = [s for s in sets.values() if s.first("variant") == "modified"] or list(sets.values())
    paper_like = [s for s in cands if paper_data(s.first("dataset"), s.first("scenario")) == "cxr"
                  and s.first("scenario") == "cxr5" and s.first("backbone") == "mobilenet_v3_small"]
    rs, how = select_config(paper_like or cands)
    per_seed = _class_rows(rs, preds)
    if per_seed is None:
        return None
    df = pd.DataFrame(per_seed)
    paper = PAPER["table6"] if paper_like else {}
    n = len(rs.trials)
    rows = []
    for (i, name), g in df.groupby(["class_index", "class_name"]):
        row: dict[str, object] = {"class_name": name, "support": int(g.support.iloc[0])}
        for metric, k_col, n_col, idx in (("precision", "tp", "predicted", 0), ("sensitivity", "tp", "support", 1)):
            if n >= 3:
                est = stats.seed_mean(g[metric].to_numpy())
                lo, hi = est.low, est.high
            else:  # a proportion: TP of the images predicted as / belonging to the class, seeds pooled
                _, lo, hi = stats.wilson_interval(int(g[k_col].sum()), int(g[n_col].sum()))
            pv = paper.get(name, (None,) * 3)[idx]
            row.update({metric: round(float(np.nanmean(g[metric])), 4) if g[metric].notna().any() else None,
                        f"{metric}_ci": _ci(lo, hi, 1.0), f"paper_{metric}": pv,
                        f"paper_{metric}_in_ci": _inside(pv, lo, hi, 1.0)})
        row["f1"] = round(float(np.nanmean(g.f1)), 4) if g.f1.notna().any() else None
        row["paper_f1"] = paper.get(name, (None,) * 3)[2]
        rows.append(row)
    cols = ["class_name", "support", "precision", "precision_ci", "sensitivity", "sensitivity_ci", "f1",
            "paper_precision", "paper_precision_in_ci", "paper_sensitivity", "paper_sensitivity_in_ci", "paper_f1"]
    notes = [f"Test split of configuration {rs.config} ({_where(rs)}), {n} seed{'s' if n != 1 else ''}; values are "
             "means over the seeds. Intervals (95 %): " + ("t over the seeds." if n >= 3 else
             "Wilson's interval of TP out of the images predicted as the class (precision) or of the class's "
             "images (sensitivity)" + (", seeds pooled (seed variation not included)." if n > 1 else ".")),
             "A metric that is 0/0 (a class never predicted, or absent) is undefined and left blank."]
    if how:
        notes.append(f"{_where(rs)}: {how}.")
    if paper:
        notes.append("The paper's columns: modified MobileNetV3-small on CXR-5 (Table 6, 200 test images per class).")
    return Section("per_class", f"Per-class metrics of {rs.first('backbone')} {rs.first('variant')} "
                                f"[{rs.config}] (Table 6)", pd.DataFrame(rows)[cols], notes)


# --------------------------------------------------------------------------- Tables 15 / 16


def _paper_robustness(variant: str, form: str, n: float, m: float) -> float | None:
    idx = 0 if variant == "original" else 1
    if form == "form1" and n == 1.0 and float(m).is_integer():
        return PAPER["table15"].get(int(m), (None, None))[idx]
    if form == "form2" and m == 2.0:
        return PAPER["table16"].get(round(float(n), 2), (None, None))[idx]
    return None


def robustness(res: Results, alpha: float = stats.ALPHA) -> Section | None:
    """Tables 15/16: accuracy under the paper's pixel noise, per model."""
    r = res.get("robustness") if hasattr(res, "get") else None
    if r is None or r.empty:
        return None
    t = ok_trials(res)
    cols = ["trial_id", "config", "dataset", "scenario", "backbone", "variant"]
    df = r.merge(t[cols], on="trial_id", how="inner")
    if df.empty:
        return None
    rows = []
    for (cid, form, n, m), g in df.groupby(["config", "form", "n", "m"], sort=False):
        first = g.iloc[0]
        est = stats.accuracy_from_counts(g.accuracy.to_numpy(), g.n_images.to_numpy())
        paper_ok = (paper_data(first.dataset, first.scenario) == "cxr" and first.scenario == "cxr5"
                    and first.backbone == "mobilenet_v3_small")
        paper = _paper_robustness(first.variant, form, n, m) if paper_ok else None
        rows.append({"model": f"{first.backbone} {first.variant}", "config": cid, "dataset": first.dataset,
                     "form": form, "n": n, "m": m, "seeds": len(g), "accuracy_%": _pct(est.estimate),
                     "ci_%": _ci(est.low, est.high), "ci": est.method, "paper_accuracy_%": paper,
                     "paper_in_ci": _inside(paper, est.low, est.high), "n_images": int(g.n_images.iloc[0])})
    out = pd.DataFrame(rows).sort_values(["model", "config", "form", "n", "m"])
    notes = [("form1: a' = a + m*randn; form2: a' = n*a + m*randn (m = 2); clipped to [0, 255] and rounded. "
              "One row per configuration and noise level; 3 or more seeds: t interval over the seeds, else Wilson's "
              "interval of the correct predictions (seeds pooled)."), *_clipped_note(rows)]
    if out["paper_accuracy_%"].notna().any():
        notes.append("The paper's columns: MobileNetV3-small on CXR-5 (Tables 15, 16).")
    return Section("robustness", "Robustness to pixel noise (Tables 15, 16)", out, notes)


# --------------------------------------------------------------------------- ablation


SECTIONS: dict[str, Callable[[Results, float], Section | None]] = {
    "claims": claims_section, "backbones": backbones, "kfold": kfold, "scenarios": scenarios, "per_class": per_class,
    "robustness": robustness, "confirm": confirmed, "ablation": ablation, "search": search_summary,
    "shortcuts": shortcut_checks, "pareto": pareto_section, "legend": legend_section,
}


def build_sections(res: Results, alpha: float = stats.ALPHA) -> tuple[list[Section], list[str]]:
    """Every section the results can fill, and a line for each one they cannot.

    Args:
        res: the loaded results.
        alpha: family-wise level of the ``significant`` flags (Holm within each table).
    """
    if not 0 < alpha < 1:
        from ablate.errors import AblateError

        raise AblateError(f"--alpha {alpha} must lie between 0 and 1")
    built, missing = [], []
    for key, fn in SECTIONS.items():
        sec = fn(res, alpha)
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
    if "stage" in t and (t.stage == "confirm").any():
        every, kept = ok_trials(res, tuple(t.stage.dropna().unique())), ok_trials(res)
        gone = every[~every.trial_id.isin(kept.trial_id)]
        if len(gone):
            missing.append(f"{(gone.stage == 'search').sum()} search and {(gone.stage == 'ablation').sum()} ablation "
                           "row(s) of confirmed configurations stand aside in the tables other than search, confirm "
                           "and ablation: a search's pick is biased upward and the ablation's base repeats the "
                           "confirm runs; the confirm rows stand for them")
    return built, missing
