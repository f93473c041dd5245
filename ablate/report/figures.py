"""Report figures as PNG (matplotlib, Agg): curves, Pareto front, robustness, gradients."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from ablate.results.store import Results

__all__ = ["write_figures"]


def _label(t: pd.DataFrame, tid: str) -> str:
    r = t.loc[tid]
    return f"{r.backbone} {r.variant} s{r.seed}"


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def validation_curves(res: Results, out: Path) -> Path | None:
    """Fig. 3/5: validation accuracy per epoch, one line per trial."""
    e = res.epochs
    if e.empty:
        return None
    t = res.trials.set_index("trial_id")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for tid, g in e.groupby("trial_id"):
        if tid in t.index:
            ax.plot(g.epoch, g.val_acc, marker=".", label=_label(t, tid))
    ax.set(xlabel="epoch", ylabel="validation accuracy", title="Validation accuracy per epoch")
    if e.trial_id.nunique() <= 12:
        ax.legend(fontsize=7)
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
    g = pd.DataFrame(points).sort_values("params")
    front, best = [], -1.0
    for _, r in g.iterrows():
        if r.acc > best:
            front.append(r)
            best = r.acc
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    ax.scatter(g.params / 1e6, g.acc, c=["tab:red" if v == "modified" else "tab:blue" for v in g.variant])
    for _, r in g.iterrows():
        ax.annotate(f"{r.backbone} {r.variant[:3]}", (r.params / 1e6, r.acc), fontsize=7)
    f = pd.DataFrame(front)
    ax.step(f.params / 1e6, f.acc, where="post", color="gray", linestyle="--", label="Pareto front")
    ax.set(xscale="log", xlabel="parameters (M)", ylabel="test accuracy", title="Accuracy vs size")
    ax.legend(fontsize=7)
    return _save(fig, out / "accuracy_vs_params.png")


def robustness_curves(res: Results, out: Path) -> Path | None:
    """Tables 15/16 as curves: accuracy against noise, per model."""
    r = res.get("robustness")
    if r is None or r.empty:
        return None
    t = res.trials.set_index("trial_id")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for tid, g in r.groupby("trial_id"):
        label = _label(t, tid) if tid in t.index else tid
        f1 = g[(g.form == "form1")].sort_values("m")
        f2 = g[(g.form == "form2")].sort_values("n")
        if len(f1):
            axes[0].plot(f1.m, f1.accuracy, marker="o", label=label)
        if len(f2):
            axes[1].plot(f2.n, f2.accuracy, marker="o", label=label)
    axes[0].set(xlabel="m (a + m*randn)", ylabel="accuracy", title="Form 1 (Table 15)")
    axes[1].set(xlabel="n (n*a + 2*randn)", ylabel="accuracy", title="Form 2 (Table 16)")
    axes[0].legend(fontsize=7)
    return _save(fig, out / "robustness.png")


def gradient_figure(res: Results, out: Path) -> Path | None:
    """Fig. 6: mean |gradient| of the first eight conv layers per epoch, original vs modified."""
    g = res.get("gradients")
    if g is None or g.empty:
        return None
    t = res.trials.set_index("trial_id")
    agg = g[g.layer == "all"] if "layer" in g else g
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for tid, d in agg.groupby("trial_id"):
        label = _label(t, tid) if tid in t.index else tid
        axes[0].plot(d.epoch, d.abs_grad_mean, marker=".", label=label)
        axes[1].plot(d.epoch, d.abs_grad_var, marker=".", label=label)
    axes[0].set(xlabel="epoch", ylabel="mean |grad|", yscale="log", title="First eight conv layers")
    axes[1].set(xlabel="epoch", ylabel="variance of |grad|", yscale="log")
    axes[0].legend(fontsize=7)
    return _save(fig, out / "gradients.png")


def write_figures(res: Results, out: Path) -> list[Path]:
    """Every figure the results can fill, written into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    made = [f(res, out) for f in (validation_curves, pareto, robustness_curves, gradient_figure)]
    cams = sorted((res.root / "cam").glob("*/grid.png")) if (res.root / "cam").is_dir() else []
    return [p for p in made if p is not None] + cams
