"""A sweep file: the base trial, its search, scheduler, resources and ablation."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, WithJsonSchema, model_validator

from ablate.config.messages import validate_as
from ablate.config.space import Distribution, _Dist
from ablate.config.tracking import Tracker
from ablate.config.trial import StrictModel, TrialConfig


class Objective(StrictModel):
    """One objective of a multi-objective search: a trials-row column and its direction."""

    metric: str  # a numeric trials-row column
    mode: Literal["max", "min"]  # maximise or minimise it


_CONSTRAINT = re.compile(r"^\s*(<=|>=|<|>)\s*([-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)\s*$")


def parse_constraint(text: str) -> tuple[str, float]:
    """``"<= 5"`` -> ``("<=", 5.0)``.

    Raises:
        ValueError: not an operator (``<=``, ``<``, ``>=``, ``>``) and a number.
    """
    m = _CONSTRAINT.match(str(text))
    if m is None:
        raise ValueError(f"{text!r} is not a bound such as '<= 5' (operators <=, <, >=, >)")
    return m.group(1), float(m.group(2))


def _one_or_list(item: dict[str, Any]) -> WithJsonSchema:
    """The schema of a key a sweep file may give as one value or a list (`SearchConfig._metric_lists`)."""
    return WithJsonSchema({"anyOf": [item, {"type": "array", "items": item, "minItems": 1}]})


class SearchConfig(StrictModel):
    """How the space is searched; `space` maps dotted config paths to distributions.

    A multi-objective search names several trials-row columns, ``metric: [val_acc, params]``
    with ``mode: [max, min]``: they become `objectives`, and `metric` / `mode` hold the first
    (what the live view and the end summary show). Optuna is told every objective when a
    trial ends (TPE, or NSGA-II with ``algorithm: nsga2``).
    """

    algorithm: Literal["optuna", "nsga2", "random", "grid"] = "optuna"  # optuna: TPE
    seed: int = 0  # seed of the samplers (a replay repeat r uses seed + r)
    num_samples: int = Field(8, ge=1)  # samples per grid point
    # a trials-row column; a list of columns (with a list of modes) makes a multi-objective search
    metric: Annotated[str, _one_or_list({"type": "string"})] = "val_acc"
    mode: Annotated[Literal["max", "min"], _one_or_list({"enum": ["max", "min"]})] = "max"  # one per metric
    objectives: list[Objective] = Field(default_factory=list)  # set by a list-valued metric / mode
    # trials-row column -> bound ("<= 5"): Optuna's samplers treat a trial outside as infeasible
    constraints: dict[str, str] = Field(default_factory=dict)
    max_concurrent: int | None = Field(None, ge=1)  # trials at once; None: as many as the resources allow
    # dotted config path (or a key that sets several, e.g. model) -> a distribution
    space: dict[str, Distribution] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _metric_lists(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("metric"), list | tuple):
            if isinstance(data, dict) and isinstance(data.get("mode"), list | tuple):
                raise ValueError("mode is a list but metric is not: set both as lists of one entry per objective "
                                 "(metric: [val_acc, params] with mode: [max, min])")
            return data
        metrics, modes = list(data["metric"]), data.get("mode", "max")
        if not isinstance(modes, list | tuple) or len(modes) != len(metrics):
            raise ValueError(f"metric lists {len(metrics)} column(s) ({', '.join(map(str, metrics))}): "
                             f"give mode as a list of as many (max or min), got {modes!r}")
        if not metrics:
            raise ValueError("metric is an empty list: name at least one column")
        if len(set(metrics)) != len(metrics):
            raise ValueError(f"metric names a column twice ({', '.join(map(str, metrics))})")
        objectives = [{"metric": m, "mode": d} for m, d in zip(metrics, modes, strict=True)]
        return {**data, "metric": metrics[0], "mode": modes[0], "objectives": objectives if len(metrics) > 1 else []}

    @model_validator(mode="after")
    def _first_objective(self) -> SearchConfig:
        if self.objectives and (self.objectives[0].metric, self.objectives[0].mode) != (self.metric, self.mode):
            raise ValueError(f"metric / mode ({self.metric}, {self.mode}) must be the first of "
                             f"objectives; set them together: metric: [...] with mode: [...]")
        for column, bound in self.constraints.items():
            try:
                parse_constraint(bound)
            except ValueError as e:
                raise ValueError(f"constraints.{column}: {e}") from None
        return self

    @property
    def directions(self) -> list[tuple[str, str]]:
        """Every objective as (column, max | min): one pair for a single-metric search."""
        return [(o.metric, o.mode) for o in self.objectives] or [(self.metric, self.mode)]

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1


class SchedulerConfig(StrictModel):
    """Early stopping of bad trials."""

    kind: Literal["asha", "none"] = "asha"  # asha: Ray's ASHA, epochs as time; none: every trial runs to the end
    grace_period: int = Field(2, ge=1)  # epochs before a trial may be stopped
    reduction_factor: float = Field(3.0, gt=1.0)  # ASHA keeps 1 / reduction_factor of the trials at each rung


class ResourcesConfig(StrictModel):
    """Resources of one trial: `workers` DDP processes (2 or more: a Ray Train run).

    ``placement`` is Ray's placement strategy for a trial's workers: ``PACK`` (as few nodes as
    fit, the default) or ``SPREAD`` (across nodes, best effort: one worker per node where it can).
    """

    workers: int = Field(1, ge=1)  # 1: the Tune trial trains itself; 2 or more: a Ray Train TorchTrainer run (DDP)
    gpus_per_worker: float | Literal["auto"] = "auto"  # auto: 1 when the cluster has GPUs
    cpus_per_worker: float = Field(1.0, gt=0)  # CPUs each worker holds
    placement: Literal["PACK", "SPREAD"] = "PACK"  # Ray's placement strategy for a trial's workers


class AblationConfig(StrictModel):
    """A base configuration and named variants of overrides, each run once per seed.

    The base is the sweep's `trial`, or the confirmed winner when the sweep searched and
    confirmed first (`SweepConfig.stages`).
    """

    # name -> dotted-path overrides of the base, e.g. gate-uniform: {fusion.gate: uniform}
    variants: dict[str, dict[str, Any]] = Field(default_factory=dict)
    include_base: bool = True  # run the base itself too (as variant `base`)
    # the seeds of every variant: default confirm.seeds after a confirm stage, else trial.seeds (or trial.seed)
    seeds: list[int] | None = Field(None, min_length=1)


class ConfirmConfig(StrictModel):
    """After a search: its `top_k` configurations retrained with fresh `seeds` (never stopped early)."""

    top_k: int = Field(3, ge=1)  # how many of the search's best configurations (by mean search.metric)
    seeds: list[int] = Field(min_length=1)  # fresh seeds each is retrained with


class ProbeConfig(StrictModel):
    """A shortcut check run as the study's first stage, ``probe`` (`SweepConfig.stages`).

    ``kind: source`` is ``ablate probe source`` (`ablate.probe.source`) with the same options:
    its rows go to the ``probes`` table and the report's "Shortcut checks" section shows them.
    """

    kind: Literal["source"] = "source"  # the source probe (the only kind)
    data: str | None = None  # the data probed (DATA); default: the trial's data.path
    config: str | None = None  # the probe's model (--config, e.g. source-probe); default: this sweep's trial
    within: str | None = None  # probe only this class's sources (--within)
    overrides: list[str] = Field(default_factory=list)  # --set overrides of the probe's config


class SweepConfig(StrictModel):
    """One experiment file in `search_spaces/`."""

    name: str  # the sweep's name (default: the file's name); results go to results/<name>
    description: str = ""  # what the experiment is; `ablate list` shows its first line
    trial: TrialConfig = TrialConfig()
    search: SearchConfig = SearchConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    resources: ResourcesConfig = ResourcesConfig()
    confirm: ConfirmConfig | None = None
    ablation: AblationConfig | None = None
    probe: ProbeConfig | None = None
    # where each trial is also tracked: [{kind: mlflow, uri: ...}, {kind: wandb, project: ...}] (docs/tracking.md)
    tracking: list[Tracker] = Field(default_factory=list)

    def stages(self) -> list[str]:
        """The stages `ablate run` runs, in order: ``probe`` (with a ``probe:`` section: first,
        as it is cheap and says early whether the images carry their source), ``search`` (unless
        the file is an ablation with an empty search space and no confirm), ``confirm``, ``ablation``."""
        out = ["probe"] if self.probe else []
        out += ["search"] if self.ablation is None or self.search.space or self.confirm else []
        return out + (["confirm"] if self.confirm else []) + (["ablation"] if self.ablation else [])


def as_distribution(value: Any, key: str = "value") -> Distribution:
    """`value` (``{loguniform: [1e-4, 1e-2]}`` or a distribution) as a typed distribution.

    Raises:
        ConfigError: not a distribution (one line, naming `key`).
    """
    if isinstance(value, _Dist):
        return value  # type: ignore[return-value]
    return validate_as(SearchConfig, {"space": {key: value}}, "search").space[key]
