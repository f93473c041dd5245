"""Validation of a sweep's search space against the trial config it modifies.

A space key is a dotted config path (``fusion.pcb_channels``), or the label of a *combined
axis*: a ``grid``/``choice`` whose key is not a config field and whose values are mappings of
dotted paths set together, e.g. six original backbones plus one modified ResNet18::

    model:
      grid:
        - {backbone: vgg16, variant: original}
        - {backbone: resnet18, variant: modified, fusion.pcb_channels: 32}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ablate.errors import ConfigError

if TYPE_CHECKING:
    from ablate.config import SweepConfig

__all__ = ["example_value", "expand_values", "is_combined_axis", "validate_space"]


def example_value(dist: dict[str, Any]) -> Any:
    """One value a distribution can produce (its first or lowest)."""
    (kind, arg), = dist.items()
    if kind in ("choice", "grid"):
        return arg[0]
    if kind == "subset":
        return list(arg["of"][: int(arg.get("min", 1))])
    return arg[0]


def is_combined_axis(key: str, dist: dict[str, Any]) -> bool:
    """A choice/grid labelled by a non-config key whose every value is a mapping of overrides."""
    from ablate.config import TrialConfig

    (kind, arg), = dist.items()
    return (
        kind in ("choice", "grid")
        and key.split(".")[0] not in TrialConfig.model_fields
        and all(isinstance(v, dict) and v for v in arg)
    )


def expand_values(space: dict[str, dict[str, Any]], values: dict[str, Any]) -> dict[str, Any]:
    """Sampled values as dotted-path overrides: a combined axis contributes its mapping's keys."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in space and is_combined_axis(key, space[key]):
            out.update(value)
        else:
            out[key] = value
    return out


def validate_space(sweep: SweepConfig) -> None:
    """Every key must be a config path and every value it can take must validate.

    Checks each choice/grid value and the bounds of numeric ranges by building the trial
    config with that value, so an unknown key, a bad backbone or a tap that does not exist
    fails at load time with the trial config's own one-line message.
    """
    from ablate.config import apply_overrides, validate_trial

    base = sweep.trial.model_dump(mode="json")
    for key, dist in sweep.search.space.items():
        (kind, arg), = dist.items()
        if kind in ("choice", "grid"):
            values = arg
        elif kind == "subset":
            values = [list(arg["of"])]
        else:
            values = list(arg)
        combined = is_combined_axis(key, dist)
        for v in values:
            sets = [f"{k}={_yaml(x)}" for k, x in v.items()] if combined else [f"{key}={_yaml(v)}"]
            raw = apply_overrides({"trial": base}, sets)["trial"]
            try:
                validate_trial(raw, source=f"search.space.{key}={v!r}")
            except ConfigError as e:
                hint = (f" (fix the sweep file, or on the command line change the axis with --set "
                        f"'search.space.{key}=...' or drop it with --set search.space.{key}=null)")
                raise ConfigError(str(e) + hint) from None


def _yaml(v: Any) -> str:
    import json

    return json.dumps(v)
