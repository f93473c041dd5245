"""Backbones (registry), the modification (fusion) and the resolve step.

The names below load lazily: `ablate.models.specs` and `ablate.models.resolve` are torch-free,
and importing them must not import torch through this package. The resolve step is
``from ablate.models.resolve import resolve``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ablate.models.build import build_model
    from ablate.models.fusion import PCB, FusedModel
    from ablate.models.registry import (
        BackboneSpec,
        build_backbone,
        get_spec,
        graph_node_names,
        list_backbones,
        model_size,
        register_backbone,
        validate_taps,
    )

_HOMES = {
    "PCB": "fusion",
    "FusedModel": "fusion",
    "BackboneSpec": "registry",
    "build_backbone": "registry",
    "build_model": "build",
    "get_spec": "registry",
    "graph_node_names": "registry",
    "list_backbones": "registry",
    "model_size": "registry",
    "register_backbone": "registry",
    "validate_taps": "registry",
}

__all__ = [
    "PCB",
    "BackboneSpec",
    "FusedModel",
    "build_backbone",
    "build_model",
    "get_spec",
    "graph_node_names",
    "list_backbones",
    "model_size",
    "register_backbone",
    "validate_taps",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'ablate.models' has no attribute {name!r}")
    return getattr(importlib.import_module(f"ablate.models.{_HOMES[name]}"), name)
