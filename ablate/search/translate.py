"""A sweep file's search space -> grid points, an Optuna define-by-run function, trial configs.

Ray-free: `ablate.runners.ray` wires these pieces into Ray Tune; unit tests drive them with
plain Optuna studies.

**Grid x Optuna.** Ray's `OptunaSearch` refuses `grid_search` parameters, and one Optuna
study over a mixed space would let TPE pool results across grid points (a learning rate that
suits VGG16 is not evidence for SqueezeNet). So a sweep is the outer product of its *grid axes*,
and every grid point gets its own searcher and `search.num_samples` trials:

* grid axes: every ``grid:`` key, ``seed`` when the base trial lists ``seeds``, and, with
  ``algorithm: grid``, every ``choice:`` key too (enumerated rather than sampled);
* sampled axes: everything else, suggested by the grid point's own Optuna sampler through
  one define-by-run function (`SpaceSampler`): TPE for ``algorithm: optuna``, Optuna's
  random sampler for ``random`` and for the continuous axes left under ``grid``.

The runner issues trials round-robin over the grid points (point 0's first sample, point
1's first sample, ...), so a partial sweep covers every point evenly. Total trials =
``len(grid_points) * num_samples``; a sweep with grid axes only runs each point
``num_samples`` times (identical configs: vary ``seeds`` for repeats).

**Fusion placement.** ``subset: {of: [taps...], min: k}`` becomes one boolean per candidate
(Optuna parameter ``"<key>[<tap>]"``), so TPE learns which taps help. The minimum is
enforced without rejection: once the candidates left are exactly the ones still needed, they
are taken without being asked (a conditional parameter, which Optuna's define-by-run
handles). The value set in the config is the chosen taps in candidate order.

**Combined axes.** A ``grid``/``choice`` labelled by a non-config key whose values are
mappings (``model: {grid: [{backbone: vgg16, variant: original}, ...]}``) sets several keys
at once (`ablate.search.space.is_combined_axis`): "six originals plus one modified" is one
axis of seven values, not a 6 x 2 product.

**Validation.** Every sample becomes a `TrialConfig` through `ablate.config.set_paths` (the
values set on the base trial, no text round trip) and the resolve step
(`ablate.models.resolve.resolve`, which fills the backbone's default taps); an invalid
combination raises `ConfigError`, which the runner records as that trial's failure rather
than stopping the sweep.
"""

from __future__ import annotations

import itertools
import json
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ablate.config import (
    Distribution,
    SearchConfig,
    SweepConfig,
    TrialConfig,
    as_distribution,
    set_paths,
)
from ablate.models.resolve import resolve
from ablate.search.space import expand_values

if TYPE_CHECKING:
    import optuna

__all__ = [
    "SpaceSampler",
    "display_value",
    "grid_axes",
    "grid_points",
    "make_sampler",
    "sampled_axes",
    "space_columns",
    "subset_indicators",
    "trial_config",
]

_SCALARS = (str, int, float, bool, type(None))


def grid_axes(sweep: SweepConfig) -> dict[str, list[Any]]:
    """Axes enumerated as an outer product, in file order (``seed`` first when ``seeds`` is set)."""
    search = sweep.search
    axes: dict[str, list[Any]] = {}
    if sweep.trial.seeds and "seed" not in search.space:
        axes["seed"] = list(sweep.trial.seeds)
    for key, dist in search.space.items():
        if dist.is_grid(search.algorithm):
            axes[key] = list(dist.options)
    return axes


def sampled_axes(search: SearchConfig) -> dict[str, Distribution]:
    """Axes a searcher samples: all that are not grid axes."""
    return {key: dist for key, dist in search.space.items() if not dist.is_grid(search.algorithm)}


def grid_points(sweep: SweepConfig) -> list[dict[str, Any]]:
    """Every combination of the grid axes (``[{}]`` when there are none)."""
    axes = grid_axes(sweep)
    return [dict(zip(axes, combo, strict=True)) for combo in itertools.product(*axes.values())]


class SpaceSampler:
    """Optuna define-by-run function over the sampled axes; it only suggests, never computes.

    A module-level class (not a closure) so the Tune searcher holding it can be pickled into
    the experiment checkpoint and restored on ``--resume``.

    Args:
        axes: dotted config path -> distribution (`sampled_axes`; a YAML-style mapping works too).
    """

    def __init__(self, axes: Mapping[str, Any]) -> None:
        self.axes: dict[str, Distribution] = {key: as_distribution(d, key) for key, d in axes.items()}

    def __call__(self, trial: optuna.Trial) -> dict[str, Any]:
        return {key: _suggest(trial, key, dist) for key, dist in self.axes.items()}


