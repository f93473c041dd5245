"""The stages of a study after its search: confirmation of the winners, then the ablation (Ray-free).

A sweep file may hold ``probe:``, ``search:``, ``confirm:`` and ``ablation:``; ``ablate run`` runs them in
that order (`ablate.config.SweepConfig.stages`), each stage a Ray Tune experiment of its own.
This module decides what the probe, confirm and ablation stages run (the latter two from the
rows of the stages before them):

* **probe** (first: it is cheap and says before the search whether the images carry their
  source): the source probe's trials (`ablate.study.expand.probe_trials`), whose rows go to the
  ``probes`` table.
* **confirm**: the search's configurations ranked by the mean of ``search.metric`` over their
  finished trials (status ``ok``: a trial stopped early has no final score; with k-fold, the
  mean over the folds), the best ``confirm.top_k`` retrained once per ``confirm.seeds`` seed.
  The search's best is the maximum of many noisy draws and biased upward; the confirm rows are
  fresh draws of the same configurations, so their mean (with its interval) is the study's
  result. The *winner* is the confirmed configuration with the best mean ``search.metric``
  over its confirm seeds (the test set plays no part in the choice).
* **ablation**: the base (the winner when the sweep confirmed; otherwise the sweep's ``trial``)
  and every variant of ``ablation.variants`` once per seed (``ablation.seeds``; else the
  confirm seeds after a confirm stage; else ``trial.seeds``; else ``trial.seed``).

Every trial of a stage is a `StageTrial`: a resolved config with its seed set, a fold (with
``data.folds = k > 1`` each configuration and seed runs once per fold) and the columns its
trials row carries (``stage`` and, per stage, ``confirm_rank``/``selected_from`` or
``ablation_variant``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ablate.config import SweepConfig, TrialConfig
from ablate.errors import ConfigError
from ablate.models.resolve import resolve
from ablate.search.ablation import BASE, expand_ablation

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "STAGES",
    "StageTrial",
    "ablation_seeds",
    "ablation_trials",
    "confirm_trials",
    "fold_values",
    "select_for_confirm",
    "select_winner",
    "variants_equal_to_base",
]

STAGES = ("probe", "search", "confirm", "ablation")
# keys of a resolved config that do not define the experiment (the seed is a repeat of it)
_NOT_IDENTITY = ("seed", "seeds", "name", "device")


@dataclass(frozen=True)
class StageTrial:
    """One trial of the confirm or ablation stage."""

    config: TrialConfig  # resolved, its seed set
    fold: int | None = None
    columns: dict[str, Any] = field(default_factory=dict)

    def label(self) -> str:
        """What the trial is, for progress lines: ``confirm #1 seed 3`` / ``no-dropout seed 0 fold 1``."""
        c = self.columns
        what = f"{c['stage']} #{c['confirm_rank']}" if "confirm_rank" in c else str(c.get("ablation_variant", ""))
        what = f"probe {c['probe_task']}" if "probe_task" in c else what
        return f"{what} seed {self.config.seed}" + ("" if self.fold is None else f" fold {self.fold}")


def fold_values(cfg: TrialConfig) -> list[int | None]:
    """The folds one configuration runs: ``0..k-1`` with ``data.folds = k > 1``, else ``[None]``."""
    return list(range(cfg.data.folds)) if cfg.data.folds > 1 else [None]


def _experiment_key(config_json: str) -> str:
    d = json.loads(config_json)
    for k in _NOT_IDENTITY:
        d.pop(k, None)
    d.get("data", {}).pop("cache_dir", None)
    d.get("data", {}).pop("decode_workers", None)
    return json.dumps(d, sort_keys=True)


def select_for_confirm(sweep: SweepConfig, search_rows: pd.DataFrame) -> list[dict[str, Any]]:
    """The search's best ``confirm.top_k`` configurations, best first.

    Args:
        search_rows: the trials rows of the search stage.

    Returns:
        One dict per configuration: ``rank`` (1 = best), ``config_json`` (a finished trial's
        resolved config), ``search_trials`` (its row ids), ``search_metric`` (the mean over
        them) and ``space`` (its ``space.*`` columns).

    Raises:
        ConfigError: no finished search trial has the metric.
    """
    assert sweep.confirm is not None
    metric, mode = sweep.search.metric, sweep.search.mode
    ok = search_rows[search_rows["status"] == "ok"] if len(search_rows) else search_rows
    if metric in ok:
        ok = ok[ok[metric].notna()]
    if metric not in ok or ok.empty:
        raise ConfigError(f"sweep {sweep.name}: no search trial finished with a {metric} value, so there "
                          "is nothing to confirm; look at the search's failed rows (ablate.results.load)")
    keys = ok["config_json"].map(_experiment_key)
    groups = []
    for _, g in ok.groupby(keys, sort=False):
        space = {c: g.iloc[0][c] for c in g.columns if c.startswith("space.") and c != "space.seed"}
        groups.append({"config_json": g.iloc[0]["config_json"], "search_trials": sorted(g["trial_id"]),
                       "search_metric": float(g[metric].mean()), "space": space})
    sign = -1.0 if mode == "max" else 1.0
    groups.sort(key=lambda d: sign * d["search_metric"])  # stable: ties keep the search's order
    top = groups[: sweep.confirm.top_k]
    return [{"rank": i + 1, **d} for i, d in enumerate(top)]


