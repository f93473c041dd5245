"""Validation of a sweep's search space against the trial config it modifies."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ablate.errors import ConfigError

if TYPE_CHECKING:
    from ablate.config import SweepConfig

__all__ = ["example_value", "validate_space"]


def example_value(dist: dict[str, Any]) -> Any:
    """One value a distribution can produce (its first or lowest)."""
    (kind, arg), = dist.items()
    if kind in ("choice", "grid"):
        return arg[0]
    if kind == "subset":
        return list(arg["of"][: int(arg.get("min", 1))])
    return arg[0]


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
        for v in values:
            raw = apply_overrides({"trial": base}, [f"{key}={_yaml(v)}"])["trial"]
            try:
                validate_trial(raw, source=f"search.space.{key}={v!r}")
            except ConfigError as e:
                raise ConfigError(str(e)) from None


def _yaml(v: Any) -> str:
    import json

    return json.dumps(v)
