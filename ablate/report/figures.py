"""Report figures as PNG (matplotlib, Agg): curves, Pareto front, robustness, gradients."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd
from matplotlib.ticker import MaxNLocator

from ablate.report.plot import plt
from ablate.report.plot import save_figure as _save
from ablate.results.store import Results

__all__ = ["write_figures"]


_SKIP = {"cfg.name", "cfg.seed", "cfg.device", "cfg.data.cache_dir", "cfg.data.decode_workers"}


def _labels(t: pd.DataFrame, tids: list[str]) -> dict[str, str]:
    """Legend entries that tell trials apart: a short trial id (the Tune id in a sweep, else seed
    and config hash) and the trial's searched values (``space.*``), or else the config keys whose
    values differ between the plotted trials (at most four)."""
    from ablate.search.translate import display_value

    rows = t.loc[[i for i in tids if i in t.index]]
    space = [c for c in rows.columns if c.startswith("space.") and rows[c].notna().any()]
    if not space:
        cfg = [c for c in rows.columns if c.startswith("cfg.") and c not in _SKIP]
        space = [c for c in cfg if rows[c].astype(str).nunique() > 1][:4]
    out = {}
    for tid in tids:
        if tid not in t.index:
            out[tid] = tid
            continue
        r = t.loc[tid]
        rid = r.get("ray_trial_id")
        short = str(rid) if isinstance(rid, str) and rid else f"s{r.seed} {tid.rsplit('-', 1)[-1][:7]}"
        vals = [f"{c.split('.', 1)[1]}={display_value(r[c])}" for c in space if pd.notna(r[c])]
        out[tid] = textwrap.fill(" ".join([short, *vals]), 60, subsequent_indent="  ")  # legend stays narrow
    return out


def _legend(ax: plt.Axes, n: int) -> None:
    """A legend beside the axes (never over the curves), smaller for many entries."""
    if n:
        ax.legend(fontsize=7 if n <= 12 else 5, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0,
                  frameon=False)


def validation_curves(res: Results, out: Path) -> Path | None:
    """Fig. 3/5: validation accuracy per epoch, one line per trial."""
    e = res.epochs
    if e.empty:
        return None
    t = res.trials.set_index("trial_id")
    tids = [tid for tid in e.trial_id.unique() if tid in t.index]
    labels = _labels(t, tids)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for tid, g in e.groupby("trial_id"):
        if tid in t.index:
            ax.plot(g.epoch, g.val_acc, marker=".", label=labels[tid])
    ax.set(xlabel="epoch", ylabel="validation accuracy", title="Validation accuracy per epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _legend(ax, len(tids) if len(tids) <= 30 else 0)
    return _save(fig, out / "validation_curves.png")


def pareto(res: Results, out: Path) -> Path | None:
    """Test accuracy against parameters, with the Pareto front (fewer params, higher accuracy).

    One point per model and dataset: the configuration the backbones table shows (the one the
    study selected), its seeds averaged.
    """
    from ablate.report.runs import ok_trials, runs_by_config, select_config

    t = ok_trials(res)
    if t.empty:
        return None
    sets = runs_by_config(t)
    points = []
    for (_, bb, var), grp in t.groupby(["dataset", "backbone", "variant"]):
        rs, _ = select_config([sets[c] for c in grp.config.unique()])
        acc = rs.rows.set_index("trial_id").test_acc[list(rs.trials.values())].mean()
        points.append({"backbone": bb, "variant": var, "params": rs.first("params"), "acc": acc})
    return _pareto_figure(pd.DataFrame(points), out)


def _pareto_figure(g: pd.DataFrame, out: Path) -> Path:
    """`g`: one row per model (backbone, variant, params, acc)."""
    g = g.sort_values("params")
    front, best = [], -1.0
    for _, r in g.iterrows():
        if r.acc > best:
            front.append(r)
            best = r.acc
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for variant, color in (("original", "tab:blue"), ("modified", "tab:red")):
        v = g[g.variant == variant]
        if len(v):
            ax.scatter(v.params / 1e6, v.acc, color=color, zorder=3, label=variant)
    for _, r in g.iterrows():
        ax.annotate(f"{r.backbone} {r.variant[:3]}", (r.params / 1e6, r.acc), fontsize=7,
                    xytext=(4, 4), textcoords="offset points")
    f = pd.DataFrame(front)
    # the front as a staircase from its smallest model to the right edge, its models ringed
    xs = [*(f.params / 1e6), g.params.max() / 1e6 * 1.5]
    ys = [*f.acc, f.acc.iloc[-1]]
    ax.step(xs, ys, where="post", color="gray", linestyle="--", zorder=2, label="Pareto front")
    ax.scatter(f.params / 1e6, f.acc, s=120, facecolors="none", edgecolors="gray", zorder=4)
    ax.set(xscale="log", xlabel="parameters (M)", ylabel="test accuracy", title="Accuracy vs size")
    ax.margins(x=0.25, y=0.12)
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, out / "accuracy_vs_params.png")


def robustness_curves(res: Results, out: Path) -> Path | None:
    """Tables 15/16 as curves: accuracy against noise, per model."""
    r = res.get("robustness")
    if r is None or r.empty:
        return None
    t = res.trials.set_index("trial_id")
    labels = _labels(t, list(r.trial_id.unique()))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for tid, g in r.groupby("trial_id"):
        label = labels[tid]
        f1 = g[(g.form == "form1")].sort_values("m")
        f2 = g[(g.form == "form2")].sort_values("n")
        if len(f1):
            axes[0].plot(f1.m, f1.accuracy, marker="o", label=label)
        if len(f2):
            axes[1].plot(f2.n, f2.accuracy, marker="o", label=label)
    axes[0].set(xlabel="m (a + m*randn)", ylabel="accuracy", title="Form 1 (Table 15)")
    axes[1].set(xlabel="n (n*a + 2*randn)", ylabel="accuracy", title="Form 2 (Table 16)")
    _legend(axes[1], r.trial_id.nunique())
    fig.subplots_adjust(wspace=0.3)
    return _save(fig, out / "robustness.png")


def gradient_figure(res: Results, out: Path) -> Path | None:
    """Fig. 6: mean |gradient| of the first eight conv layers per epoch, original vs modified."""
    g = res.get("gradients")
    if g is None or g.empty:
        return None
    t = res.trials.set_index("trial_id")
    agg = g[g.layer == "all"] if "layer" in g else g
    labels = _labels(t, list(agg.trial_id.unique()))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for tid, d in agg.groupby("trial_id"):
        label = labels[tid]
        axes[0].plot(d.epoch, d.abs_grad_mean, marker=".", label=label)
        axes[1].plot(d.epoch, d.abs_grad_var, marker=".", label=label)
    axes[0].set(xlabel="epoch", ylabel="mean |grad|", yscale="log", title="First eight conv layers")
    axes[1].set(xlabel="epoch", ylabel="variance of |grad|", yscale="log")
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _legend(axes[1], agg.trial_id.nunique())
    fig.subplots_adjust(wspace=0.35)
    return _save(fig, out / "gradients.png")


def write_figures(res: Results, out: Path, pareto_pair: tuple[str, str] | None = None) -> list[Path]:
    """Every figure the results can fill, written into `out`; `pareto_pair` (x, y): the columns of
    the frontier figure (`ablate.report.pareto.pareto_figure`)."""
    from ablate.report.pareto import pareto_figure

    out.mkdir(parents=True, exist_ok=True)
    made = [f(res, out) for f in (validation_curves, pareto, robustness_curves, gradient_figure)]
    made.append(pareto_figure(res, out, pareto_pair))
    cams = sorted((res.root / "cam").glob("*/grid.png")) if (res.root / "cam").is_dir() else []
    return [p for p in made if p is not None] + cams
