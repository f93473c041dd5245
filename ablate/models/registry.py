"""The backbone registry: the paper's six torchvision models, their metadata as data.

Each backbone is a thin builder over ``torchvision.models.get_model`` registered with
``@register_backbone``. Metadata (default taps for the modification, candidate taps for
fusion-placement search, minimum input size) is data, kept torch-free in `ablate.models.specs`
and carried on each `BackboneSpec`. Checking a config against it is `ablate.models.resolve`.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torchvision
from torch import nn

from ablate.errors import ConfigError, ModelError
from ablate.models.specs import BackboneInfo, add_backbone, backbone_info

__all__ = [
    "BackboneSpec",
    "build_backbone",
    "get_spec",
    "graph_node_names",
    "list_backbones",
    "model_size",
    "register_backbone",
    "validate_taps",
]


@dataclass(frozen=True)
class BackboneSpec:
    """What ablate knows about one backbone."""

    name: str
    builder: Callable[..., nn.Module]
    default_taps: tuple[str, ...]  # the paper's 5 taps (method.md), for the modified variant
    candidate_taps: tuple[str, ...]  # stage ends a fusion-placement search chooses from
    min_input: int = 32
    classifier: str = "classifier"  # attribute holding the original head


_REGISTRY: dict[str, BackboneSpec] = {}


def register_backbone(
    name: str,
    *,
    default_taps: tuple[str, ...] | None = None,
    candidate_taps: tuple[str, ...] | None = None,
    min_input: int = 32,
    classifier: str = "classifier",
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register a builder ``fn(num_classes, pretrained, aux) -> nn.Module``; duplicates raise.

    The metadata comes from `ablate.models.specs`; a backbone not listed there passes its
    `default_taps` (and the other metadata) here, and is added to it.
    """

    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"backbone {name!r} is already registered")
        if default_taps is not None:
            add_backbone(BackboneInfo(name, default_taps, candidate_taps or default_taps, min_input, classifier))
        info = backbone_info(name)
        _REGISTRY[name] = BackboneSpec(
            name, fn, info.default_taps, info.candidate_taps, info.min_input, info.classifier
        )
        return fn

    return deco


def list_backbones() -> list[str]:
    return sorted(_REGISTRY)


def get_spec(name: str) -> BackboneSpec:
    if name not in _REGISTRY:
        backbone_info(name)  # raises ModelError with a suggestion
        raise ModelError(f"backbone {name!r} has no builder; registered: {', '.join(list_backbones())}")
    return _REGISTRY[name]


# What torchvision's builders set when given ImageNet weights, beyond ``num_classes`` (a given
# ``transform_input`` wins there too): the model the file was trained as.
_IMAGENET_KW: dict[str, dict[str, Any]] = {"inception_v3": {"transform_input": True}}
_IMAGENET_FORCED: dict[str, dict[str, Any]] = {"inception_v3": {"aux_logits": True, "init_weights": False}}


def _tv(name: str, num_classes: int, pretrained: bool, **kw: Any) -> nn.Module:
    """torchvision model with `num_classes` outputs; ImageNet weights (read from the weights
    folder, `ablate.weights.pretrained_state`: never downloaded) get a fresh head."""
    if not pretrained:
        return torchvision.models.get_model(name, weights=None, num_classes=num_classes, **kw)
    from ablate.models.weightfile import pretrained_state

    categories = torchvision.models.get_model_weights(name).DEFAULT.meta["categories"]
    kw = {**_IMAGENET_KW.get(name, {}), **kw, **_IMAGENET_FORCED.get(name, {})}
    model = torchvision.models.get_model(name, weights=None, num_classes=len(categories), **kw)
    load_state(model, pretrained_state(name), f"the ImageNet weights file of {name} (`ablate weights list` checks it)")
    _replace_head(name, model, num_classes)
    return model


def _replace_head(name: str, model: nn.Module, k: int) -> None:
    if name == "squeezenet1_0":
        model.classifier[1] = nn.Conv2d(512, k, kernel_size=1)
        model.num_classes = k
    elif hasattr(model, "fc"):
        model.fc = nn.Linear(model.fc.in_features, k)
        if getattr(model, "AuxLogits", None) is not None:
            model.AuxLogits.fc = nn.Linear(model.AuxLogits.fc.in_features, k)
    elif isinstance(model.classifier, nn.Linear):  # DenseNet
        model.classifier = nn.Linear(model.classifier.in_features, k)
    else:
        last = model.classifier[-1]
        model.classifier[-1] = nn.Linear(last.in_features, k)


