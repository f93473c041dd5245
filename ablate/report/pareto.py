"""Accuracy against cost: the Pareto-optimal configurations, and the frontier figure.

A point is one configuration (`ablate.report.runs`: seeds are never pooled across unlike
configurations): each objective is its mean over the configuration's seeds (with k-fold, the
best fold of each seed, as Table 4). The front is computed per dataset on the search's
objectives (the sweep's ``search.metric`` / ``mode`` from ``RESULTS/sweep.json``; without a
multi-objective sweep, ``val_acc`` max and ``params`` min), among the configurations that meet
``search.constraints``. The test accuracy of each front configuration comes with its interval
(`TestPredictions.accuracy`, as in the backbones table).

The figure shows a chosen pair of columns (``ablate report --pareto latency_ms,test_acc``;
default: the first cost objective against ``test_acc``) with its two-dimensional front, and
the paper's six backbones on the same axes where that means something: test accuracy from
Table 2 against their size or MACs counted on the architecture (torchvision, 5 classes,
299 px; no latency, which the paper does not report), beside results on real CXR-5 images only.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ablate.report import stats
from ablate.report.cells import Section, _ci, _pct
from ablate.report.paper import PAPER
from ablate.report.runs import TestPredictions, ok_trials, paper_data, runs_by_config
from ablate.results.store import Results
from ablate.search.objectives import constraint_values, non_dominated

__all__ = ["MAXIMISED", "non_dominated", "pareto_figure", "pareto_section", "paper_backbones", "search_objectives"]

MAXIMISED = {"val_acc", "test_acc", "throughput_ips", "train_images_per_s"}  # larger is better; other columns: smaller
_COST = ("params", "fp32_mb", "macs", "flops", "latency_ms", "throughput_ips")
_FORMATTED = {"params", "fp32_mb", "macs", "latency_ms"}  # shown in their own columns (params_M, fp32_MB, ...)


def search_objectives(res: Results) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """(objectives, constraints) of the sweep that wrote `res`; the default pair without one."""
    path = Path(res.root) / "sweep.json"
    if path.is_file():
        search = json.loads(path.read_text()).get("search", {})
        objectives = [(o["metric"], o["mode"]) for o in search.get("objectives", [])]
        if len(objectives) > 1:
            return objectives, dict(search.get("constraints", {}))
        return [("val_acc", "max"), ("params", "min")], dict(search.get("constraints", {}))
    return [("val_acc", "max"), ("params", "min")], {}


def config_points(res: Results, columns: list[str]) -> pd.DataFrame:
    """One row per configuration: dataset, backbone, variant, seeds and the mean of `columns`."""
    t = ok_trials(res)
    rows = []
    for cid, rs in runs_by_config(t).items() if not t.empty else []:
        r = rs.rows.set_index("trial_id").loc[list(rs.trials.values())]
        means = {c: float(pd.to_numeric(r[c], errors="coerce").mean()) if c in r else float("nan") for c in columns}
        rows.append({"dataset": rs.first("dataset"), "scenario": rs.first("scenario"), "backbone": rs.first("backbone"),
                     "variant": rs.first("variant"), "config": cid, "seeds": len(rs.trials), **means, "_rs": rs})
    return pd.DataFrame(rows)


def pareto_section(res: Results, alpha: float = stats.ALPHA) -> Section | None:
    """Pareto-optimal configurations: accuracy against cost, each with its test-accuracy interval."""
    objectives, constraints = search_objectives(res)
    names = [m for m, _ in objectives]
    cols = list(dict.fromkeys([*names, *constraints, *_COST, "test_acc"]))
    pts = config_points(res, cols)
    if pts.empty or len(pts) < 2:
        return None
    preds = TestPredictions(res.predictions)
    rows, notes = [], []
    for dataset, g in pts.groupby("dataset", sort=True):
        feasible = np.array([all(c <= 0 for c in constraint_values(constraints, r)) for r in g.to_dict("records")])
        front = non_dominated(g[names].to_numpy(), [m for _, m in objectives]) & feasible
        unmeasured = int(g[names].isna().any(axis=1).sum())
        notes.append(f"{dataset}: {int(front.sum())} of {len(g)} configuration(s) on the front"
                     + (f"; {int((~feasible).sum())} break the constraints" if constraints else "")
                     + (f"; {unmeasured} lack an objective (not measured) and are left out" if unmeasured else ""))
        for r in g[front].sort_values(names[-1]).to_dict("records"):  # along the last objective
            est = preds.accuracy(r["_rs"])
            row = {"dataset": dataset, "backbone": r["backbone"], "variant": r["variant"], "config": r["config"],
                   "seeds": r["seeds"], **{m: round(r[m], 4) for m in names if m not in _FORMATTED},
                   "test_acc_%": _pct(est.estimate), "ci_%": _ci(est.low, est.high), "ci": est.method,
                   "params_M": round(r["params"] / 1e6, 3), "fp32_MB": round(r["fp32_mb"], 2),
                   "MMACs": round(r["macs"] / 1e6, 1) if pd.notna(r["macs"]) else None,
                   "latency_ms": round(r["latency_ms"], 3) if pd.notna(r["latency_ms"]) else None}
            rows.append(row)
    if not rows:  # no configuration has every objective measured (older results: no cost columns)
        return None
    df = pd.DataFrame(rows)
    shown = ", ".join(f"{m} {d}" for m, d in objectives)
    notes.insert(0, f"The front is over the objectives {shown}, each a configuration's mean over its seeds "
                    "(never pooled across configurations), per dataset"
                 + (f", among configurations meeting {', '.join(f'{k} {v}' for k, v in constraints.items())}"
                    if constraints else "") + ". test_acc_% and its interval are the backbones table's.")
    notes.append("MMACs: multiply-adds of one forward pass of one image (FLOPs as FlopCounterMode counts them are "
                 "twice that); latency_ms: median batch-1 forward pass on the trial's device (compare rows run on "
                 "the same device only).")
    return Section("pareto", "Pareto-optimal trials (accuracy against cost)", df, notes)


@functools.lru_cache(maxsize=4)
def paper_backbones(input_size: int = 299, classes: int = 5) -> pd.DataFrame:
    """The paper's six original backbones: Table 2's test accuracy, with params, fp32 MB, MACs and
    FLOPs counted on the architecture (built on the meta device: nothing is computed)."""
    import torch

    from ablate.config import TrialConfig
    from ablate.engine.cost import forward_flops
    from ablate.models import build_model, model_size
    from ablate.models.resolve import resolve

    rows = []
    for bb, acc in PAPER["table2"].items():
        with torch.device("meta"):
            net = build_model(resolve(TrialConfig(backbone=bb, variant="original", input_size=input_size)), classes)
            flops = forward_flops(net, torch.zeros(1, 3, input_size, input_size))
        params, mb = model_size(net)
        rows.append({"backbone": bb, "test_acc": acc / 100, "params": params, "fp32_mb": mb, "macs": flops // 2,
                     "flops": flops})
    return pd.DataFrame(rows)


def point_names(res: Results, pts: pd.DataFrame) -> dict[str, str]:
    """A point's annotation: ``backbone var``, or the configuration's name in the curve figures
    (``base``, ``#1 a75f2ba2``; `ablate.report.legend`) where one model has several configurations."""
    from ablate.report.legend import config_names

    names = config_names(res.trials)
    many = pts.duplicated(["dataset", "backbone", "variant"], keep=False)
    return {r.config: names.get(r.config, r.config) if dup else f"{r.backbone} {r.variant[:3]}"
            for r, dup in zip(pts.itertuples(), many, strict=True)}


def _pair(res: Results, pair: tuple[str, str] | None) -> tuple[str, str]:
    if pair is not None:
        return pair
    objectives, _ = search_objectives(res)
    cost = next((m for m, d in objectives if m not in MAXIMISED), "params")
    return cost, "test_acc"


def pareto_figure(res: Results, out: Path, pair: tuple[str, str] | None = None) -> Path | None:
    """The chosen pair (x, y) for every configuration, its 2-D front ringed and stepped, and the
    paper's six backbones where they share the axes; None without two measured configurations."""
    from ablate.report.plot import plt
    from ablate.report.plot import save_figure as _save

    x, y = _pair(res, pair)
    pts = config_points(res, [x, y]).dropna(subset=[x, y]) if not res.trials.empty else pd.DataFrame()
    if len(pts) < 2:
        return None
    modes = ["max" if c in MAXIMISED else "min" for c in (x, y)]
    fig, ax = plt.subplots(figsize=(7, 4.8))
    xs = list(pts[x])
    for (dataset, variant), g in pts.groupby(["dataset", "variant"]):
        ax.scatter(g[x], g[y], zorder=3, label=f"{dataset} {variant}")
    for dataset, g in pts.groupby("dataset"):
        f = g[non_dominated(g[[x, y]].to_numpy(), modes)].sort_values(x)
        ax.scatter(f[x], f[y], s=130, facecolors="none", edgecolors="gray", zorder=4)
        ax.plot(f[x], f[y], drawstyle="steps-post", color="gray", linestyle="--", zorder=2)
        real_cxr5 = paper_data(dataset, g.scenario.iloc[0]) == "cxr" and g.scenario.iloc[0] == "cxr5"
        if real_cxr5 and y == "test_acc" and x in ("params", "fp32_mb", "macs", "flops"):
            p = paper_backbones()
            xs += list(p[x])
            ax.scatter(p[x], p[y], marker="x", color="black", zorder=5,
                       label="paper, Table 2 (original; size, MACs at 299 px counted)")
            p = p.sort_values(x)
            acc = p.test_acc.to_numpy()
            for i, r in enumerate(p.itertuples()):  # centred; above a point higher than its neighbours, else below
                beside = [acc[j] for j in (i - 1, i + 1) if 0 <= j < len(acc)]
                above = not beside or acc[i] >= np.mean(beside)
                ax.annotate(f"paper {r.backbone}", (getattr(r, x), r.test_acc), fontsize=6, ha="center",
                            xytext=(0, 5 if above else -10), textcoords="offset points")
    names = point_names(res, pts)
    for r in pts.itertuples():
        ax.annotate(names[r.config], (getattr(r, x), getattr(r, y)), fontsize=6, xytext=(3, 3),
                    textcoords="offset points")
    logx = x in _COST and min(xs) > 0 and max(xs) / min(xs) > 20
    ax.set(xlabel=x, ylabel=y, xscale="log" if logx else "linear", title=f"{y} against {x} (front: gray)")
    ax.margins(x=0.1, y=0.08)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    return _save(fig, out / f"pareto_{x}_{y}.png")