def confirm_trials(sweep: SweepConfig, selection: list[dict[str, Any]]) -> list[StageTrial]:
    """Each selected configuration once per confirm seed (and fold)."""
    assert sweep.confirm is not None
    out = []
    for sel in selection:
        base = TrialConfig.model_validate_json(sel["config_json"])
        columns = {"stage": "confirm", "confirm_rank": sel["rank"],
                   "selected_from": ",".join(sel["search_trials"]), **_plain(sel["space"])}
        for seed in sweep.confirm.seeds:
            cfg = base.model_copy(update={"seed": seed, "seeds": None})
            out += [StageTrial(cfg, fold, columns) for fold in fold_values(cfg)]
    return out


def select_winner(sweep: SweepConfig, selection: list[dict[str, Any]],
                  confirm_rows: pd.DataFrame) -> dict[str, Any]:
    """The confirmed configuration with the best mean ``search.metric`` over its confirm rows.

    Returns:
        The winner's selection dict (`select_for_confirm`) plus ``confirm_metric`` (its mean)
        and ``confirm_n`` (its finished confirm trials).

    Raises:
        ConfigError: no confirm trial finished with the metric.
    """
    metric, mode = sweep.search.metric, sweep.search.mode
    rows = confirm_rows[confirm_rows["status"] == "ok"] if len(confirm_rows) else confirm_rows
    if metric not in rows or rows[metric].notna().sum() == 0:
        raise ConfigError(f"sweep {sweep.name}: no confirm trial finished with a {metric} value, so there is "
                          "no winner to ablate; look at the confirm stage's failed rows")
    means = rows.groupby("confirm_rank")[metric].agg(["mean", "count"])
    means = means[means["count"] > 0].dropna()
    best = int(means["mean"].idxmax() if mode == "max" else means["mean"].idxmin())
    sel = next(s for s in selection if s["rank"] == best)
    return {**sel, "confirm_metric": float(means.loc[best, "mean"]), "confirm_n": int(means.loc[best, "count"])}


def ablation_seeds(sweep: SweepConfig) -> list[int]:
    """The seeds every ablation variant runs with (see the module docstring)."""
    assert sweep.ablation is not None
    if sweep.ablation.seeds:
        return list(sweep.ablation.seeds)
    if sweep.confirm is not None and "confirm" in sweep.stages():
        return list(sweep.confirm.seeds)
    return list(sweep.trial.seeds) if sweep.trial.seeds else [sweep.trial.seed]


def ablation_trials(sweep: SweepConfig, base: TrialConfig | None = None,
                    only: list[str] | None = None) -> list[StageTrial]:
    """The base (when included) and every variant (or those in `only`), once per seed and fold.

    Args:
        base: the configuration the variants change (the confirmed winner); the sweep's
            ``trial`` when None.
        only: variant names to run (``--variant``); all when None.

    A variant that leaves the base unchanged (``gate-dynamic`` when the winner's gate is
    dynamic already) is not run: see `variants_equal_to_base`.

    Raises:
        ConfigError: an unknown variant name, or a variant that does not validate on `base`.
    """
    same = set(variants_equal_to_base(sweep, base))
    out = []
    for name, cfg in expand_ablation(sweep, only, base=base):
        if name in same:
            continue
        for seed in ablation_seeds(sweep):
            seeded = cfg.model_copy(update={"seed": seed, "seeds": None})
            columns = {"stage": "ablation", "ablation_variant": name}
            out += [StageTrial(seeded, fold, columns) for fold in fold_values(seeded)]
    return out


def variants_equal_to_base(sweep: SweepConfig, base: TrialConfig | None = None) -> list[str]:
    """The variants whose configuration is the base's own (they would repeat its runs)."""
    named = expand_ablation(sweep, None, base=base)
    resolved = resolve(sweep.trial if base is None else base, source="trial").model_dump(exclude={"name"})
    return [n for n, c in named if n != BASE and c.model_dump(exclude={"name"}) == resolved]


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """Row values as plain Python (numpy scalars and NaN from a DataFrame)."""
    out = {}
    for k, v in values.items():
        v = v.item() if hasattr(v, "item") else v
        out[k] = None if isinstance(v, float) and v != v else v
    return out
