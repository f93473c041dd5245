"""Typed configuration: one trial (`TrialConfig`) and one sweep file (`SweepConfig`).

A leaf package: it imports nothing from ablate but `ablate.errors`, and no torch. Validating a
config checks its data only (types, ranges, unknown keys with a suggestion, the search-space
language); whatever needs a model (backbones, taps in the graph, input size) is the explicit
resolve step, `ablate.models.resolve.resolve`, and loading a sweep with that step is
`ablate.search.sweep.load_sweep`.

Overrides use dotted paths (``fusion.pcb_channels=32``, ``phases.0.lr=1e-3``,
``seeds=[0,1]``): `parse_set` reads the command-line text as YAML once, and `set_path` /
`set_paths` put values into a validated config and return the new, validated config.
"""

from __future__ import annotations

from ablate.config.identity import config_hash, config_id, flatten
from ablate.config.overrides import (
    apply_overrides,
    apply_sets,
    find_sweep_file,
    parse_set,
    read_sweep,
    read_yaml,
    search_space_dirs,
    set_path,
    set_paths,
    validate_sweep,
    validate_trial,
)
from ablate.config.space import (
    DIST_KINDS,
    Choice,
    Distribution,
    Grid,
    IntRange,
    LogUniform,
    Subset,
    SubsetOf,
    Uniform,
)
from ablate.config.sweep import (
    AblationConfig,
    ConfirmConfig,
    Objective,
    ResourcesConfig,
    SchedulerConfig,
    SearchConfig,
    SweepConfig,
    as_distribution,
    parse_constraint,
)
from ablate.config.tracking import MlflowTracking, Tracker, WandbTracking, parse_track
from ablate.config.trial import (
    AnalysisConfig,
    DataConfig,
    FusionConfig,
    PhaseConfig,
    SyntheticConfig,
    TrialConfig,
)

__all__ = [
    "DIST_KINDS",
    "AblationConfig",
    "AnalysisConfig",
    "Choice",
    "ConfirmConfig",
    "DataConfig",
    "Distribution",
    "FusionConfig",
    "MlflowTracking",
    "Grid",
    "IntRange",
    "LogUniform",
    "Objective",
    "PhaseConfig",
    "ResourcesConfig",
    "SchedulerConfig",
    "SearchConfig",
    "Subset",
    "SubsetOf",
    "SweepConfig",
    "SyntheticConfig",
    "Tracker",
    "TrialConfig",
    "Uniform",
    "WandbTracking",
    "apply_overrides",
    "apply_sets",
    "as_distribution",
    "config_hash",
    "config_id",
    "find_sweep_file",
    "flatten",
    "parse_constraint",
    "parse_set",
    "parse_track",
    "read_sweep",
    "read_yaml",
    "search_space_dirs",
    "set_path",
    "set_paths",
    "validate_sweep",
    "validate_trial",
]
