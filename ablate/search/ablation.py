"""Ablations: a base configuration and named variants, each a set of dotted-path overrides."""

from __future__ import annotations

import json

from ablate.config import SweepConfig, TrialConfig, apply_overrides, validate_trial
from ablate.errors import ConfigError

__all__ = ["BASE", "expand_ablation"]

BASE = "base"


def expand_ablation(sweep: SweepConfig, only: list[str] | None = None) -> list[tuple[str, TrialConfig]]:
    """(variant name, config) for the base (if included) and every variant, validated.

    Raises:
        ConfigError: the sweep has no ablation, a variant name is unknown, or its overrides are invalid.
    """
    if sweep.ablation is None:
        raise ConfigError(f"sweep {sweep.name!r} declares no `ablation:` section")
    base = sweep.trial.model_dump(mode="json")
    out: list[tuple[str, TrialConfig]] = [(BASE, sweep.trial)] if sweep.ablation.include_base else []
    for name, overrides in sweep.ablation.variants.items():
        sets = [f"{k}={json.dumps(v)}" for k, v in overrides.items()]
        raw = apply_overrides({"trial": base}, sets)["trial"]
        out.append((name, validate_trial(raw, source=f"ablation.variants.{name}")))
    if only:
        known = [n for n, _ in out]
        unknown = [n for n in only if n not in known]
        if unknown:
            raise ConfigError(f"unknown ablation variant {unknown[0]!r}; variants: {', '.join(known)}")
        out = [(n, c) for n, c in out if n in only]
    return out
