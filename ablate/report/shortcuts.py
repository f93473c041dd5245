"""The "Shortcut checks" section: is the model looking at the lungs or at the source?

Three checks, one row each, every number with its 95 % interval and a sentence of what it means:

- **source probe** (``probes`` rows, `ablate.probe`): accuracy of a model that predicts an
  image's source, against the chance rate (the share of the test set's most common source);
  one-sided exact binomial p against chance.
- **masked lungs** (``cfg.data.mask`` lungs / outside): the masked configuration against the same
  configuration unmasked (every other config key equal), paired by seed on the same test images
  (`ablate.report.runs.compare`), with the chance rate of its test set.
- **leave-one-source-out** (``cfg.data.hold_out_source``): accuracy on the held-out source (and
  the sensitivity of each class it holds) beside the in-distribution test of the same
  configuration (``hold_out_source`` null) on the same classes; the gap's p is Fisher's exact
  test of the two seed-pooled counts (different images: nothing to pair).

A row is one configuration (runs of different configurations are never pooled); Holm's
adjustment runs over the section's p-values.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import scipy.stats as sps

from ablate.report import stats
from ablate.report.cells import Section, _ci, _p, _pct
from ablate.report.runs import (
    TestPredictions,
    compare,
    config_ids,
    ok_trials,
    paired_runs,
    runs_by_config,
)
from ablate.results.store import Results

__all__ = ["CAVEAT", "loso_rows", "shortcut_checks"]

CAVEAT = ("Passing these checks does not show that the model uses pathology: a probe at chance, a masked "
          "accuracy at chance and a small leave-one-source-out gap only fail to find a shortcut with these "
          "images, this model and this test size. The lung mask is a fixed geometric field (two ellipses, "
          "`ablate.data.mask`), not a segmentation: on rotated, off-centre or tightly cropped films it cuts lung "
          "or keeps some of what lies outside.")
COLUMNS = ["check", "dataset", "model", "config", "what", "seeds", "test_images", "result_%", "ci_%", "ci",
           "reference", "reference_%", "reference_ci_%", "gap_%", "gap_ci_%", "p", "p_holm", "significant",
           "detail", "meaning"]


def _model(rows: pd.DataFrame) -> str:
    return f"{rows.backbone.iloc[0]} {rows.variant.iloc[0]}"


def _key_without(t: pd.DataFrame, column: str) -> pd.Series:
    """Configuration id with one config key left out (the sibling that differs only there)."""
    return config_ids(t.drop(columns=[column])) if column in t.columns else t.config


def _pooled(preds: TestPredictions, trials: list[str], classes: set[int] | None = None) -> tuple[int, int]:
    k = n = 0
    for tid in trials:
        p = preds.of(tid)
        if p is None:
            continue
        if classes is not None:
            p = p[p.label.isin(list(classes))]
        k, n = k + int(p.correct.sum()), n + len(p)
    return k, n


def _chance(preds: TestPredictions, tid: str) -> float:
    p = preds.of(tid)
    return float(p.label.value_counts(normalize=True).max()) if p is not None and len(p) else float("nan")


# --------------------------------------------------------------------------- source probe


def _probe_rows(res: Results) -> list[dict]:
    p = res.get("probes", pd.DataFrame())
    if p is None or p.empty:
        return []
    p = p[p.status == "ok"].copy()
    if p.empty:
        return []
    p["config"] = config_ids(p)
    rows = []
    for (data, task, cid), g in p.groupby(["probe_data", "probe_task", "config"], sort=True):
        est = stats.accuracy_from_counts(g.test_acc.to_numpy(), g.n_test.to_numpy())
        k, n, chance = int(g.n_correct.sum()), int(g.n_test.sum()), float(g.chance.mean())
        pv = float(sps.binomtest(k, n, chance, alternative="greater").pvalue) if n else float("nan")
        labels = json.loads(g.probe_labels.iloc[0])
        above = est.low > chance
        meaning = ("above chance: the images carry their source, so a classifier trained on sources that differ "
                   "by class can learn the source instead of the disease" if above else
                   f"not distinguishable from chance with {n} test predictions: no sign that the source is visible")
        if task == "all":
            meaning += " (across classes source and class coincide, so this also measures the class)"
        rows.append({"check": "source probe", "dataset": data, "model": _model(g), "config": cid,
                     "what": f"{task}: {' vs '.join(labels)}", "seeds": g.seed.nunique(), "test_images": int(g.n_test.iloc[0]),
                     "result_%": _pct(est.estimate), "ci_%": _ci(est.low, est.high), "ci": est.method,
                     "reference": f"chance ({g.chance_label.iloc[0]})", "reference_%": _pct(chance), "p": pv,
                     "detail": f"test images per source {g.test_counts.iloc[0]}", "meaning": meaning})
    return rows


# --------------------------------------------------------------------------- masked lungs


def _mask_rows(t: pd.DataFrame, preds: TestPredictions) -> list[dict]:
    if "cfg.data.mask" not in t.columns:
        return []
    mask = t["cfg.data.mask"].fillna("none")
    if not (mask != "none").any():
        return []
    key = _key_without(t.assign(**{"cfg.data.mask": mask}), "cfg.data.mask")
    sets = runs_by_config(t)
    rows = []
    for cid in t.config[mask != "none"].unique():
        rs, kind = sets[cid], mask[t.config == cid].iloc[0]
        base_ids = t.config[(key == key[t.config == cid].iloc[0]) & (mask == "none")].unique()
        row = {"check": "masked lungs", "dataset": rs.first("dataset"), "model": _model(rs.rows), "config": cid,
               "what": f"data.mask {kind}"}
        chance = _chance(preds, rs.trials[rs.seeds[0]])
        if len(base_ids) == 0:
            est = preds.accuracy(rs)
            rows.append({**row, "seeds": len(rs.trials), "test_images": rs.first("n_test"), "result_%": _pct(est.estimate),
                         "ci_%": _ci(est.low, est.high), "ci": est.method, "reference": "chance",
                         "reference_%": _pct(chance), "meaning": "no unmasked run of the same configuration to compare "
                         "with: run it with data.mask none (the ablation's base)"})
            continue
        base = sets[base_ids[0]]
        comp, notes = compare(preds, rs, base, (f"mask {kind}", "unmasked"))
        fits = bool(comp.units)  # k-fold: every fit, as the comparison
        est, eb = (preds.accuracy(paired_runs(x, comp.seeds), every_fold=fits) for x in (rs, base))
        kept = (comp.acc_a - chance) / (comp.acc_b - chance) if comp.acc_b > chance else float("nan")
        above = est.low > chance
        where = "outside the lung fields" if kind == "lungs" else "inside the lung fields alone"
        if above:
            share = f"{kept:.0%} of the unmasked accuracy above chance survives" if kept == kept else \
                "the unmasked run is not above chance"
            meaning = (f"above chance with only what lies {where}: {share}" + (" - the model can use markers, borders, body shape or the source" if kind == "lungs"
                                     else ""))
        else:
            meaning = f"falls to chance with only what lies {where}: no usable signal there at this test size"
        rows.append({**row, "seeds": len(comp.seeds), "test_images": comp.n_images, "result_%": _pct(comp.acc_a),
                     "ci_%": _ci(est.low, est.high), "ci": est.method, "reference": f"unmasked; chance {_pct(chance)} %",
                     "reference_%": _pct(comp.acc_b), "reference_ci_%": _ci(eb.low, eb.high), "gap_%": _pct(-comp.diff),
                     "gap_ci_%": _ci(-comp.high, -comp.low), "p": comp.p_value,
                     "detail": "; ".join([f"unmasked config {base.config}", comp.test, *notes]), "meaning": meaning})
    return rows


# --------------------------------------------------------------------------- leave-one-source-out


def _sens(preds: TestPredictions, trials: list[str], classes: dict[int, str]) -> str:
    out = []
    for c, name in sorted(classes.items()):
        k, n = _pooled(preds, trials, {c})
        iv = stats.wilson_interval(k, n)
        out.append(f"{name} {_pct(iv.estimate)} {_ci(iv.low, iv.high)} (n={n})")
    return "; ".join(out)


def loso_rows(t: pd.DataFrame, preds: TestPredictions) -> list[dict]:
    """Leave-one-source-out rows: each held-out run against the same configuration in distribution."""
    if "cfg.data.hold_out_source" not in t.columns or t["cfg.data.hold_out_source"].isna().all():
        return []
    src = t["cfg.data.hold_out_source"]
    key = _key_without(t, "cfg.data.hold_out_source")
    sets = runs_by_config(t)
    rows = []
    for cid in t.config[src.notna()].unique():
        rs = sets[cid]
        trials = [rs.trials[s] for s in rs.seeds]
        names = json.loads(rs.first("class_names"))
        labels = set().union(*[set(p.label.unique()) for p in map(preds.of, trials) if p is not None])
        held = {int(c): names[int(c)] for c in labels}
        est = preds.accuracy(rs)
        k, n = _pooled(preds, trials)
        row = {"check": "leave-one-source-out", "dataset": rs.first("dataset"), "model": _model(rs.rows), "config": cid,
               "what": f"held out {src[t.config == cid].iloc[0]} ({', '.join(held.values())})", "seeds": len(rs.trials),
               "test_images": rs.first("n_test"), "result_%": _pct(est.estimate), "ci_%": _ci(est.low, est.high),
               "ci": est.method}
        base_ids = t.config[(key == key[t.config == cid].iloc[0]) & src.isna()].unique()
        detail = f"held-out sensitivity: {_sens(preds, trials, held)}"
        if len(base_ids) == 0:
            rows.append({**row, "detail": detail, "meaning": "no in-distribution run of the same configuration: run it "
                         "with data.hold_out_source null for the gap"})
            continue
        base = sets[base_ids[0]]
        btrials = [base.trials[s] for s in base.seeds]
        bk, bn = _pooled(preds, btrials, set(held))
        biv, bacc = stats.wilson_interval(bk, bn), preds.accuracy(base)
        gap = biv.estimate - k / n if n and bn else float("nan")
        pv = float(sps.fisher_exact([[bk, bn - bk], [k, n - k]])[1]) if n and bn else float("nan")
        meaning = (f"{_pct(gap)} points worse on the unseen source than on the same classes in distribution: the model "
                   "does not transfer to a new source" if (pv < 0.05 and gap > 0) else
                   "no gap detectable between the unseen source and the same classes in distribution at this test size")
        rows.append({**row, "reference": f"in distribution, same classes (all classes {_pct(bacc.estimate)} %)",
                     "reference_%": _pct(biv.estimate), "reference_ci_%": _ci(biv.low, biv.high), "gap_%": _pct(gap),
                     "p": pv, "detail": f"{detail}; in distribution: {_sens(preds, btrials, held)} (config {base.config})",
                     "meaning": meaning})
    return rows


def shortcut_checks(res: Results, alpha: float = stats.ALPHA) -> Section | None:
    """Shortcut checks: source probe, masked lungs, leave-one-source-out gap."""
    t = ok_trials(res)
    preds = TestPredictions(res.predictions)
    rows = _probe_rows(res) + (_mask_rows(t, preds) + loso_rows(t, preds) if not t.empty else [])
    if not rows:
        return None
    ps = [r.get("p", float("nan")) for r in rows]
    idx = [i for i, p in enumerate(ps) if p is not None and not np.isnan(p)]
    for i, adj in zip(idx, stats.holm([ps[i] for i in idx]), strict=True):
        rows[i].update(p_holm=_p(adj), significant=bool(adj < alpha))
    for r in rows:
        r["p"] = _p(r.get("p", float("nan")))
    df = pd.DataFrame(rows).reindex(columns=COLUMNS)
    notes = [
        "source probe: accuracy of a model that predicts each image's source (patient-grouped splits) against the "
        "chance rate (the test set's most common source); p is the one-sided exact binomial test against chance.",
        "masked lungs: the configuration with data.mask against the same configuration unmasked, paired by seed on the "
        "same test images (gap_% = unmasked - masked; 1-2 seeds: paired bootstrap and exact McNemar, 3+: paired t).",
        "leave-one-source-out: accuracy on a source never seen in training (its patients kept out) beside the "
        "in-distribution test of the same configuration on the same classes (gap_% = in distribution - held out; "
        "p: Fisher's exact test of the seed-pooled counts; intervals: Wilson, or t over 3+ seeds for result_%).",
        f"p_holm: Holm's adjustment over the {len(idx)} p-value(s) of this table; significant = p_holm < {alpha}.",
        CAVEAT,
    ]
    return Section("shortcuts", "Shortcut checks", df, notes)