def _suggest(trial: optuna.Trial, key: str, dist: Distribution) -> Any:
    kind = dist.kind
    if kind == "choice":
        options = list(dist.options)
        if all(isinstance(v, _SCALARS) for v in options):
            return trial.suggest_categorical(key, options)
        index = trial.suggest_categorical(f"{key}[index]", list(range(len(options))))
        return options[index]  # lists/mappings as choices: Optuna sees their index
    if kind == "uniform":
        return trial.suggest_float(key, float(dist.low), float(dist.high))
    if kind == "loguniform":
        return trial.suggest_float(key, float(dist.low), float(dist.high), log=True)
    if kind == "int":
        return trial.suggest_int(key, int(dist.low), int(dist.high))
    if kind == "subset":
        return _suggest_subset(trial, key, list(dist.spec.of), dist.spec.min)
    raise ValueError(f"search.space.{key}: {kind!r} is not sampled")  # grid: never reaches here


def _suggest_subset(trial: optuna.Trial, key: str, candidates: list[Any], minimum: int) -> list[Any]:
    """One boolean per candidate; the last ones are forced in when needed to reach `minimum`."""
    chosen: list[Any] = []
    for i, cand in enumerate(candidates):
        left = len(candidates) - i
        if minimum - len(chosen) >= left or trial.suggest_categorical(f"{key}[{cand}]", [True, False]):
            chosen.append(cand)
    return chosen


def make_sampler(algorithm: str, seed: int, num_samples: int) -> optuna.samplers.BaseSampler:
    """The Optuna sampler of one grid point: TPE for ``optuna``, NSGA-II for ``nsga2``, random
    otherwise. Both TPE and NSGA-II handle one objective or several.

    TPE runs multivariate with groups (the subset booleans are conditional), and starts
    modelling after a third of the point's samples (at least 2, at most Optuna's default 10).
    NSGA-II breeds generations of a quarter of the point's samples (at least 4, at most
    Optuna's default 50). Both read a trial's constraint values (``search.constraints``, set on
    the trial before it is told); the random sampler ignores them (the report still marks
    infeasible trials).
    """
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if algorithm == "nsga2":
            return optuna.samplers.NSGAIISampler(seed=seed, population_size=min(50, max(4, num_samples // 4)))
        if algorithm != "optuna":
            return optuna.samplers.RandomSampler(seed=seed)
        return optuna.samplers.TPESampler(
            seed=seed,
            n_startup_trials=min(10, max(2, num_samples // 3)),
            multivariate=True,
            group=True,
        )


def trial_config(sweep: SweepConfig, values: Mapping[str, Any]) -> TrialConfig:
    """The sweep's base trial with `values` set at their dotted paths, validated and resolved.

    Raises:
        ConfigError: the combination is not a valid trial (one line, naming the values).
    """
    shown = ", ".join(f"{k}={v!r}" for k, v in values.items()) or "the base trial"
    source = f"sampled {shown}"
    overrides = {"seeds": None, **expand_values(sweep.search.space, values)}  # seeds: a grid axis
    return resolve(set_paths(sweep.trial, overrides, source=source), source=source)


def space_columns(values: Mapping[str, Any]) -> dict[str, Any]:
    """``space.<key>`` columns for the trials row; lists and mappings as JSON strings."""
    return {
        f"space.{key}": value if isinstance(value, _SCALARS) else json.dumps(value)
        for key, value in values.items()
    }


def display_value(v: Any) -> str:
    """A searched value for a table cell: floats to 4 significant digits, a JSON list of taps
    compacted (``features.{0,3,12}``), other lists comma-joined."""
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, str) and v.startswith("["):
        try:
            items = json.loads(v)
        except ValueError:
            return v
        if isinstance(items, list) and items and all(isinstance(i, str) and "." in i for i in items):
            heads = {i.rsplit(".", 1)[0] for i in items}
            if len(heads) == 1:
                return f"{heads.pop()}.{{{','.join(i.rsplit('.', 1)[1] for i in items)}}}"
        if isinstance(items, list):
            return ",".join(map(str, items))
    return str(v)


def subset_indicators(column: Any) -> dict[str, list[bool]] | None:
    """A ``space.*`` column of JSON lists (a ``subset`` axis, e.g. the chosen taps) as one
    boolean column per element, ``<column>[<element>]``, the form Optuna searched it in; None
    when the column is not one of lists."""
    rows: list[list[Any]] = []
    for v in column:
        if not isinstance(v, str) or not v.startswith("["):
            return None
        try:
            items = json.loads(v)
        except ValueError:
            return None
        if not isinstance(items, list):
            return None
        rows.append(items)
    elements = list(dict.fromkeys(e for r in rows for e in r))
    return {f"{column.name}[{e}]": [e in r for r in rows] for e in elements} if rows else None
