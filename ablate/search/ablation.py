"""Ablations: a base configuration and named variants, each a set of dotted-path overrides."""

from __future__ import annotations

from ablate.config import SweepConfig, TrialConfig, set_paths
from ablate.errors import ConfigError
from ablate.models.resolve import resolve

__all__ = ["BASE", "expand_ablation"]

BASE = "base"


def expand_ablation(sweep: SweepConfig, only: list[str] | None = None,
                    base: TrialConfig | None = None) -> list[tuple[str, TrialConfig]]:
    """(variant name, resolved config) for the base (if included) and every variant.

    Args:
        only: the variant names to keep (all when None).
        base: the configuration the variants change; the sweep's ``trial`` when None (a study
            passes its confirmed winner).

    Raises:
        ConfigError: the sweep has no ablation, a variant name is unknown, or its overrides are invalid.
    """
    if sweep.ablation is None:
        raise ConfigError(f"sweep {sweep.name!r} declares no `ablation:` section")
    base = sweep.trial if base is None else base
    out: list[tuple[str, TrialConfig]] = []
    if sweep.ablation.include_base:
        out.append((BASE, resolve(base, source="trial")))
    for name, overrides in sweep.ablation.variants.items():
        source = f"ablation.variants.{name}"
        out.append((name, resolve(set_paths(base, overrides, source=source), source=source)))
    if only:
        known = [n for n, _ in out]
        unknown = [n for n in only if n not in known]
        if unknown:
            raise ConfigError(f"unknown ablation variant {unknown[0]!r}; variants: {', '.join(known)}")
        out = [(n, c) for n, c in out if n in only]
    return out
