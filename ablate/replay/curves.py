"""Complete learning curves from a results folder, keyed by the values of a sweep's space.

A replay can only run configurations whose curves the table holds, so the space must be
discrete (``choice``, ``grid``, ``subset``) and every configuration it can produce must have
a finished trial in the results (`Curves.for_sweep` checks both and says what is missing).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ablate.config import SweepConfig
from ablate.errors import ConfigError
from ablate.search.translate import grid_points

__all__ = ["DISCRETE_KINDS", "Curves", "config_key", "enumerate_space", "kind_arg", "with_search"]

DISCRETE_KINDS = ("choice", "grid", "subset")


def kind_arg(dist: Any) -> tuple[str, Any]:
    """``(kind, argument)`` of a space distribution (a typed one, or the ``{kind: arg}`` mapping)."""
    if hasattr(dist, "kind"):
        return dist.kind, dist.arg
    (kind, arg), = dict(dist).items()
    return kind, arg


def with_search(sweep: SweepConfig, **changes: Any) -> SweepConfig:
    """A copy of `sweep` with ``search`` fields changed (``algorithm=...``, ``seed=...``)."""
    return sweep.model_copy(update={"search": sweep.search.model_copy(update=changes)})


def _plain(v: Any) -> Any:
    """A value as plain JSON data: JSON strings parsed, numbers as floats, arrays as lists."""
    if isinstance(v, np.ndarray):
        v = v.tolist()
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, str) and v[:1] in "[{":
        try:
            return _plain(json.loads(v))
        except ValueError:
            return v
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items()}
    return str(v)


def config_key(values: Mapping[str, Any]) -> str:
    """One string per configuration: the space's values, normalised (``16`` == ``16.0``,
    a JSON string of taps == the list), in key order."""
    return json.dumps({k: _plain(v) for k, v in values.items()}, sort_keys=True)


def _subsets(candidates: list[Any], minimum: int) -> list[list[Any]]:
    """Every subset of at least `minimum` candidates, in candidate order (as `SpaceSampler` sets them)."""
    return [list(c) for r in range(minimum, len(candidates) + 1) for c in itertools.combinations(candidates, r)]


def enumerate_space(sweep: SweepConfig) -> list[dict[str, Any]]:
    """Every configuration the space can produce: grid points x the sampled axes' values.

    Raises:
        ConfigError: an axis is continuous (``uniform``, ``loguniform``, ``int``).
    """
    subsets: dict[str, list[list[Any]]] = {}
    for key, dist in sweep.search.space.items():
        kind, arg = kind_arg(dist)
        if kind not in DISCRETE_KINDS:
            raise ConfigError(
                f"search.space.{key}: a replay samples only configurations the results hold, but "
                f"{kind} is continuous; use {{choice: [...]}} of the values that were run")
        if kind == "subset":
            subsets[key] = _subsets(list(arg["of"]), int(arg.get("min", 1)))
    points = grid_points(with_search(sweep, algorithm="grid"))  # grid axes and choices, enumerated
    return [{**point, **dict(zip(subsets, combo, strict=True))}
            for point in points for combo in itertools.product(*subsets.values())]


@dataclass(frozen=True)
class Curves:
    """Per configuration of a space: the metric at every epoch, each epoch's seconds, the trial.

    Scores are oriented so that higher is better (``mode: min`` metrics are negated), as
    Ray's ASHA does with its ``metric_op``.

    Attributes:
        configs: the space values of each configuration (`enumerate_space` order).
        keys: `config_key` of each configuration -> its row index.
        trial_ids: the trial each row's curve comes from.
        scores: ``(configs, epochs)`` metric per epoch, higher is better.
        epoch_s: ``(configs, epochs)`` measured seconds of each epoch.
        sign: +1 for ``mode: max``, -1 for ``mode: min``.
        metric: the metric's name.
    """

    configs: list[dict[str, Any]]
    keys: dict[str, int]
    trial_ids: list[str]
    scores: np.ndarray
    epoch_s: np.ndarray
    sign: float
    metric: str

    @property
    def max_t(self) -> int:
        return int(self.scores.shape[1])

    @property
    def final(self) -> np.ndarray:
        """Each configuration's score as its trial reports it: the best epoch's."""
        return self.scores.max(axis=1)

    @property
    def best(self) -> float:
        """The grid's best: the best final score over the space."""
        return float(self.final.max())

    def index(self, values: Mapping[str, Any]) -> int:
        """Row of the configuration `values` (the space's keys -> values)."""
        key = config_key(values)
        try:
            return self.keys[key]
        except KeyError:
            raise ConfigError(f"sampled configuration {key} has no curve in the results") from None

    @classmethod
    def load(cls, sweep: SweepConfig, results: str | Path) -> Curves:
        """Curves of `sweep`'s space from a results folder (its ``trials`` and ``epochs`` tables)."""
        from ablate.results import load

        res = load(results)
        return cls.from_frames(sweep, res.trials, res.epochs, source=str(results))

    @classmethod
    def from_frames(cls, sweep: SweepConfig, trials: pd.DataFrame, epochs: pd.DataFrame,
                    *, source: str = "the results") -> Curves:
        """Curves from ``trials`` and ``epochs`` frames; only finished trials with every epoch count.

        Raises:
            ConfigError: the space is continuous, the metric is not a column of ``epochs``, or a
                configuration the space can produce has no complete curve (one line each).
        """
        configs = enumerate_space(sweep)
        metric, max_t = sweep.search.metric, sweep.trial.epochs
        if metric not in epochs.columns:
            raise ConfigError(f"search.metric {metric!r} is not a column of the epochs table in {source}")
        axes = list(configs[0]) if configs else []
        rows = _complete_curves(trials, epochs, metric, max_t)
        by_key: dict[str, str] = {}
        for tid, row in rows.items():
            by_key.setdefault(config_key({a: _row_value(row, a, source) for a in axes}), tid)
        keys = [config_key(c) for c in configs]
        missing = [k for k in keys if k not in by_key]
        if missing:
            raise ConfigError(
                f"{len(missing)} of {len(keys)} configurations the space can produce have no finished "
                f"{max_t}-epoch curve in {source} (e.g. {missing[0]}); replay a space whose every "
                f"value was run to the full epochs, or lower epochs with --set epochs=N")
        trial_ids = [by_key[k] for k in keys]
        sign = 1.0 if sweep.search.mode == "max" else -1.0
        curves = [epochs_of(epochs, tid) for tid in trial_ids]
        return cls(
            configs=configs,
            keys={k: i for i, k in enumerate(keys)},
            trial_ids=trial_ids,
            scores=sign * np.array([c[metric].to_numpy(float)[:max_t] for c in curves]),
            epoch_s=np.array([c["epoch_s"].to_numpy(float)[:max_t] for c in curves]),
            sign=sign,
            metric=metric,
        )


