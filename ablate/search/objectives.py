"""A search's objectives and constraints: checked before Ray starts, told to Optuna at trial end.

A single-metric search reads its metric from every epoch (ASHA and Optuna's pruning need it
per epoch). A multi-objective search (``search.metric: [val_acc, params]``, ``search.mode:
[max, min]``) and the constraints (``search.constraints: {latency_ms: "<= 5"}``) name
trials-row columns instead: the final Tune report of a trial carries them
(`ablate.runners.ray.worker`), and the grid point's Optuna study is told every objective when
the trial ends. Optuna's samplers see a trial that breaks a bound as infeasible
(Optuna 5's ``Trial.set_constraint``: a value <= 0 is satisfied); the report marks it so.

Ray-free and torch-free: the Ray searcher (`ablate.runners.ray.searcher`) and the report use it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ablate.config import SweepConfig, parse_constraint
from ablate.errors import ConfigError

__all__ = ["check_objectives", "constraint_values", "non_dominated", "objective_values", "trial_columns"]

# trials-row columns that are not numbers a search could optimise
_NOT_OBJECTIVES = {"seed", "fold", "num_classes", "epochs_run", "best_epoch", "n_train", "n_val", "n_test",
                   "train_batch_size", "world_size", "latency_repeats"}


def trial_columns() -> list[str]:
    """The numeric trials-row columns an objective or a constraint may name."""
    import pyarrow as pa

    from ablate.results.schema import TABLES

    return [f.name for f in TABLES["trials"] if (pa.types.is_integer(f.type) or pa.types.is_floating(f.type))
            and f.name not in _NOT_OBJECTIVES]


def check_objectives(sweep: SweepConfig) -> None:
    """A multi-objective search or constraints name trials-row columns and run without ASHA or
    a confirm stage (both rank trials by one number).

    Raises:
        ConfigError: the first problem, on one line, naming the fix.
    """
    search = sweep.search
    allowed = trial_columns()
    named = [m for m, _ in search.directions] if search.multi_objective else []
    for column in named + list(search.constraints):
        if column not in allowed:
            where = "search.constraints" if column in search.constraints else "search.metric"
            raise ConfigError(f"{where} names {column!r}, not a numeric column of a trial's row; "
                              f"choose from {', '.join(allowed)}")
    if not search.multi_objective:
        return
    shown = ", ".join(m for m, _ in search.directions)
    if sweep.scheduler.kind == "asha" and sweep.trial.data.folds == 1:
        raise ConfigError(f"search.metric lists {len(named)} objectives ({shown}) but ASHA stops trials on one "
                          f"metric (and a stopped trial has no cost columns); set scheduler.kind: none")
    if sweep.confirm is not None:
        raise ConfigError(f"search.metric lists {len(named)} objectives ({shown}) but confirm ranks configurations "
                          "by one metric; remove confirm (the report lists the Pareto-optimal trials)")


def objective_values(directions: list[tuple[str, str]], result: Mapping[str, Any] | None) -> list[float] | None:
    """The objectives' values in `result`, in order; None when one is missing or not finite."""
    out = []
    for column, _ in directions:
        v = (result or {}).get(column)
        if v is None or not isinstance(v, int | float) or not math.isfinite(v):
            return None
        out.append(float(v))
    return out


def constraint_values(constraints: Mapping[str, str], result: Mapping[str, Any] | None) -> list[float]:
    """Optuna's constraint values of `result`: ``value - bound`` for ``<=``/``<``, ``bound - value``
    for ``>=``/``>`` (satisfied when <= 0; a strict bound met with equality counts as broken by
    a tiny margin); a missing or non-finite value breaks its bound (``inf``)."""
    out = []
    for column, text in constraints.items():
        op, bound = parse_constraint(text)
        v = (result or {}).get(column)
        if v is None or not isinstance(v, int | float) or not math.isfinite(v):
            out.append(math.inf)
            continue
        gap = float(v) - bound if op in ("<=", "<") else bound - float(v)
        out.append(gap + 1e-12 if op in ("<", ">") and gap == 0 else gap)
    return out


def non_dominated(values: Any, modes: list[str]) -> Any:
    """Which rows of ``values`` (points x objectives) no other row dominates: no worse in every
    objective and better in one. Rows with a NaN are never on the front nor dominate.

    Returns:
        A boolean numpy array, one entry per row.
    """
    import numpy as np

    v = np.asarray(values, dtype=float) * np.array([1.0 if m == "max" else -1.0 for m in modes])
    ok = ~np.isnan(v).any(axis=1)
    out = np.zeros(len(v), dtype=bool)
    for i in np.flatnonzero(ok):
        others = v[ok]
        dominates = (others >= v[i]).all(axis=1) & (others > v[i]).any(axis=1)
        out[i] = not dominates.any()
    return out
