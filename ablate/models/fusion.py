"""The paper's modification: pointwise-conv blocks (PCBs) on several taps, fused by a gate.

``FusedModel`` prunes the backbone to the layers the taps need (torchvision feature
extraction), puts one PCB on each tap, weights the PCB outputs with a gate and classifies the
fused vector with dropout + a linear layer. Pure model code: no I/O, no logging.
"""

from __future__ import annotations

import warnings
from typing import Literal

import torch
from torch import nn
from torchvision.models.feature_extraction import create_feature_extractor

__all__ = ["PCB", "FusedModel"]

GateKind = Literal["dynamic", "static", "uniform"]


class PCB(nn.Module):
    """Pointwise conv block: Conv1x1 -> BatchNorm -> ReLU -> global average pool."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.bn(self.conv(x)))  # (B, P, H, W)
        return x.mean(dim=(2, 3))  # (B, P)


class FusedModel(nn.Module):
    """Backbone taps -> PCB each -> gate-weighted sum -> dropout -> linear.

    Args:
        backbone: the torchvision model (its classifier is not used).
        taps: graph node names whose outputs are fused, in order.
        num_classes: outputs of the linear head.
        pcb_channels: channels P of every tap PCB.
        gate: ``dynamic`` (per-sample weights from a PCB on the input image, the paper's text),
            ``static`` (one learned weight per tap) or ``uniform`` (plain sum).
        dropout: dropout on the fused vector.
        probe_size: input size of the dry run that measures each tap's channels.
        xavier: Xavier-initialise the new conv and linear layers (the authors' scripts).
    """

    def __init__(
        self,
        backbone: nn.Module,
        taps: list[str],
        num_classes: int,
        pcb_channels: int = 64,
        gate: GateKind = "dynamic",
        dropout: float = 0.5,
        probe_size: int = 64,
        xavier: bool = True,
    ) -> None:
        super().__init__()
        self.taps = list(taps)
        self.gate_kind = gate
        nodes = {t: f"tap{i}" for i, t in enumerate(self.taps)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.features = create_feature_extractor(backbone, return_nodes=nodes)
        channels = self._probe_channels(probe_size)
        self.pcbs = nn.ModuleList(PCB(c, pcb_channels) for c in channels)
        n = len(self.taps)
        self.gate = PCB(3, n) if gate == "dynamic" else None
        self.tap_weights = nn.Parameter(torch.ones(n)) if gate == "static" else None
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(pcb_channels, num_classes)
        if xavier:
            for m in [*self.pcbs.modules(), *(self.gate.modules() if self.gate else []), self.head]:
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    nn.init.xavier_uniform_(m.weight)

    @torch.no_grad()
    def _probe_channels(self, size: int) -> list[int]:
        was_training = self.features.training
        self.features.eval()
        out = self.features(torch.zeros(1, 3, size, size))
        self.features.train(was_training)
        return [out[f"tap{i}"].shape[1] for i in range(len(self.taps))]

    def gate_weights(self, x: torch.Tensor) -> torch.Tensor:
        """Fusion weights (B, T) for a batch of input images (B, 3, H, W)."""
        b, n = x.shape[0], len(self.taps)
        if self.gate is not None:
            return self.gate(x)  # (B, T), non-negative (ReLU)
        if self.tap_weights is not None:
            return self.tap_weights.expand(b, n)  # (B, T), the same for every sample
        return x.new_ones(b, n)  # (B, T) uniform

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.features(x)  # {tap_i: (B, C_i, H_i, W_i)}
        pooled = torch.stack(
            [pcb(feats[f"tap{i}"]) for i, pcb in enumerate(self.pcbs)], dim=1
        )  # (B, T, P)
        w = self.gate_weights(x).to(pooled.dtype)  # (B, T)
        fused = (w.unsqueeze(-1) * pooled).sum(dim=1)  # (B, P)
        return self.head(self.dropout(fused))  # (B, K)
