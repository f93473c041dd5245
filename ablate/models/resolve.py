"""The resolve step: a trial config checked against the backbones, its default taps made explicit.

A `TrialConfig` is data and validates without torch. Whatever needs the model registry runs
here, once per configuration: the backbone exists, the input is large enough, the taps exist
in the backbone's graph, the weights file exists. The backbone metadata is torch-free data
(`ablate.models.specs`); the traced graph (`get_graph_node_names`, cached per backbone) is
needed only for taps outside a backbone's listed candidates.

A resolved config names its taps, so `config_hash` and `trial_id` are those of the config as
run; resolving twice gives the same config.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ablate.config import TrialConfig
from ablate.errors import ConfigError, ModelError
from ablate.models.specs import backbone_info

__all__ = ["check_taps", "resolve"]


def resolve(cfg: TrialConfig, *, source: str = "config") -> TrialConfig:
    """`cfg` checked against the backbone registry, with the backbone's default taps filled in.

    Args:
        cfg: a validated trial config.
        source: what the config came from, the start of an error message.

    Returns:
        `cfg` itself when nothing needed filling in, else a copy with ``fusion.taps`` set
        (the original variant keeps ``taps`` as given: it uses none).

    Raises:
        ConfigError: an unknown backbone, a tap not in its graph, an input too small for it,
            or a missing weights file (one line, starting with `source`).
    """
    try:
        info = backbone_info(cfg.backbone)
    except ModelError as e:
        raise ConfigError(f"{source}: {e}") from None
    if cfg.input_size < info.min_input:
        raise ConfigError(f"{source}: input_size {cfg.input_size} is too small for {cfg.backbone} "
                          f"(min {info.min_input})")
    if cfg.weights_path is not None and not Path(cfg.weights_path).is_file():
        raise ConfigError(f"{source}: weights_path {cfg.weights_path} does not exist; give a state-dict "
                          "file saved with torch.save")
    if cfg.variant != "modified":
        return cfg
    if cfg.fusion.taps is not None:
        try:
            check_taps(cfg.backbone, cfg.fusion.taps)
        except ConfigError as e:
            raise ConfigError(f"{source}: {e}") from None
        return cfg
    fusion = cfg.fusion.model_copy(update={"taps": list(info.default_taps)})
    return cfg.model_copy(update={"fusion": fusion})


def check_taps(backbone: str, taps: Sequence[str]) -> None:
    """Each tap must be a graph node of `backbone` or a module whose last node is one.

    Listed candidate and default taps are known to exist; only other names trace the graph
    (`ablate.models.registry.validate_taps`, which imports torch).
    """
    info = backbone_info(backbone)
    if not taps:
        raise ConfigError(f"fusion.taps is empty; use at least one of {', '.join(info.candidate_taps)}")
    if len(set(taps)) != len(taps):
        raise ConfigError(f"fusion.taps has duplicates: {list(taps)}")
    if set(taps) <= {*info.candidate_taps, *info.default_taps}:
        return
    from ablate.models.registry import validate_taps

    validate_taps(backbone, taps)
