"""Optimizer phases (the paper: Adam for 20 epochs, then SGD for 20)."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from ablate.config import PhaseConfig

__all__ = ["make_optimizer", "phase_lr"]


def make_optimizer(phase: PhaseConfig, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """The optimizer of one phase, at the phase's base learning rate."""
    lr, wd = phase.learning_rate, phase.weight_decay
    if phase.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if phase.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    return torch.optim.SGD(params, lr=lr, momentum=phase.momentum, weight_decay=wd)


def phase_lr(phase: PhaseConfig, epoch_in_phase: int, phase_epochs: int) -> float:
    """Learning rate for an epoch of a phase: constant, or cosine-decayed over the phase."""
    base = phase.learning_rate
    if not phase.cosine or phase_epochs <= 1:
        return base
    return 0.5 * base * (1 + math.cos(math.pi * epoch_in_phase / phase_epochs))
