"""Report figures as PNG (matplotlib, Agg): curves, Pareto front, robustness, gradients."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.ticker import MaxNLocator

from ablate.report.plot import plt
from ablate.report.plot import save_figure as _save
from ablate.results.store import Results

__all__ = ["write_figures"]


def _legend(ax: plt.Axes, n: int) -> None:
    """A legend under the axes (never over the curves): one column, two for many short entries."""
    if n:
        labels = [t for t in ax.get_legend_handles_labels()[1] if not t.startswith("_")]
        wide = max((len(t) for t in labels), default=0) > 24
        ax.legend(fontsize=8 if n <= 12 else 6, loc="upper center", bbox_to_anchor=(0.5, -0.16),
                  ncol=1 if wide or n < 3 else 2, borderaxespad=0, frameon=False)


def _figure_legend(fig: plt.Figure, ax: plt.Axes, n: int) -> None:
    """One legend for panels that share their lines (`ax`'s), centred under them all."""
    if n:
        fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=min(n, 4),
                   fontsize=8 if n <= 12 else 6, frameon=False)


def _draw_runs(ax: plt.Axes, runs: list[pd.DataFrame], x: str, y: str, color: str, label: str) -> None:
    """One configuration: its single run as a line, or its runs (seeds, folds) faint and their mean
    per `x` bold, all in `color`; `label` on the one line that stands for the configuration."""
    runs = [r.sort_values(x) for r in runs if len(r)]
    if len(runs) == 1:
        ax.plot(runs[0][x], runs[0][y], color=color, marker=".", lw=1.6, label=label)
        return
    for r in runs:
        ax.plot(r[x], r[y], color=color, lw=0.9, alpha=0.35)
    mean = pd.concat(runs).groupby(x)[y].mean()
    ax.plot(mean.index, mean.to_numpy(), color=color, marker=".", lw=2.4, label=label)


def _draw_configs(ax: plt.Axes, styles: pd.DataFrame, data: pd.DataFrame, x: str, y: str) -> int:
    """Every configuration of `styles` (`ablate.report.legend.curve_styles` rows) with its rows of
    `data` (a ``trial_id`` column); returns the number drawn."""
    by_trial = dict(tuple(data.groupby("trial_id")))
    n = 0
    for _, g in styles.groupby("config", sort=False):
        runs = [by_trial[tid] for tid in g.index if tid in by_trial]
        if runs:
            _draw_runs(ax, runs, x, y, g.color.iloc[0], g.label.iloc[0])
            n += 1
    return n


def validation_curves(res: Results, out: Path) -> Path | None:
    """Fig. 3/5: validation accuracy per epoch; a panel per stage (or dataset), a colour per configuration."""
    from ablate.report.legend import curve_styles, curve_trials

    e = res.epochs
    if e.empty:
        return None
    styles = curve_styles(curve_trials(res))
    styles = styles[styles.index.isin(e.trial_id)]
    if styles.empty:
        return None
    panels = list(dict.fromkeys(styles.panel))
    ncols = min(len(panels), 3)
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols if ncols > 1 else 7, 4.2 * nrows), sharey=True,
                             squeeze=False, layout="constrained")
    for ax, panel in zip(axes.flat, panels, strict=False):
        n = _draw_configs(ax, styles[styles.panel == panel], e, "epoch", "val_acc")
        ax.set(xlabel="epoch", title=panel or "Validation accuracy per epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        _legend(ax, n if n <= 30 else 0)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for row in axes:
        row[0].set_ylabel("validation accuracy")
    if len(panels) > 1:
        fig.suptitle("Validation accuracy per epoch")
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
    wide = g.params.max() / g.params.min() > 20  # a log axis only where sizes span decades (else 10^0, 2x10^0 ticks)
    ax.set(xscale="log" if wide else "linear", xlabel="parameters (M)", ylabel="test accuracy", title="Accuracy vs size")
    ax.margins(x=0.25, y=0.12)
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, out / "accuracy_vs_params.png")


def robustness_curves(res: Results, out: Path) -> Path | None:
    """Tables 15/16 as curves: accuracy against noise, per model."""
    r = res.get("robustness")
    if r is None or r.empty:
        return None
    from ablate.report.legend import curve_styles

    styles = curve_styles(res.trials)
    styles = styles[styles.index.isin(r.trial_id)]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    _draw_configs(axes[0], styles, r[r.form == "form1"], "m", "accuracy")
    n = _draw_configs(axes[1], styles, r[r.form == "form2"], "n", "accuracy")
    axes[0].set(xlabel="m (a + m*randn)", ylabel="accuracy", title="Form 1 (Table 15)")
    axes[1].set(xlabel="n (n*a + 2*randn)", ylabel="accuracy", title="Form 2 (Table 16)")
    _figure_legend(fig, axes[0], n)
    return _save(fig, out / "robustness.png")


def gradient_figure(res: Results, out: Path) -> Path | None:
    """Fig. 6: mean |gradient| of the first eight conv layers per epoch, original vs modified."""
    g = res.get("gradients")
    if g is None or g.empty:
        return None
    from ablate.report.legend import curve_styles

    agg = g[g.layer == "all"] if "layer" in g else g
    styles = curve_styles(res.trials)
    styles = styles[styles.index.isin(agg.trial_id)]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    _draw_configs(axes[0], styles, agg, "epoch", "abs_grad_mean")
    n = _draw_configs(axes[1], styles, agg, "epoch", "abs_grad_var")
    axes[0].set(xlabel="epoch", ylabel="mean |grad|", yscale="log", title="First eight conv layers")
    axes[1].set(xlabel="epoch", ylabel="variance of |grad|", yscale="log")
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _figure_legend(fig, axes[0], n)
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
