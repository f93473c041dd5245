"""The tables of a study beyond the paper's: the ablation table, the confirmed winners and the
search summary."""

from __future__ import annotations

import pandas as pd

from ablate.report import stats
from ablate.report.cells import (
    Section,
    _ci,
    _clipped_note,
    _comparison_cells,
    _comparison_note,
    _pct,
)
from ablate.report.runs import (
    RunSet,
    TestPredictions,
    compare,
    ok_trials,
    paired_runs,
    runs_by_config,
    select_config,
)
from ablate.results.store import Results
from ablate.search.translate import display_value, subset_indicators


def ablation(res: Results, alpha: float = stats.ALPHA) -> Section | None:
    """Each ablation variant: accuracy over seeds, difference to the base paired by seed, Holm."""
    t = ok_trials(res, ("ablation",))
    if t.empty or "ablation_variant" not in t or t.ablation_variant.isna().all():
        return None
    t = t[t.ablation_variant.notna()]
    preds, sets = TestPredictions(res.predictions), runs_by_config(t)
    notes: list[str] = []
    chosen: dict[str, RunSet] = {}
    for name, g in t.groupby("ablation_variant", sort=False):
        chosen[name], how = select_config([sets[c] for c in g.config.unique()])
        if how:
            notes.append(f"{name}: {how}.")
    base_name = "base" if "base" in chosen else next(iter(chosen))
    base = chosen[base_name]
    eb = preds.accuracy(base, every_fold=True)  # k-fold: every fit, as the comparisons below
    rows = [{"variant": base_name, "config": base.config, "seeds": len(base.trials), "test_acc_%": _pct(eb.estimate),
             "ci_%": _ci(eb.low, eb.high), "ci": eb.method}]
    comps = []
    for name, rs in chosen.items():
        if name == base_name:
            continue
        comp, pair_notes = compare(preds, rs, base, (name, base_name))
        notes += [f"{name}: {n}." for n in pair_notes]
        est = preds.accuracy(paired_runs(rs, comp.seeds), every_fold=bool(comp.units))
        rows.append({"variant": name, "config": rs.config, "seeds": len(comp.seeds), "test_acc_%": _pct(comp.acc_a),
                     "ci_%": _ci(est.low, est.high), "ci": est.method, "base_acc_%": _pct(comp.acc_b)})
        comps.append(comp)
    for row, c in zip(rows[1:], stats.holm_comparisons(comps, alpha), strict=True):
        row.update(_comparison_cells(c))
        row["diff_to_base_%"] = row.pop("diff_%")
    cols = ["variant", "config", "seeds", "test_acc_%", "ci_%", "ci", "base_acc_%", "diff_to_base_%", "diff_ci_%",
            "diff_ci", "test", "p", "p_holm", "significant", "mcnemar_p_per_seed"]
    df = pd.DataFrame(rows).reindex(columns=cols)
    notes = [_comparison_note(f"In each variant's row, test_acc_%, base_acc_% ({base_name!r}) and diff_to_base_% "
                              "are", len(comps), alpha, kfold=any(c.units for c in comps)), *notes, *_clipped_note(rows)]
    return Section("ablation", f"Ablation against {base_name!r}", df, notes)


# --------------------------------------------------------------------------- confirm


def confirmed(res: Results, alpha: float = stats.ALPHA) -> Section | None:
    """A study's confirm stage: the search's top configurations retrained with fresh seeds, beside
    the search's own (selected, biased) score; the winner marked."""
    t = ok_trials(res, ("confirm",))
    if t.empty or "confirm_rank" not in t:
        return None
    t = t[t.stage == "confirm"]
    if t.empty:
        return None
    search = ok_trials(res, ("search",))
    search = search[search.stage == "search"].set_index("trial_id") if "stage" in search else search.iloc[0:0]
    preds, sets = TestPredictions(res.predictions), runs_by_config(t)
    rows = []
    for rank, g in t.groupby("confirm_rank", sort=True):
        rs = sets[g.config.iloc[0]]
        val = stats.seed_mean(g.groupby("seed").val_acc.mean().to_numpy())
        test = preds.accuracy(rs)
        picked = [tid for tid in str(g.selected_from.iloc[0]).split(",") if tid in search.index]
        rows.append({"rank": int(rank), "config": rs.config, "search_trials": ",".join(picked),
                     "search_val_acc_%": _pct(search.loc[picked].val_acc.mean()) if picked else float("nan"),
                     "seeds": len(rs.trials), "val_acc_%": _pct(val.estimate), "val_ci_%": _ci(val.low, val.high),
                     "test_acc_%": _pct(test.estimate), "ci_%": _ci(test.low, test.high), "ci": test.method,
                     "_val": float(g.val_acc.mean())})
    best = max(rows, key=lambda r: (r["_val"], -r["rank"]))
    for r in rows:
        r["winner"] = "yes" if r is best else ""
        del r["_val"]
    space = [c for c in t.columns if c.startswith("space.") and c != "space.seed"]
    df = pd.DataFrame(rows)
    firsts = t.groupby("confirm_rank").first()
    for c in space:
        df[c.removeprefix("space.")] = [display_value(firsts.loc[r, c]) for r in df["rank"]]
    notes = [
        "The study's result: each configuration the search ranked best, retrained with fresh seeds and "
        "never stopped early. search_val_acc_% is the search's own score of it, the best of many noisy draws "
        "and so biased upward (shown, not used); val_acc_% and test_acc_% are the confirm runs' means "
        "with their intervals (val: t over seeds; test: " + (rows[0]["ci"] if rows else "") + ").",
        "winner: the best mean val_acc over its confirm seeds (the test set plays no part in the choice); "
        "the ablation stage, when there is one, varies it.",
        *_clipped_note(rows),
    ]
    return Section("confirm", "Confirmed configurations (the study's result)", df, notes)


# --------------------------------------------------------------------------- search


def search_summary(res: Results, alpha: float = stats.ALPHA) -> Section | None:
    """The best configurations of a search and Optuna's parameter importances."""
    t = ok_trials(res, ("search",))
    space = [c for c in t.columns if c.startswith("space.")]
    if t.empty or not space:
        return None
    by_config = t.groupby("config", sort=False)
    summary = by_config.agg(seeds=("seed", "nunique") if "seed" in t else ("trial_id", "size"),
                            val_acc=("val_acc", "mean"), test_acc=("test_acc", "mean"))
    top = summary.sort_values("val_acc", ascending=False, kind="stable").head(5)
    df = top.reset_index()[["config", "seeds", "val_acc", "test_acc"]]
    ids = t.reset_index().groupby("config", sort=False)["trial_id"].agg(lambda s: ",".join(sorted(s)))
    df.insert(1, "trials", [ids[c] for c in df.config])  # where its models and curves are
    df[["val_acc", "test_acc"]] = df[["val_acc", "test_acc"]].round(4)
    firsts = by_config.first()
    for c in space:  # searched values, lists of taps compacted (features.{0,3,12})
        df[c.removeprefix("space.")] = [display_value(firsts.loc[cid, c]) for cid in df.config]
    notes = [("One row per configuration, its seeds averaged; ranked by mean val_acc (the test set plays no part "
              "in the ranking).")]
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
