"""The "Claims" section of ``ablate report``: each claim of `ablate.report.claims` found in the
results, compared, and given its verdict (the methods: that module's docstring, docs/claims.md)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from ablate.report import stats
from ablate.report.cells import Section, _ci, _p, _pct
from ablate.report.claims import CLAIMS, Claim, decide, verdict, what_would_decide
from ablate.report.paper import PAPER
from ablate.report.runs import (
    IGNORED,
    RunSet,
    TestPredictions,
    compare,
    ok_trials,
    paired_runs,
    paper_data,
    runs_by_config,
    select_config,
)
from ablate.results.store import Results

__all__ = ["claims_section"]

# --------------------------------------------------------------------------- finding rows


def _match(t: pd.DataFrame, where: dict[str, Any], held_out: bool = False) -> pd.DataFrame:
    keep = pd.Series(True, index=t.index)
    for col, val in where.items():
        if col in t.columns:  # a config key older results lack does not filter
            keep &= t[col] == val
    held = t["cfg.data.hold_out_source"].notna() if "cfg.data.hold_out_source" in t else pd.Series(False, index=t.index)
    masked = t["cfg.data.mask"].fillna("none") != "none" if "cfg.data.mask" in t else pd.Series(False, index=t.index)
    return t[keep & (held if held_out else ~held) & ~masked]


def _closest(sets: list[RunSet], to: RunSet) -> RunSet:
    if len(sets) == 1:
        return sets[0]
    cols = [c for c in to.rows.columns if c.startswith("cfg.") and c not in IGNORED]

    def same(rs: RunSet) -> int:
        return sum(str(rs.first(c)) == str(to.first(c)) for c in cols if c in rs.rows.columns)

    best = max(same(s) for s in sets)
    return select_config([s for s in sets if same(s) == best])[0]


def _label(where: dict[str, Any]) -> str:
    gate = where.get("cfg.fusion.gate")
    return " ".join(str(v) for k, v in where.items() if k != "cfg.fusion.gate") + (
        f" gate {gate}" if gate not in (None, "dynamic") else "")


def _seed_paired(acc_a: dict[int, float], acc_b: dict[int, float], n_img: int) -> stats.Comparison:
    """Per-seed accuracies (no predictions kept) paired by seed: a paired t-test over 3+ seeds."""
    seeds = tuple(sorted(set(acc_a) & set(acc_b)))
    d = np.array([acc_a[s] - acc_b[s] for s in seeds])
    ma, mb = (float(np.mean([x[s] for s in seeds])) if seeds else math.nan for x in (acc_a, acc_b))
    lo = hi = p = math.nan
    if len(seeds) >= 3:
        est = stats.seed_mean(d, bounds=(-1.0, 1.0))
        lo, hi = est.low, est.high
        p = (1.0 if d[0] == 0 else 0.0) if d.std(ddof=1) == 0 else float(sps.ttest_1samp(d, 0.0).pvalue)
    test = f"paired t over {len(seeds)} seeds" if len(seeds) >= 3 else "fewer than 3 seeds: no test (counts only)"
    return stats.Comparison(seeds=seeds, n_images=n_img, acc_a=ma, acc_b=mb, diff=ma - mb, low=lo, high=hi,
                            ci_method=test, p_value=p, test=test, p_per_seed=(), diff_per_seed=tuple(d.tolist()))


# --------------------------------------------------------------------------- evaluating one claim


@dataclass
class _Outcome:
    """One claim on one dataset: its deciding comparison, or why it was not run."""

    comps: list[stats.Comparison] = field(default_factory=list)
    rivals: list[str] = field(default_factory=list)  # what each comparison set against a
    papers: list[tuple[float, float] | None] = field(default_factory=list)
    intervals: tuple[str, str] = ("", "")
    missing: str = ""
    notes: list[str] = field(default_factory=list)
    exact: str | None = None  # params: "supported" / "contradicted" before any test


def _runs(t: pd.DataFrame) -> list[RunSet]:
    return list(runs_by_config(t).values())


def _robust(res: Results, form: str, a: RunSet, b: RunSet, out: _Outcome) -> None:
    r = res.get("robustness") if hasattr(res, "get") else None
    if r is None or r.empty or not (r.form == form).any():
        out.missing = f"robustness rows ({form}: analysis.robustness true)"
        return
    r = r[r.form == form]
    for (n, m), g in r.groupby(["n", "m"], sort=True):
        acc = g.set_index("trial_id").accuracy
        per = [{s: float(acc[rs.trials[s]]) for s in rs.seeds if rs.trials[s] in acc.index} for rs in (a, b)]
        out.comps.append(_seed_paired(per[0], per[1], int(g.n_images.iloc[0])))
        out.rivals.append(f"{_label_rs(b)} at {form} n={n:g} m={m:g}")
        key = PAPER["table15"].get(int(m)) if form == "form1" else PAPER["table16"].get(round(float(n), 2))
        out.papers.append((key[1], key[0]) if key else None)  # the paper's tables list (original, modified)


def _held_out(t: pd.DataFrame, a: RunSet, preds: TestPredictions, out: _Outcome) -> None:
    from ablate.report.shortcuts import loso_rows

    held = _match(t, {}, held_out=True)
    # a's rows are the only in-distribution ones here: a held-out row with a reference is a held-out run of a
    rows = [r for r in loso_rows(pd.concat([a.rows, held]), preds) if r.get("reference_%") is not None]
    if not rows:
        out.missing = f"{_label_rs(a)} with data.hold_out_source set (each), beside its in-distribution runs"
        return
    for r in rows:
        ha, ref, n = r["result_%"] / 100, r["reference_%"] / 100, int(r["test_images"])
        out.comps.append(stats.Comparison(seeds=tuple(range(int(r["seeds"]))), n_images=n, acc_a=ha, acc_b=ref,
                                          diff=ha - ref, low=math.nan, high=math.nan, ci_method="",
                                          p_value=float(r["p"]), test="Fisher's exact, seed-pooled counts "
                                          "(different images)", p_per_seed=(), diff_per_seed=()))
        out.rivals.append(f"{r['what']} vs in distribution, same classes")
        out.papers.append(None)


def _label_rs(rs: RunSet) -> str:
    return f"{rs.first('backbone')} {rs.first('variant')} {rs.first('scenario')}"


def _evaluate(claim: Claim, t: pd.DataFrame, res: Results, preds: TestPredictions) -> _Outcome:
    out = _Outcome()
    need = [claim.a, *([] if claim.metric == "held_out" else claim.rivals)]
    gone = [_label(w) for w in need if _match(t, w).empty]
    if gone:
        out.missing = "; ".join(gone)
        return out
    a, _ = select_config(_runs(_match(t, claim.a)))
    if claim.metric == "held_out":
        _held_out(t, a, preds, out)
        return out
    for where in claim.rivals:
        b = _closest(_runs(_match(t, where)), a)
        if claim.metric in ("form1", "form2"):
            _robust(res, claim.metric, a, b, out)
            continue
        comp, notes = compare(preds, a, b, (_label(claim.a), _label(where)))
        out.notes += notes
        if not comp.seeds:
            out.missing = f"a seed both {_label(claim.a)} and {_label(where)} ran, with test predictions"
            return out
        fits = bool(comp.units)  # k-fold: every (seed, fold) fit, as the comparison pairs them
        ea, eb = (preds.accuracy(paired_runs(x, comp.seeds), every_fold=fits) for x in (a, b))
        out.comps.append(comp)
        out.rivals.append(_label(where))
        rival_paper = claim.extra.get("paper_rivals", {}).get(where["backbone"])
        out.papers.append((PAPER["table5"]["cxr5"][0], rival_paper) if rival_paper else claim.paper)
        out.intervals = (_ci(ea.low, ea.high), _ci(eb.low, eb.high))
        if claim.metric == "params":
            pa, pb = a.first("params"), b.first("params")
            out.exact = "supported" if pa < pb else "contradicted"
            out.notes.append(f"params {pa / 1e6:.3f} M ({a.first('fp32_mb'):.1f} MB) vs {pb / 1e6:.3f} M "
                             f"({b.first('fp32_mb'):.1f} MB): counted, no test; p and diff are the accuracy's")
    return out


# --------------------------------------------------------------------------- the section


COLUMNS = ["dataset", "claim", "verdict", "statement", "table", "paper_values", "paper_diff_%", "ours_a_%",
           "ours_a_ci_%", "ours_b_%", "ours_b_ci_%", "diff_%", "diff_ci_%", "p", "p_holm", "seeds", "test_images",
           "detectable_diff_%", "seeds_needed", "images_needed", "compared", "test", "note"]  # the verdict first


def _count(x: float) -> object:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else ("inf" if math.isinf(x) else int(x))


def _row(claim: Claim, dataset: str, out: _Outcome) -> tuple[dict[str, Any], stats.Comparison | None, float]:
    row: dict[str, Any] = {"dataset": dataset, "claim": claim.id, "statement": claim.statement, "table": claim.table}
    if claim.paper:
        row["paper_values"] = f"{claim.paper[0]:g} vs {claim.paper[1]:g}" + (f" ({claim.paper_note})" if claim.paper_note else "")
        if claim.metric != "params":
            row["paper_diff_%"] = round(claim.paper[0] - claim.paper[1], 2)
    if out.missing or not out.comps:
        row.update(verdict="not run", note=f"needs {out.missing or 'the rows of both sides'}")
        return row, None, math.nan
    i, p = decide(out.comps)
    c, paper = out.comps[i], out.papers[i]
    if paper and claim.metric != "params":
        row["paper_values"] = f"{paper[0]:g} vs {paper[1]:g}" + (f" ({claim.paper_note})" if claim.paper_note else "")
        row["paper_diff_%"] = round(paper[0] - paper[1], 2)
    row.update({"compared": (out.rivals[i] if claim.metric == "held_out" else f"{_label(claim.a)} vs {out.rivals[i]}")
                + (f" (deciding of {len(out.comps)})" if len(out.comps) > 1 else ""),
                "ours_a_%": _pct(c.acc_a), "ours_b_%": _pct(c.acc_b), "diff_%": _pct(c.diff),
                "diff_ci_%": _ci(c.low, c.high), "test": c.test, "seeds": len(c.seeds), "test_images": c.n_images,
                "p": _p(p), "note": "; ".join(out.notes)})
    if len(out.comps) == 1:
        row["ours_a_ci_%"], row["ours_b_ci_%"] = out.intervals
    return row, c, p


def _finish(row: dict[str, Any], claim: Claim, c: stats.Comparison, p_holm: float, exact: str | None,
            alpha: float) -> None:
    row["p_holm"] = _p(p_holm)
    v = verdict(c.diff, p_holm, alpha, claim.kind)
    row["verdict"] = "contradicted" if exact == "contradicted" else v
    if row["verdict"] != "not decided":
        return
    paper_diff = row.get("paper_diff_%", claim.extra.get("paper_acc_diff"))
    dec = what_would_decide(c, None if paper_diff is None else paper_diff / 100, alpha)
    row["detectable_diff_%"] = _pct(dec.get("detectable"))
    row["seeds_needed"], row["images_needed"] = _count(dec.get("seeds")), _count(dec.get("images"))
    words = dec["how"] + (f"; needed: to detect {dec['target']}" if "target" in dec else "")
    if claim.kind == "no_drop":
        words = "a claim of no difference is never shown by a test that finds none; " + words
    row["note"] = "; ".join(x for x in (row.get("note"), words) if x)


def claims_section(res: Results, alpha: float = stats.ALPHA) -> Section | None:
    """Claims: each of the paper's claims with a verdict (supported, contradicted, not decided, not run)."""
    t = ok_trials(res)
    if t.empty or "backbone" not in t:
        return None
    preds, rows, blank = TestPredictions(res.predictions), [], False
    for dataset in sorted(t.dataset.unique()):
        td = t[t.dataset == dataset]
        found = [(claim, _evaluate(claim, td, res, preds)) for claim in CLAIMS]
        if all(o.missing and not o.comps for _, o in found) and not any(
                not _match(td, c.a).empty for c, _ in found):
            continue
        built = [(claim, o, *_row(claim, dataset, o)) for claim, o in found]
        # a claim that reuses another's test (params: its accuracy part) is not counted twice
        adj = dict(zip([b[0].id for b in built], stats.holm(
            [math.nan if "same_test_as" in b[0].extra else b[-1] for b in built]), strict=True))
        for claim, o, row, c, p in built:
            q = adj.get(claim.extra.get("same_test_as", claim.id), math.nan)
            q = p if math.isnan(q) and "same_test_as" in claim.extra else q  # the other row was not run
            if c is not None:
                _finish(row, claim, c, q, o.exact, alpha)
            if paper_data(dataset, claim.a["scenario"]) is None:  # never the paper's numbers beside synthetic
                row["paper_values"] = row["paper_diff_%"] = None
                blank = True
            rows.append(row)
    if not rows:
        return None
    notes = [
        "One row per claim of the paper (ablate.report.claims) and dataset: a against b, diff = a - b in the claimed "
        "direction. Test accuracy is paired by seed on the same test images (3+ seeds: paired t over the per-seed "
        "differences; 1-2 seeds: exact McNemar); noise levels: paired t over 3+ seeds of the per-trial accuracies; "
        "held-out source: Fisher's exact test of the seed-pooled counts. A claim over several comparisons holds only "
        "if every one does: the row shows the deciding one (compared) and p is the largest p, or the smallest p "
        "against the claim times the number of comparisons.",
        f"p_holm: Holm's adjustment over this table's claims (per dataset). verdict: supported = the claimed direction "
        f"with p_holm < {alpha}; contradicted = the opposite direction with p_holm < {alpha}; not decided = neither; "
        "not run = the rows it needs are missing (named in note).",
        "For not decided: detectable_diff_% = the smallest true difference this run detects with 80 % power "
        f"(two-sided, alpha {alpha}): paired t over the seeds (noncentral t) from the seed SD of the paired "
        "differences, or, with no spread to go by (1-2 seeds, or all differences equal), from the test size "
        "(SD sqrt(2p(1-p)/n); 1-2 seeds: two proportions on n images). seeds_needed: seeds at which the paired t-test "
        "detects the paper's difference (else the observed one) with 80 % power at that SD; images_needed: test "
        "images per model at which one run per model would (two proportions, arcsine; an upper bound for paired "
        "predictions). ablate.report.power; docs/claims.md.",
    ]
    if blank:
        notes.append("paper_values and paper_diff_% are left blank beside the synthetic set (the paper's numbers are "
                     "for real chest X-rays); seeds_needed and images_needed still aim at the paper's difference.")
    df = pd.DataFrame(rows).reindex(columns=COLUMNS)
    for col in ("seeds", "test_images", "seeds_needed", "images_needed"):  # counts (or "inf"), blank when not run
        df[col] = pd.Series([r.get(col) for r in rows], index=df.index, dtype=object)
    return Section("claims", "Claims of the paper: verdicts", df, notes)
