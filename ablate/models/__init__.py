"""Backbones (registry) and the modification (fusion)."""

from __future__ import annotations

from ablate.models.fusion import PCB, FusedModel
from ablate.models.registry import (
    BackboneSpec,
    build_backbone,
    build_model,
    get_spec,
    graph_node_names,
    list_backbones,
    model_size,
    register_backbone,
    validate_taps,
)

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
