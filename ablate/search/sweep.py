"""Loading a sweep with its resolve step: the data (`ablate.config`) checked against the models.

`ablate.config.read_sweep` parses and validates a sweep file as data; `resolve_sweep` checks
what needs the model registry, once: the base trial, every value of every search-space axis
(for ``ablate run``), every ablation variant and the confirm stage's ``top_k``.
"""

from __future__ import annotations

from pathlib import Path

from ablate.config import SweepConfig, read_sweep
from ablate.errors import ConfigError
from ablate.models.resolve import resolve
from ablate.search.ablation import expand_ablation
from ablate.search.objectives import check_objectives
from ablate.search.space import validate_space
from ablate.search.translate import grid_points

__all__ = ["check_metric", "load_sweep", "reported_metrics", "resolve_sweep"]


def resolve_sweep(sweep: SweepConfig, *, check_space: bool = True, source: str = "trial") -> SweepConfig:
    """Check `sweep` against the model registry; returns it unchanged.

    The base trial keeps its unset taps (a grid over backbones fills each one's own defaults):
    the configurations that run are resolved one by one (`ablate.search.translate.trial_config`,
    `expand_ablation`, `ablate.runners.local.run_local_trial`).

    Args:
        check_space: also check every search-space value against the base trial (``ablate
            run``); ``ablate trial`` runs the base alone and skips it, so ``--set
            backbone=resnet18`` works on a sweep whose space lists MobileNet taps.
        source: the start of an error in the base trial.

    Raises:
        ConfigError: the first problem, on one line.
    """
    resolve(sweep.trial, source=source)
    if check_space:
        validate_space(sweep)
    if sweep.ablation is not None:
        expand_ablation(sweep)  # every variant must resolve now, not when it runs
    if sweep.confirm is not None:
        _check_confirm(sweep)
    return sweep


def reported_metrics() -> list[str]:
    """The numbers every epoch of a trial reports (the epochs table's value columns): what
    ``search.metric`` may name (ASHA and Optuna read it from each epoch's report)."""
    from ablate.results.schema import TABLES

    return [f.name for f in TABLES["epochs"] if f.name not in ("trial_id", "epoch", "phase", "optimizer")]


def check_metric(sweep: SweepConfig) -> None:
    """``search.metric`` names a number every epoch reports (`ablate run` checks it before Ray
    starts; not at load, which stays free of pandas and pyarrow). A multi-objective search and
    ``search.constraints`` name trials-row columns instead (`ablate.search.objectives`).

    Raises:
        ConfigError: it does not (one line, with the choices).
    """
    check_objectives(sweep)
    allowed = reported_metrics()
    if not sweep.search.multi_objective and sweep.search.metric not in allowed:
        raise ConfigError(f"search.metric {sweep.search.metric!r} is not reported by a trial's epochs; "
                          f"choose one of {', '.join(allowed)} (with search.mode max or min)")


def _check_confirm(sweep: SweepConfig) -> None:
    """``confirm.top_k`` within the configurations the search tries; fresh seeds named once."""
    assert sweep.confirm is not None
    seeds = len(sweep.trial.seeds) if sweep.trial.seeds and "seed" not in sweep.search.space else 1
    configs = len(grid_points(sweep)) // seeds * sweep.search.num_samples
    if sweep.confirm.top_k > configs:
        raise ConfigError(f"confirm.top_k is {sweep.confirm.top_k} but the search tries {configs} configuration(s); "
                          f"lower confirm.top_k or raise search.num_samples")
    if len(set(sweep.confirm.seeds)) != len(sweep.confirm.seeds):
        raise ConfigError(f"confirm.seeds lists a seed twice ({sweep.confirm.seeds}); name each seed once")


def load_sweep(
    name_or_path: str | Path, overrides: list[str] | None = None, *, check_space: bool = True
) -> SweepConfig:
    """Read a sweep file (or a bare trial config), apply ``--set`` overrides, and resolve it.

    Overrides address the trial by default (``epochs=2``); ``search.``, ``scheduler.``,
    ``resources.`` and ``ablation.`` address the sweep (`ablate.config.read_sweep`).
    """
    sweep = read_sweep(name_or_path, overrides or [])
    return resolve_sweep(sweep, check_space=check_space, source=str(name_or_path))
