"""What a report row stands for: a configuration, its seeds (and folds), the data it ran on.

A *configuration* is the resolved config without what does not change the experiment: the
seed, the name, the device and the I/O knobs (`IGNORED`), and the fold (a column of its own).
Its id (``config``) is a short hash of the flattened ``cfg.*`` columns of the trials rows (or
of ``config_json`` for rows without them), so it works on results written before this module.
Note that the trials table's ``config_hash`` includes the seed, so it is not used here.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import numpy as np
import pandas as pd

from ablate.report import stats
from ablate.results.store import Results

__all__ = [
    "IGNORED",
    "RunSet",
    "TestPredictions",
    "compare",
    "config_ids",
    "dataset_names",
    "ok_trials",
    "paired_runs",
    "paper_data",
    "runs_by_config",
    "select_config",
    "shortcut_control",
]

# flattened config keys that do not define the experiment
IGNORED = frozenset({"cfg.seed", "cfg.seeds", "cfg.name", "cfg.device", "cfg.data.cache_dir",
                     "cfg.data.decode_workers"})
PAPER_CXR = ("cxr5", "cxr4", "cxr3")


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return v


def _flat(node: Any, prefix: str = "cfg") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            out.update(_flat(v, f"{prefix}.{k}"))
        return out
    return {prefix: json.dumps(node) if isinstance(node, list) else node}


def config_ids(trials: pd.DataFrame) -> pd.Series:
    """The configuration id (8 hex digits) of each trials row; the same for every seed and fold."""
    cols = sorted(c for c in trials.columns if c.startswith("cfg.") and c not in IGNORED)
    ids = []
    for i in range(len(trials)):
        row = trials.iloc[i]
        if cols:
            d = {c: _plain(row[c]) for c in cols}
        elif "config_json" in trials.columns and isinstance(row.get("config_json"), str) and row.config_json:
            d = {k: v for k, v in _flat(json.loads(row.config_json)).items() if k not in IGNORED}
        else:  # nothing says which rows share a configuration: each row is its own
            d = {"trial_id": row.trial_id}
        ids.append(hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:8])
    return pd.Series(ids, index=trials.index, dtype=object)


def _dataset_name(path: Any, fmt: Any, source: Any) -> str:
    fmt = fmt if isinstance(fmt, str) else "auto"
    if isinstance(path, str) and path:
        if path == "synthetic":
            return "synthetic"
        if fmt == "covidx":
            return "COVIDx"
        if fmt == "covidx-ct":
            return "COVIDx-CT"
        p = PurePath(path.rstrip("/\\"))
        if p.suffix.lower() == ".csv":
            return p.parent.name if p.stem == "manifest" and p.parent.name else p.stem
        return p.name or str(p)
    src = source if isinstance(source, str) else ""
    if src.startswith("synthetic"):
        return "synthetic"
    if src.startswith("covidx-ct:"):
        return "COVIDx-CT"
    if src.startswith("covidx:"):
        return "COVIDx"
    return _dataset_name(src, "auto", None) if src else "unknown"


def dataset_names(trials: pd.DataFrame) -> pd.Series:
    """The data each row was trained and tested on: ``synthetic``, ``COVIDx``, ``COVIDx-CT`` or the
    folder / manifest name (from ``cfg.data.path`` and ``cfg.data.format``, else ``data_source``)."""
    get = lambda c: trials[c] if c in trials.columns else pd.Series([None] * len(trials), index=trials.index)
    return pd.Series([_dataset_name(p, f, s) for p, f, s in zip(get("cfg.data.path"), get("cfg.data.format"),
                                                                   get("data_source"), strict=True)],
                     index=trials.index, dtype=object)


def paper_data(dataset: str, scenario: str) -> str | None:
    """Which of the paper's datasets a run's numbers may stand beside: ``cxr`` (Tables 2, 4-6,
    15, 16: real chest X-rays in the paper's class scenarios), ``covidx-ct`` (Table 10), or None
    (the synthetic set, or another scenario)."""
    if dataset == "COVIDx-CT":
        return "covidx-ct"
    if dataset not in ("synthetic", "COVIDx", "unknown") and scenario in PAPER_CXR:
        return "cxr"
    return None


def ok_trials(res: Results, stages: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Finished trials with their ``config`` id and ``dataset`` name.

    Rows of a study (``ablate run`` writes a ``stage`` column: search, confirm, ablation):

    Args:
        stages: only the rows of these stages (rows without a stage, from ``ablate trial`` or
            older results, count as any stage). When None, one row per configuration, seed and
            fold: a configuration's *search* rows are left out when the study confirmed it (the
            search picked them as the best of many draws, so they are biased upward), and the
            ablation's base rows, which repeat the confirmed winner with the confirm seeds, give
            way to the confirm rows.
    """
    t = res.trials
    t = t[t.status == "ok"].copy() if not t.empty else t.copy()
    t["config"] = config_ids(t) if len(t) else pd.Series(dtype=object)
    t["dataset"] = dataset_names(t) if len(t) else pd.Series(dtype=object)
    if "stage" not in t or t.empty:
        return t
    st = t["stage"]
    if stages is not None:
        return t[st.isin(stages) | st.isna()]
    confirmed = set(t.config[st == "confirm"])
    t = t[~((st == "search") & t.config.isin(confirmed))]
    order = t["stage"].map(_STAGE_ORDER).fillna(1)
    keep = t.assign(_order=order).sort_values("_order", kind="stable")
    keep = keep.drop_duplicates([c for c in ("config", "seed", "fold") if c in keep.columns])
    return t.loc[t.index.isin(keep.index)]


_STAGE_ORDER = {"confirm": 0, "search": 1, "ablation": 2}  # which row of a repeated (config, seed, fold) stays


@dataclass
class RunSet:
    """One configuration's runs: a trial per seed (with k-fold, the fold with the best
    validation accuracy, Table 4's protocol)."""

    config: str
    trials: dict[int, str]  # seed -> trial_id
    folds: int  # fits per seed (1 without k-fold)
    val_acc: float  # mean over the seeds
    rows: pd.DataFrame  # every trials row of the configuration

    @property
    def seeds(self) -> list[int]:
        return sorted(self.trials)

    def first(self, column: str) -> Any:
        return self.rows[column].iloc[0]


def runs_by_config(t: pd.DataFrame) -> dict[str, RunSet]:
    """Each configuration of `t` (from `ok_trials`) with its runs per seed."""
    out: dict[str, RunSet] = {}
    for cid, g in t.groupby("config", sort=False):
        per_seed: dict[int, str] = {}
        vals = []
        folds = 1
        for seed, s in g.groupby("seed"):
            best = s.loc[s.val_acc.fillna(-1).idxmax()] if len(s) > 1 else s.iloc[0]
            per_seed[int(seed)] = best.trial_id
            vals.append(best.val_acc)
            folds = max(folds, len(s))
        out[cid] = RunSet(cid, per_seed, folds, float(np.nanmean(vals)) if len(vals) and not np.isnan(vals).all() else float("nan"), g)
    return out


def shortcut_control(rs: RunSet) -> bool:
    """A masked-lung or leave-one-source-out run (``data.mask``, ``data.hold_out_source``)."""
    mask, held = (rs.rows[c].iloc[0] if c in rs.rows else None for c in ("cfg.data.mask", "cfg.data.hold_out_source"))
    return (isinstance(mask, str) and mask != "none") or (isinstance(held, str) and held != "")


def select_config(sets: list[RunSet]) -> tuple[RunSet, str]:
    """The configuration a study selected among several of one model: the confirm stage when the
    rows have one (``stage == 'confirm'``), else the best mean validation accuracy (the search
    metric); and a phrase saying how."""
    if len(sets) == 1:
        return sets[0], ""
    sets = [s for s in sets if not shortcut_control(s)] or sets  # checks, not candidates (report.shortcuts)
    if len(sets) == 1:
        return sets[0], ""
    confirm = [s for s in sets if "stage" in s.rows.columns and (s.rows.stage == "confirm").any()]
    pool, how = (confirm, "the confirm stage") if confirm else (sets, "the best mean val_acc")
    best = max(pool, key=lambda s: (-1.0 if math.isnan(s.val_acc) else s.val_acc, len(s.trials), s.config))
    if confirm and len(confirm) > 1:
        how = "the best mean val_acc of the confirm stage"
    return best, f"{len(sets)} configurations; shown: {best.config}, {how} ({best.val_acc:.4f})"


@dataclass
class TestPredictions:
    """Predictions of the test split, per trial, sorted by image (what pairing needs)."""

    predictions: pd.DataFrame
    _by_trial: dict[str, pd.DataFrame] = field(default_factory=dict)

    def __post_init__(self) -> None:
        p = self.predictions
        if not p.empty:
            p = p[p.split == "test"] if "split" in p.columns else p
            self._by_trial = {tid: g.sort_values("image", kind="stable") for tid, g in p.groupby("trial_id")}

    def of(self, trial_id: str) -> pd.DataFrame | None:
        return self._by_trial.get(trial_id)

    def accuracy(self, rs: RunSet, seeds: list[int] | None = None, conf: float = 0.95) -> stats.Estimate:
        """The configuration's test accuracy over `seeds` (default: all) with its interval."""
        seeds = rs.seeds if seeds is None else seeds
        preds = [self.of(rs.trials[s]) for s in seeds]
        if preds and all(p is not None and len(p) for p in preds):
            aligned = all(np.array_equal(p.image.to_numpy(), preds[0].image.to_numpy()) for p in preds)
            return stats.accuracy_estimate([p.correct.to_numpy() for p in preds], conf, aligned=aligned)
        accs = rs.rows.set_index("trial_id").test_acc
        return stats.seed_mean([accs[rs.trials[s]] for s in seeds], conf)


def compare(group: TestPredictions, a: RunSet, b: RunSet, names: tuple[str, str], conf: float = 0.95
            ) -> tuple[stats.Comparison, list[str]]:
    """Configuration a against b, paired by seed on the test images both runs of a seed saw.

    Returns:
        The comparison and notes naming seeds left out (missing on one side, no predictions)
        and seeds whose runs did not share all their test images.
    """
    notes = []
    only_a, only_b = sorted(set(a.trials) - set(b.trials)), sorted(set(b.trials) - set(a.trials))
    for side, name, other in ((only_a, names[0], names[1]), (only_b, names[1], names[0])):
        if side:
            notes.append(f"seed{'s' if len(side) > 1 else ''} {', '.join(map(str, side))} of {name} "
                         f"ha{'ve' if len(side) > 1 else 's'} no {other} run: left out of the comparison")
    pairs: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    images: list[np.ndarray] = []
    for s in sorted(set(a.trials) & set(b.trials)):
        pa, pb = group.of(a.trials[s]), group.of(b.trials[s])
        if pa is None or pb is None:
            notes.append(f"seed {s}: no test predictions for {names[0] if pa is None else names[1]}: left out")
            continue
        m = stats.align_predictions(pa, pb)
        if len(m) < max(len(pa), len(pb)):
            notes.append(f"seed {s}: the two runs share {len(m)} of {max(len(pa), len(pb))} test images; compared on those")
        if m.empty:
            continue
        pairs[s] = (m.correct_a.to_numpy(), m.correct_b.to_numpy())
        images.append(m.image.to_numpy())
    aligned = all(np.array_equal(x, images[0]) for x in images)
    return stats.compare_paired(pairs, conf, aligned=aligned), notes


def paired_runs(a: RunSet, seeds: tuple[int, ...]) -> RunSet:
    """`a` restricted to `seeds` (the seeds a comparison used)."""
    keep = {s: a.trials[s] for s in seeds}
    rows = a.rows[a.rows.seed.isin(list(seeds))]
    return RunSet(a.config, keep, a.folds, a.val_acc, rows)
