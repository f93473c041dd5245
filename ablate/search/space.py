"""A sweep's search space checked against the trial config it modifies (part of the resolve step).

A space key is a dotted config path (``fusion.pcb_channels``), or the label of a *combined
axis*: a ``grid``/``choice`` whose key is not a config field and whose values are mappings of
dotted paths set together, e.g. six original backbones plus one modified ResNet18::

    model:
      grid:
        - {backbone: vgg16, variant: original}
        - {backbone: resnet18, variant: modified, fusion.pcb_channels: 32}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ablate.config import Distribution, SweepConfig, TrialConfig, set_paths
from ablate.errors import ConfigError

__all__ = ["example_value", "expand_values", "is_combined_axis", "validate_space"]


def example_value(dist: Distribution) -> Any:
    """One value a distribution can produce (its first or lowest)."""
    return dist.example()


def is_combined_axis(key: str, dist: Distribution) -> bool:
    """A choice/grid labelled by a non-config key whose every value is a mapping of overrides."""
    return (
        dist.kind in ("choice", "grid")
        and key.split(".")[0] not in TrialConfig.model_fields
        and all(isinstance(v, dict) and v for v in dist.options)
    )


def expand_values(space: Mapping[str, Distribution], values: Mapping[str, Any]) -> dict[str, Any]:
    """Sampled values as dotted-path overrides: a combined axis contributes its mapping's keys."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in space and is_combined_axis(key, space[key]):
            out.update(value)
        else:
            out[key] = value
    return out


def validate_space(sweep: SweepConfig) -> None:
    """Every key must be a config path and every value it can take must resolve.

    Checks each choice/grid value and the bounds of numeric ranges by setting it on the base
    trial and resolving the result (`ablate.models.resolve.resolve`), so an unknown key, a bad
    backbone or a tap that does not exist fails at load time with the config's own message.
    """
    from ablate.models.resolve import resolve

    for key, dist in sweep.search.space.items():
        for v in dist.check_values():
            source = f"search.space.{key}={v!r}"
            values = expand_values({key: dist}, {key: v})
            try:
                resolve(set_paths(sweep.trial, values, source=source), source=source)
            except ConfigError as e:
                hint = (f" (fix the sweep file, or on the command line change the axis with --set "
                        f"'search.space.{key}=...' or drop it with --set search.space.{key}=null)")
                raise ConfigError(str(e) + hint) from None
