"""The training engine: plain PyTorch, no Ray imports (the Ray adapter wraps it)."""

from __future__ import annotations

from ablate.engine.batches import TensorBatches
from ablate.engine.loop import StepContext, evaluate, train_one_epoch
from ablate.engine.runtime import Runtime, local_runtime, seed_everything, select_device

__all__ = [
    "Runtime",
    "StepContext",
    "TensorBatches",
    "evaluate",
    "local_runtime",
    "seed_everything",
    "select_device",
    "train_one_epoch",
]
