"""Who is who in the report's figures: one panel per stage (or dataset), one colour and one short
label per configuration, shared by its seeds and folds.

A configuration is `ablate.report.runs.config_ids` (the resolved config without seed and fold).
Its colour is fixed across panels (the confirmed winner has one colour in the search, the
confirm and the ablation panels) and differs from every other configuration's. Its label is the
ablation variant's name in an ablation panel (``base``, ``original``), ``#rank`` in a confirm
panel, and otherwise the values that tell the panel's configurations apart when they are short
(``backbone=resnet18``), else the configuration id; the "Configurations in the figures" table
(`legend_section`) spells every configuration's values out beside that id.
"""

from __future__ import annotations

import pandas as pd

from ablate.report import stats
from ablate.report.cells import Section
from ablate.report.runs import IGNORED, config_ids, dataset_names
from ablate.results.store import Results

__all__ = ["STAGES", "config_names", "curve_styles", "curve_trials", "legend_section", "palette"]

STAGES = ("probe", "search", "confirm", "ablation")  # panel order
_SHORT = 36  # longest label spelled out as values; longer: the configuration id (values in the table)
_SKIP = IGNORED | {"cfg.data.synthetic.seed"}


def palette(n: int) -> list[str]:
    """`n` distinct colours: matplotlib's tab10 up to 10, tab20 up to 20, else spread over turbo."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    if n <= 10:
        return [to_hex(c) for c in colormaps["tab10"].colors[:n]]
    if n <= 20:
        return [to_hex(c) for c in colormaps["tab20"].colors[:n]]
    cmap = colormaps["turbo"]
    return [to_hex(cmap(0.05 + 0.9 * i / (n - 1))) for i in range(n)]


def _panels(t: pd.DataFrame) -> pd.Series:
    """Each row's panel title: its stage and/or dataset where the results hold more than one (a
    probe's data is the probed images labelled by source: not a dataset of its own)."""
    stage = t["stage"] if "stage" in t else pd.Series([None] * len(t), index=t.index)
    dataset = t["dataset"].where(stage != "probe")
    parts = [stage.fillna("trials").astype(str)] if stage.notna().any() else []
    if dataset.dropna().nunique() > 1:
        parts.append(dataset.fillna("").astype(str))
    return pd.Series([" · ".join(p for p in row if p) for row in zip(*parts, strict=True)] if parts else [""] * len(t),
                     index=t.index, dtype=object)


def _described(t: pd.DataFrame) -> list[str]:
    """The columns that describe `t`'s configurations: the searched ones (``space.*``) where the rows
    have them, else the config keys whose values tell the configurations apart."""
    from ablate.search.translate import display_value

    def varies(c: str) -> bool:
        return t.groupby("config")[c].first().map(lambda v: display_value(v) if pd.notna(v) else "").nunique() > 1

    space = [c for c in t.columns if c.startswith("space.") and c != "space.seed" and t[c].notna().any()]
    return space or [c for c in t.columns if c.startswith("cfg.") and c not in _SKIP and varies(c)]


def _values(row: pd.Series, columns: list[str]) -> str:
    from ablate.search.translate import display_value

    return " ".join(f"{c.split('.', 1)[1]}={display_value(row[c])}" for c in columns if pd.notna(row[c]))


def _runs(g: pd.DataFrame) -> str:
    seeds = g["seed"].nunique() if "seed" in g else 1
    folds = int(g.groupby("seed").size().max()) if "seed" in g and len(g) else 1
    words = ([f"{seeds} seeds"] if seeds > 1 else []) + ([f"{folds} folds"] if folds > 1 else [])
    return f" ({' x '.join(words)})" if words else ""


def _winner(t: pd.DataFrame) -> str | None:
    """The confirm stage's winner: best mean val_acc over its seeds (ties: the better search rank)."""
    c = t[t["stage"] == "confirm"] if "stage" in t else t.iloc[0:0]
    c = c[c.status == "ok"] if "status" in c else c
    if c.empty or "confirm_rank" not in c:
        return None
    means = c.groupby("config").agg(val=("val_acc", "mean"), rank=("confirm_rank", "min"))
    return str(means.sort_values(["val", "rank"], ascending=[False, True]).index[0])


