"""The model a trial trains, from its resolved config (`build_model`); torch."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from ablate.models.fusion import FusedModel
from ablate.models.registry import INCEPTION_AUX_MIN_INPUT, build_backbone, get_spec, load_state
from ablate.models.resolve import resolve

if TYPE_CHECKING:
    from ablate.config import TrialConfig

__all__ = ["build_model"]


def build_model(cfg: TrialConfig, num_classes: int) -> nn.Module:
    """The model a trial trains: the original backbone or its modified (fused) variant."""
    cfg = resolve(cfg)  # checked once per config; the graph is traced once per backbone
    spec = get_spec(cfg.backbone)
    aux = cfg.backbone == "inception_v3" and cfg.variant == "original" and cfg.aux_weight > 0
    aux = aux and cfg.input_size >= INCEPTION_AUX_MIN_INPUT
    backbone = build_backbone(cfg.backbone, num_classes, cfg.pretrained == "imagenet", aux)
    if cfg.variant == "modified":
        f = cfg.fusion
        model: nn.Module = FusedModel(
            backbone, list(cfg.fusion.taps or ()), num_classes, f.pcb_channels, f.gate, f.dropout,
            probe_size=max(cfg.input_size if cfg.input_size <= 128 else 64, spec.min_input),
            xavier=f.init == "xavier",
        )
    else:
        model = backbone
    if cfg.bn_momentum is not None:
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.momentum = cfg.bn_momentum
    if cfg.weights_path:
        _load_weights(model, cfg.weights_path)
    return model


def _load_weights(model: nn.Module, path: str) -> None:
    from ablate.models.weightfile import load_state_file

    load_state(model, load_state_file(path), f"weights_path {path}")
