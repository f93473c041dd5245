"""Figures on planted results: trials told apart in legends, integer epochs, a drawn Pareto front."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.colors import to_hex

from ablate.report import figures
from ablate.report.legend import curve_styles, legend_section, palette
from ablate.results.store import Results


def _row(tid: str, stage: str | None, seed: int, pcb: int, gate: str = "dynamic", variant: str = "modified", **extra) -> dict:
    return {"trial_id": tid, "ray_trial_id": tid[-4:], "status": "ok", "seed": seed, "cfg.seed": seed, "stage": stage,
            "backbone": "mobilenet_v3_small", "variant": variant, "cfg.variant": variant, "cfg.data.path": "synthetic",
            "cfg.fusion.pcb_channels": pcb, "cfg.fusion.gate": gate, "val_acc": 0.3 + pcb / 1000 + seed / 100, **extra}


def _study() -> Results:
    """A study as `ablate run` writes it: a source probe over 2 seeds, search 3 configurations (searched
    values too long for a legend), confirm the best 2 over 2 seeds (128 wins), ablate the winner (base,
    gate-uniform, original) over them."""
    taps = '["features.0", "features.3", "features.8", "features.9", "features.12"]'
    rows = [_row(f"s-{pcb}", "search", 0, pcb, **{"space.fusion.pcb_channels": pcb, "space.fusion.taps": taps,
                                                  "space.phases.0.lr": 1.234e-4 * pcb})
            for pcb in (16, 64, 128)]
    rows += [_row(f"c-{pcb}-{s}", "confirm", s, pcb, confirm_rank=r) for r, pcb in ((1, 64), (2, 128)) for s in (1, 2)]
    rows += [_row(f"a-{name}-{s}", "ablation", s, 128, gate, variant, ablation_variant=name)
             for name, gate, variant in (("base", "dynamic", "modified"), ("gate-uniform", "uniform", "modified"),
                                         ("original", "dynamic", "original")) for s in (1, 2)]
    probes = [{**_row(f"p-{s}", None, s, 64, variant="original"), "probe": "source", "probe_task": "all",
               "cfg.data.path": "probe-data/all/manifest.csv"} for s in (0, 1)]  # the shortcut probe, first
    epochs = pd.DataFrame([{"trial_id": r["trial_id"], "epoch": e, "val_acc": r["val_acc"] * e / 3}
                           for r in rows + probes for e in (1, 2, 3)])
    return Results({"trials": pd.DataFrame(rows), "probes": pd.DataFrame(probes).drop(columns="stage"),
                    "epochs": epochs}, Path("."))


def _figure(monkeypatch, draw, *args):
    seen = {}
    monkeypatch.setattr(figures, "_save", lambda fig, path: seen.setdefault("fig", fig) and path)
    draw(*args)
    return seen["fig"]


def _configs(ax) -> dict[str, list]:
    """Colour -> the lines of that colour in `ax`; the labelled one (the mean, or a single run) first."""
    out: dict[str, list] = {}
    for line in sorted(ax.get_lines(), key=lambda li: li.get_label().startswith("_")):
        out.setdefault(to_hex(line.get_color()), []).append(line)
    return out


def test_curves_a_panel_per_stage_a_colour_per_configuration_its_seeds_faint(tmp_path, monkeypatch):
    study = _study()
    fig = _figure(monkeypatch, figures.validation_curves, study, tmp_path)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["probe", "search", "confirm", "ablation"]
    table = legend_section(study).table  # the "Configurations in the figures" table: each line's label and colour
    for ax in axes:
        rows = table[table.panel == ax.get_title()]
        assert {li[0].get_label(): c for c, li in _configs(ax).items()} == dict(zip(rows.label, rows.colour, strict=True))
    probe, search, confirm, ablation = (_configs(ax) for ax in axes)
    assert [li[0].get_label() for li in probe.values()] == ["source all (2 seeds)"]
    # no two configurations share a colour within a panel; each has one labelled line
    for panel, n in ((search, 3), (confirm, 2), (ablation, 3)):
        assert len(panel) == n and all(not lines[0].get_label().startswith("_") for lines in panel.values())
    # two seeds: both runs faint, their mean bold, all in the configuration's colour
    for lines in [*confirm.values(), *ablation.values()]:
        mean, *runs = lines
        assert len(runs) == 2 and all(r.get_alpha() < 0.5 < 1 and r.get_linewidth() < mean.get_linewidth() for r in runs)
    # ablation variants by name, confirm by rank with the winner marked, search by configuration id
    assert sorted(li[0].get_label() for li in ablation.values()) == [
        "base (2 seeds)", "gate-uniform (2 seeds)", "original (2 seeds)"]
    labels = {li[0].get_label(): c for c, li in confirm.items()}
    winner = next(c for lab, c in labels.items() if lab.startswith("#2") and "winner" in lab)
    # one configuration keeps its colour in every panel: the winner is the base of the ablation
    assert winner == next(c for c, li in ablation.items() if li[0].get_label().startswith("base"))
    assert winner in search
    assert all(len(li[0].get_label()) == 8 for li in search.values())  # long searched values: ids (values in the table)
    fig.canvas.draw()
    for ax in axes:  # the legend sits under its panel, no wider than the panel
        box, legend = ax.get_window_extent(), ax.get_legend().get_window_extent()
        assert legend.y1 < box.y0 and legend.width <= box.width
        ticks = [t for t in ax.get_xticks() if 1 <= t <= 3]
        assert ticks and all(float(t).is_integer() for t in ticks)
    plt.close(fig)


def test_legend_table_spells_out_what_the_ids_stand_for():
    sec = legend_section(_study())
    df = sec.table
    assert list(df.panel) == ["probe"] + ["search"] * 3 + ["confirm"] * 2 + ["ablation"] * 3
    search = df[df.panel == "search"]
    assert list(search.label) == list(search.config)
    assert list(search["values"]) == [f"fusion.pcb_channels={p} fusion.taps=features.{{0,3,8,9,12}} phases.0.lr={lr:.4g}"
                                      for p, lr in ((16, 0.001974), (64, 0.007898), (128, 0.0158))]
    assert set(df[df.panel == "ablation"]["values"]) == {
        "variant=modified fusion.gate=dynamic", "variant=modified fusion.gate=uniform",
        "variant=original fusion.gate=dynamic"}


def test_short_differences_are_the_labels_without_stages():
    rows = [_row(f"t-{bb}", None, 0, 64, backbone_=bb) for bb in ("resnet18", "vgg16")]
    for r in rows:
        r["cfg.backbone"] = r.pop("backbone_")
    styles = curve_styles(pd.DataFrame(rows))
    assert list(styles.label) == ["backbone=resnet18", "backbone=vgg16"] and set(styles.panel) == {""}


def test_a_panel_per_dataset(tmp_path, monkeypatch):
    rows = [_row(f"t-{i}", None, 0, pcb, **{"cfg.data.path": path})
            for i, (pcb, path) in enumerate([(16, "synthetic"), (64, "synthetic"), (16, "data/cxr5-real/manifest.csv")])]
    epochs = pd.DataFrame([{"trial_id": r["trial_id"], "epoch": e, "val_acc": 0.5} for r in rows for e in (1, 2)])
    fig = _figure(monkeypatch, figures.validation_curves, Results({"trials": pd.DataFrame(rows), "epochs": epochs},
                                                                  Path(".")), tmp_path)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["cxr5-real", "synthetic"]
    assert [li[0].get_label() for li in _configs(axes[1]).values()] == ["fusion.pcb_channels=16", "fusion.pcb_channels=64"]
    plt.close(fig)


@pytest.mark.parametrize("n", [3, 12, 25])
def test_palette_colours_are_distinct(n):
    assert len(set(palette(n))) == n


@pytest.mark.parametrize("n_front", [1, 2])
def test_pareto_front_is_drawn(n_front, tmp_path, monkeypatch):
    pts = pd.DataFrame({"backbone": ["a", "b"], "variant": ["original", "modified"],
                        "params": [1e6, 2e6], "acc": [0.9, 0.95 if n_front == 2 else 0.5]})
    seen = {}
    monkeypatch.setattr(figures, "_save", lambda fig, path: seen.setdefault("fig", fig) and path)
    figures._pareto_figure(pts, tmp_path)
    ax = seen["fig"].axes[0]
    front = next(line for line in ax.get_lines() if line.get_label() == "Pareto front")
    assert len(front.get_xdata()) == n_front + 1  # the staircase runs on to the right edge
    plt.close(seen["fig"])