def curve_trials(res: Results) -> pd.DataFrame:
    """The rows whose curves the figures draw: the trials, and the shortcut probes (``probes``
    table, drawn in a ``probe`` panel) whose epochs were recorded."""
    t = res.get("trials")
    probes = res.get("probes")
    if probes is None or probes.empty:
        return t if t is not None else pd.DataFrame()
    probes = probes.assign(stage="probe")
    return pd.concat([probes, t], ignore_index=True) if t is not None and not t.empty else probes


def curve_styles(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per trial (index ``trial_id``): ``panel``, ``config``, ``name`` (the configuration's
    name in its panel), ``label`` (the name and its runs: ``base (2 seeds)``), ``color``, ``values``.

    Panels come in stage order (`STAGES`), then by dataset; every configuration keeps one colour
    in every panel.
    """
    if trials.empty:
        return pd.DataFrame(columns=["panel", "config", "name", "label", "color", "values"])
    t = trials.reset_index(drop=True).copy()
    t["config"] = config_ids(t)
    t["dataset"] = dataset_names(t)
    t["panel"] = _panels(t)
    order = {s: i for i, s in enumerate(STAGES)}
    t["_order"] = t["stage"].map(order).fillna(len(STAGES)) if "stage" in t else 0
    t = t.sort_values(["_order", "dataset"], kind="stable")
    configs = list(dict.fromkeys(t.config))
    colors = dict(zip(configs, palette(len(configs)), strict=True))
    winner = _winner(t)
    t["name"], t["label"], t["values"] = "", "", ""
    for _, p in t.groupby("panel", sort=False):
        columns = _described(p)
        firsts = p.groupby("config", sort=False).first()
        values = {cid: _values(r, columns) for cid, r in firsts.iterrows()}
        spelled = all(0 < len(v) <= _SHORT for v in values.values()) and len(values) > 1
        for cid, g in p.groupby("config", sort=False):
            r = firsts.loc[cid]
            stage = r.get("stage")
            if stage == "ablation" and "ablation_variant" in g and g.ablation_variant.notna().any():
                name = "/".join(dict.fromkeys(g.ablation_variant.dropna().astype(str)))
            elif stage == "probe" and "probe" in g:  # a source probe: what it predicts, within which class
                name = " ".join(str(r.get(c)) for c in ("probe", "probe_task") if pd.notna(r.get(c)))
            else:
                name = values[cid] if spelled else cid
                if stage == "confirm" and pd.notna(r.get("confirm_rank")):
                    name = f"#{int(r.confirm_rank)} {name}" + (" winner" if cid == winner else "")
            t.loc[g.index, "name"] = name
            t.loc[g.index, "label"] = name + _runs(g)
            t.loc[g.index, "values"] = values[cid] or _values(r, _described(t))
    t["color"] = t.config.map(colors)
    return t.set_index("trial_id")[["panel", "config", "name", "label", "color", "values"]]


def config_names(trials: pd.DataFrame) -> dict[str, str]:
    """Configuration id -> its name in the last panel it appears in (``base``, ``#1 a75f2ba2``)."""
    styles = curve_styles(trials)
    return styles.groupby("config", sort=False)["name"].last().to_dict() if len(styles) else {}


def legend_section(res: Results, alpha: float = stats.ALPHA) -> Section | None:
    """Configurations in the figures: each panel's label, configuration id and values."""
    t, e = curve_trials(res), res.get("epochs")
    if t.empty or e is None or e.empty:
        return None
    styles = curve_styles(t)
    styles = styles[styles.index.isin(e.trial_id)]  # the trials drawn (`figures.validation_curves`)
    if styles.empty:
        return None
    vals = t.drop_duplicates("trial_id").set_index("trial_id").val_acc
    rows = []
    for (panel, cid), g in styles.groupby(["panel", "config"], sort=False):
        rows.append({"panel": panel, "label": g.label.iloc[0], "colour": g.color.iloc[0], "config": cid, "runs": len(g),
                     "val_acc_mean": round(float(vals.loc[g.index].mean()), 4), "values": g["values"].iloc[0]})
    df = pd.DataFrame(rows)
    if not (df.panel != "").any():
        df = df.drop(columns="panel")
    notes = ["One row per configuration and panel of the curve figures, in their order: the label and colour "
             "of its line (its seeds and folds share them: faint lines, their mean bold), and its values: the "
             "searched ones where the panel's runs were searched, else those that tell it from the panel's "
             "other configurations. val_acc_mean: the mean of its runs' best "
             "validation accuracy (every run, stopped-early ones too)."]
    return Section("legend", "Configurations in the figures", df, notes)
