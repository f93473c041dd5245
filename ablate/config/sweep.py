"""A sweep file: the base trial, its search, scheduler, resources and ablation."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    Field,
)

from ablate.config.messages import validate_as
from ablate.config.space import Distribution, _Dist
from ablate.config.trial import StrictModel, TrialConfig


class SearchConfig(StrictModel):
    """How the space is searched; `space` maps dotted config paths to distributions."""

    algorithm: Literal["optuna", "random", "grid"] = "optuna"
    seed: int = 0
    num_samples: int = Field(8, ge=1)  # samples per grid point
    metric: str = "val_acc"
    mode: Literal["max", "min"] = "max"
    max_concurrent: int | None = Field(None, ge=1)
    space: dict[str, Distribution] = Field(default_factory=dict)


class SchedulerConfig(StrictModel):
    """Early stopping of bad trials."""

    kind: Literal["asha", "none"] = "asha"
    grace_period: int = Field(2, ge=1)  # epochs before a trial may be stopped
    reduction_factor: float = Field(3.0, gt=1.0)


class ResourcesConfig(StrictModel):
    """Resources of one trial: a Ray Train job of `workers` DDP processes."""

    workers: int = Field(1, ge=1)
    gpus_per_worker: float | Literal["auto"] = "auto"  # auto: 1 when the cluster has GPUs
    cpus_per_worker: float = Field(1.0, gt=0)


class AblationConfig(StrictModel):
    """A base configuration and named variants of overrides, each run once per seed.

    The base is the sweep's `trial`, or the confirmed winner when the sweep searched and
    confirmed first (`SweepConfig.stages`).
    """

    variants: dict[str, dict[str, Any]] = Field(default_factory=dict)
    include_base: bool = True
    # the seeds of every variant: default confirm.seeds after a confirm stage, else trial.seeds (or trial.seed)
    seeds: list[int] | None = Field(None, min_length=1)


class ConfirmConfig(StrictModel):
    """After a search: its `top_k` configurations retrained with fresh `seeds` (never stopped early)."""

    top_k: int = Field(3, ge=1)
    seeds: list[int] = Field(min_length=1)


class SweepConfig(StrictModel):
    """One experiment file in `search_spaces/`."""

    name: str
    description: str = ""
    trial: TrialConfig = TrialConfig()
    search: SearchConfig = SearchConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    resources: ResourcesConfig = ResourcesConfig()
    confirm: ConfirmConfig | None = None
    ablation: AblationConfig | None = None

    def stages(self) -> list[str]:
        """The stages `ablate run` runs, in order: ``search`` (unless the file is an ablation
        with an empty search space and no confirm), ``confirm``, ``ablation``."""
        out = ["search"] if self.ablation is None or self.search.space or self.confirm else []
        return out + (["confirm"] if self.confirm else []) + (["ablation"] if self.ablation else [])


def as_distribution(value: Any, key: str = "value") -> Distribution:
    """`value` (``{loguniform: [1e-4, 1e-2]}`` or a distribution) as a typed distribution.

    Raises:
        ConfigError: not a distribution (one line, naming `key`).
    """
    if isinstance(value, _Dist):
        return value  # type: ignore[return-value]
    return validate_as(SearchConfig, {"space": {key: value}}, "search").space[key]