def epochs_of(epochs: pd.DataFrame, trial_id: str) -> pd.DataFrame:
    """One trial's epoch rows, in epoch order."""
    return epochs[epochs["trial_id"] == trial_id].sort_values("epoch")


def _complete_curves(trials: pd.DataFrame, epochs: pd.DataFrame, metric: str, max_t: int) -> dict[str, pd.Series]:
    """Trials rows (by id, sorted) that finished ``ok`` with at least `max_t` finite epochs."""
    counts = epochs[np.isfinite(epochs[metric].astype(float))].groupby("trial_id")["epoch"].nunique()
    ok = trials[trials["status"] == "ok"] if "status" in trials.columns else trials
    return {r["trial_id"]: r for _, r in ok.sort_values("trial_id").iterrows()
            if counts.get(r["trial_id"], 0) >= max_t}


def _row_value(row: pd.Series, axis: str, source: str) -> Any:
    """A trials row's value of a space axis: ``space.<axis>`` (as `ablate run` writes it),
    else the flattened config ``cfg.<axis>``, else a plain column (``seed``)."""
    for col in (f"space.{axis}", f"cfg.{axis}", axis):
        if col in row.index and not _missing(row[col]):
            return row[col]
    raise ConfigError(f"the trials table in {source} has no column space.{axis} or cfg.{axis}: "
                      "replay needs the searched values of every trial")


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v))
