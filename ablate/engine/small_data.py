"""Settings that follow the size of the training set, so a short run on a small set learns.

The paper's settings (batch 128, MobileNetV3's BatchNorm momentum 0.01) assume thousands of
training images: on 400 images they give 3 steps an epoch, and after a few epochs the
running BatchNorm statistics still hold their initial values, so evaluation sits at chance.
Two rules fix that without touching large runs:

- `train_batch_size`: the batch is capped so that an epoch has at least
  ``min_steps_per_epoch`` steps (never below `MIN_BATCH`); a set of 4,096 images or more
  keeps batch 128.
- `bn_momentum_for`: with ``bn_momentum: null`` every BatchNorm layer gets at least
  ``3 / steps_per_epoch`` (at most 0.1), so by each validation 95 % of the running statistics
  come from that epoch's weights; a backbone's own higher momentum (torchvision: 0.1) is kept.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MIN_BATCH", "apply_bn_momentum", "at_chance", "bn_momentum_for", "chance_level", "train_batch_size"]

MIN_BATCH = 16  # smaller batches make BatchNorm's batch statistics too noisy


def train_batch_size(batch_size: int, n_train: int, world_size: int = 1, min_steps: int = 32) -> int:
    """Per-worker training batch: `batch_size`, lowered so an epoch has >= `min_steps` steps.

    Args:
        batch_size: the configured (largest) batch per worker.
        n_train: training images (all workers together).
        world_size: data-parallel workers.
        min_steps: the fewest steps an epoch should have; 0 keeps `batch_size`.
    """
    if min_steps <= 0:
        return batch_size
    fitting = n_train // max(world_size * min_steps, 1)
    return max(min(batch_size, fitting), min(batch_size, MIN_BATCH))


def bn_momentum_for(steps_per_epoch: int) -> float:
    """The BatchNorm momentum after which 95 % of the running statistics are one epoch old."""
    return min(0.1, 3.0 / max(steps_per_epoch, 1))


def apply_bn_momentum(model: nn.Module, momentum: float) -> float | None:
    """Raise every BatchNorm layer's momentum to at least `momentum`.

    Returns:
        The smallest momentum in the model afterwards (None: no BatchNorm layer).
    """
    seen: list[float] = []
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.momentum is not None:
            m.momentum = max(m.momentum, momentum)
            seen.append(m.momentum)
    return min(seen) if seen else None


def chance_level(labels: torch.Tensor, num_classes: int) -> float:
    """Accuracy of always answering the most frequent class (at least 1/k)."""
    if len(labels) == 0:
        return 1.0 / max(num_classes, 1)
    counts = torch.bincount(labels.long().cpu(), minlength=num_classes)
    return max(float(counts.max()) / len(labels), 1.0 / max(num_classes, 1))


def at_chance(acc: float, chance: float, margin: float = 0.05) -> bool:
    """True when `acc` is within `margin` of the chance level (or below it)."""
    return acc <= chance + margin
