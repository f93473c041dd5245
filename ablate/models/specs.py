"""What ablate knows about each backbone, as data: no torch, so resolving a config is cheap.

`ablate.models.registry` pairs each entry with its torchvision builder; `ablate.models.resolve`
checks a trial config against these entries (and, only for taps outside the candidates, the
backbone's traced graph).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from ablate.errors import ModelError

__all__ = ["BackboneInfo", "add_backbone", "backbone_info", "backbone_names"]


@dataclass(frozen=True)
class BackboneInfo:
    """Metadata of one backbone.

    Attributes:
        default_taps: the paper's taps for the modified variant (method.md).
        candidate_taps: stage ends a fusion-placement search chooses from (graph node names,
            checked against the traced graph by the registry's contract tests).
        min_input: the smallest input size the backbone accepts.
        classifier: the attribute holding the original head.
    """

    name: str
    default_taps: tuple[str, ...]
    candidate_taps: tuple[str, ...]
    min_input: int = 32
    classifier: str = "classifier"


_BACKBONES: dict[str, BackboneInfo] = {}


def add_backbone(info: BackboneInfo) -> None:
    """Add one backbone's metadata; duplicates raise."""
    if info.name in _BACKBONES:
        raise ValueError(f"backbone {info.name!r} is already registered")
    _BACKBONES[info.name] = info


def backbone_names() -> list[str]:
    return sorted(_BACKBONES)


def backbone_info(name: str) -> BackboneInfo:
    """The metadata of `name`; an unknown name raises `ModelError` with a suggestion."""
    if name not in _BACKBONES:
        hint = difflib.get_close_matches(name, list(_BACKBONES), n=1)
        did = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise ModelError(f"unknown backbone {name!r}{did}; choose one of: {', '.join(backbone_names())}")
    return _BACKBONES[name]


def _add(name: str, default: tuple[str, ...], candidates: tuple[str, ...] | None = None, **kw: object) -> None:
    add_backbone(BackboneInfo(name, default, candidates or default, **kw))  # type: ignore[arg-type]


_add(
    "mobilenet_v3_small",
    ("features.0", "features.1", "features.2", "features.3", "features.12"),
    tuple(f"features.{i}" for i in range(13)),
)
_add(
    "resnet18",
    ("maxpool", "layer1", "layer2", "layer3", "layer4"),
    ("relu", "maxpool", "layer1", "layer2", "layer3", "layer4"),
    classifier="fc",
)
_add("vgg16", ("features.4", "features.9", "features.16", "features.23", "features.30"))
_add(
    "densenet121",
    ("features.pool0", "features.transition1", "features.transition2", "features.transition3", "features.norm5"),
)
_add(
    "squeezenet1_0",
    ("features.2", "features.6", "features.11", "features.12"),
    ("features.2", "features.5", "features.6", "features.10", "features.11", "features.12"),
)
_add(
    "inception_v3",
    ("maxpool1", "maxpool2", "Mixed_5d", "Mixed_6e", "Mixed_7c"),
    ("maxpool1", "maxpool2", "Mixed_5b", "Mixed_5d", "Mixed_6a", "Mixed_6e", "Mixed_7c"),
    min_input=75,
    classifier="fc",
)
