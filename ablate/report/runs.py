"""What a report row stands for: a configuration, its seeds (and folds), the data it ran on.

A *configuration* is the resolved config without what does not change the experiment: the
seed, the name, the device and the I/O knobs (`IGNORED`), and the fold (a column of its own).
Its id (``config``) is a short hash of the flattened ``cfg.*`` columns of the trials rows (or
of ``config_json`` for rows without them), so it works on results written before this module.
Note that the trials table's ``config_hash`` includes the seed, so it is not used here.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import numpy as np
import pandas as pd

from ablate.config.identity import NOT_THE_EXPERIMENT, id_of
from ablate.report import stats
from ablate.report.resampled import corrected_resampled_t, kfold_ratio
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

IGNORED = NOT_THE_EXPERIMENT  # flattened config keys that do not define the experiment (config.identity)
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
            d = _flat(json.loads(row.config_json))
        else:  # nothing says which rows share a configuration: each row is its own
            d = {"trial_id": row.trial_id}
        ids.append(id_of(d))
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
    validation accuracy, Table 4's protocol) and, with k-fold, every fold's trial."""

    config: str
    trials: dict[int, str]  # seed -> trial_id
    folds: int  # fits per seed (1 without k-fold)
    val_acc: float  # mean over the seeds
    rows: pd.DataFrame  # every trials row of the configuration
    fold_trials: dict[int, dict[int, str]] = field(default_factory=dict)  # k-fold: seed -> fold -> trial_id

    @property
    def seeds(self) -> list[int]:
        return sorted(self.trials)

    @property
    def k(self) -> int:
        """k of k-fold (``data.folds`` of the rows, else the folds they hold); 1 without k-fold."""
        if not self.fold_trials:
            return 1
        if "cfg.data.folds" in self.rows and self.rows["cfg.data.folds"].notna().any():
            return int(self.rows["cfg.data.folds"].max())
        return max(len(f) for f in self.fold_trials.values())

    def first(self, column: str) -> Any:
        return self.rows[column].iloc[0]


def runs_by_config(t: pd.DataFrame) -> dict[str, RunSet]:
    """Each configuration of `t` (from `ok_trials`) with its runs per seed."""
    out: dict[str, RunSet] = {}
    for cid, g in t.groupby("config", sort=False):
        per_seed: dict[int, str] = {}
        per_fold: dict[int, dict[int, str]] = {}
        vals = []
        folds = 1
        for seed, s in g.groupby("seed"):
            best = s.loc[s.val_acc.fillna(-1).idxmax()] if len(s) > 1 else s.iloc[0]
            per_seed[int(seed)] = best.trial_id
            vals.append(best.val_acc)
            folds = max(folds, len(s))
            if "fold" in s and s.fold.notna().all():
                per_fold[int(seed)] = {int(f): tid for f, tid in zip(s.fold, s.trial_id, strict=True)}
        val = float(np.nanmean(vals)) if len(vals) and not np.isnan(vals).all() else float("nan")
        out[cid] = RunSet(cid, per_seed, folds, val, g, per_fold)
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

    def accuracy(self, rs: RunSet, seeds: list[int] | None = None, conf: float = 0.95, *,
                 every_fold: bool = False) -> stats.Estimate:
        """The configuration's test accuracy over `seeds` (default: all) with its interval.

        With ``every_fold`` and k-fold rows: the mean over every (seed, fold) fit with the
        corrected resampled t interval (what a k-fold comparison pairs), not the selected fold.
        """
        seeds = rs.seeds if seeds is None else seeds
        if every_fold and rs.fold_trials:
            tids = [t for s in seeds for _, t in sorted(rs.fold_trials.get(s, {}).items())]
            accs = rs.rows.set_index("trial_id").test_acc
            fits = [float(p.correct.mean()) if (p := self.of(t)) is not None and len(p) else accs[t] for t in tids]
            r = corrected_resampled_t(fits, kfold_ratio(rs.k), conf, bounds=(0.0, 1.0))
            return stats.Estimate(r.mean, r.low, r.high, f"corrected t over {len(fits)} (seed, fold) fits"
                                  + (", clipped" if r.clipped else ""), len(seeds), r.clipped)
        preds = [self.of(rs.trials[s]) for s in seeds]
        if preds and all(p is not None and len(p) for p in preds):
            aligned = all(np.array_equal(p.image.to_numpy(), preds[0].image.to_numpy()) for p in preds)
            return stats.accuracy_estimate([p.correct.to_numpy() for p in preds], conf, aligned=aligned)
        accs = rs.rows.set_index("trial_id").test_acc
        return stats.seed_mean([accs[rs.trials[s]] for s in seeds], conf)


def _fold_units(group: TestPredictions, a: RunSet, b: RunSet, names: tuple[str, str]
                ) -> tuple[dict[tuple[int, int], tuple[str, str]], list[str]]:
    """The (seed, fold) fits both k-fold configurations have with test predictions, and notes on
    the ones left out; none when either side has no k-fold rows or their k differ."""
    if not (a.fold_trials and b.fold_trials):
        return {}, []
    if a.k != b.k:
        return {}, [f"{names[0]} ran {a.k} folds, {names[1]} {b.k}: different folds, paired by seed on the "
                    "selected fold of each"]
    ua = {(s, f): t for s, fs in a.fold_trials.items() for f, t in fs.items()}
    ub = {(s, f): t for s, fs in b.fold_trials.items() for f, t in fs.items()}
    units = {u: (ua[u], ub[u]) for u in sorted(set(ua) & set(ub))
             if group.of(ua[u]) is not None and group.of(ub[u]) is not None}
    gone = sorted((set(ua) | set(ub)) - set(units))
    notes = [f"fit{'s' if len(gone) > 1 else ''} {', '.join(f's{s} f{f + 1}' for s, f in gone)} (seed, fold from 1) "
             "not on both sides with test predictions: left out"] if gone else []
    return units, notes


def compare(group: TestPredictions, a: RunSet, b: RunSet, names: tuple[str, str], conf: float = 0.95
            ) -> tuple[stats.Comparison, list[str]]:
    """Configuration a against b, paired by seed on the test images both runs of a seed saw.

    With k-fold on both sides (same k) every (seed, fold) fit is paired instead, and the test
    is the corrected resampled t-test (`stats.compare_folds`).

    Returns:
        The comparison and notes naming seeds (or fits) left out (missing on one side, no
        predictions) and seeds whose runs did not share all their test images.
    """
    units, notes = _fold_units(group, a, b, names)
    if len(units) >= 2:
        pairs_f: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        for u, (ta, tb) in units.items():
            pa, pb = group.of(ta), group.of(tb)
            m = stats.align_predictions(pa, pb)
            if len(m) < max(len(pa), len(pb)):
                notes.append(f"seed {u[0]} fold {u[1] + 1}: the two fits share {len(m)} of {max(len(pa), len(pb))} "
                             "test images; compared on those")
            if len(m):
                pairs_f[u] = (m.correct_a.to_numpy(), m.correct_b.to_numpy())
        if len(pairs_f) >= 2:
            return stats.compare_paired(pairs_f, conf, folds=a.k), notes
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
    return RunSet(a.config, keep, a.folds, a.val_acc, rows, {s: a.fold_trials[s] for s in seeds if s in a.fold_trials})