@register_backbone("mobilenet_v3_small")
def _mobilenet_v3_small(num_classes: int, pretrained: bool, aux: bool) -> nn.Module:
    return _tv("mobilenet_v3_small", num_classes, pretrained)


@register_backbone("resnet18")
def _resnet18(num_classes: int, pretrained: bool, aux: bool) -> nn.Module:
    return _tv("resnet18", num_classes, pretrained)


@register_backbone("vgg16")
def _vgg16(num_classes: int, pretrained: bool, aux: bool) -> nn.Module:
    return _tv("vgg16", num_classes, pretrained)


@register_backbone("densenet121")
def _densenet121(num_classes: int, pretrained: bool, aux: bool) -> nn.Module:
    return _tv("densenet121", num_classes, pretrained)


@register_backbone("squeezenet1_0")
def _squeezenet1_0(num_classes: int, pretrained: bool, aux: bool) -> nn.Module:
    return _tv("squeezenet1_0", num_classes, pretrained)


@register_backbone("inception_v3")
def _inception_v3(num_classes: int, pretrained: bool, aux: bool) -> nn.Module:
    kw: dict[str, Any] = {"aux_logits": aux, "init_weights": True}
    if pretrained:  # the ImageNet weights come with the aux head; drop it afterwards if unwanted
        model = _tv("inception_v3", num_classes, True)
        if not aux:
            model.aux_logits, model.AuxLogits = False, None
        return model
    return _tv("inception_v3", num_classes, False, **kw)


# Inception's auxiliary head pools Mixed_6e (5x5, stride 3) then convolves 5x5: it needs
# Mixed_6e of at least 17x17, i.e. an input of about 299 px (smaller inputs train without it).
INCEPTION_AUX_MIN_INPUT = 299


def build_backbone(name: str, num_classes: int, pretrained: bool = False, aux: bool = False) -> nn.Module:
    """The original torchvision model with `num_classes` outputs."""
    return get_spec(name).builder(num_classes, pretrained, aux)


@functools.cache
def graph_node_names(name: str) -> tuple[str, ...]:
    """All traceable node names of a backbone (eval-mode graph), cached per backbone."""
    from torchvision.models.feature_extraction import get_graph_node_names

    model = build_backbone(name, num_classes=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, eval_nodes = get_graph_node_names(model)
    return tuple(eval_nodes)


def validate_taps(backbone: str, taps: list[str] | tuple[str, ...]) -> None:
    """Each tap must be a graph node or a module whose last node is one (``layer3``)."""
    spec = get_spec(backbone)
    nodes = graph_node_names(backbone)
    node_set = set(nodes)
    if not taps:
        raise ConfigError(f"fusion.taps is empty; use at least one of {', '.join(spec.candidate_taps)}")
    if len(set(taps)) != len(taps):
        raise ConfigError(f"fusion.taps has duplicates: {list(taps)}")
    for tap in taps:
        if tap in ("x", "") or (tap not in node_set and not any(n.startswith(tap + ".") for n in nodes)):
            raise ConfigError(
                f"unknown tap {tap!r} for {backbone}; candidates: {', '.join(spec.candidate_taps)} "
                f"(any node of torchvision get_graph_node_names works)"
            )


def load_state(model: nn.Module, state: dict[str, Any], what: str) -> None:
    """Load `state` strictly; a state that does not fit raises one line naming keys and shapes."""
    from ablate.models.weightfile import fit_problems

    problems = fit_problems(model.state_dict(), state)
    if problems:
        raise ModelError(f"{what} does not fit the model: {problems}")
    model.load_state_dict(state)


def model_size(model: nn.Module) -> tuple[int, float]:
    """(parameter count, fp32 size in MB = 4 bytes per parameter / 1e6) - the paper's unit."""
    n = sum(p.numel() for p in model.parameters())
    return n, n * 4 / 1e6
