"""Where a trial runs: device, rank and world size, and how the model is wrapped (DDP)."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

__all__ = ["Runtime", "all_reduce_sum", "local_runtime", "seed_everything", "select_device"]


def _identity(model: nn.Module) -> nn.Module:
    return model


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum a tensor in place over the workers of the default process group (identity without one).

    Every worker of a data-parallel trial must call it at the same point (it is a collective).
    """
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


@dataclass
class Runtime:
    """The process's place in a (possibly distributed) trial.

    Args:
        device: where the model and batches live.
        rank: this worker's global rank (0 in local mode).
        world_size: number of data-parallel workers.
        wrap_model: moves the model to the device and wraps it for DDP (Ray's prepare_model).
    """

    device: torch.device
    rank: int = 0
    world_size: int = 1
    wrap_model: Callable[[nn.Module], nn.Module] = field(default=_identity)

    @property
    def is_main(self) -> bool:
        """Side effects (logs, files, checkpoints) happen on rank 0 only."""
        return self.rank == 0

    def all_reduce_sum(self, t: torch.Tensor) -> torch.Tensor:
        """Sum a tensor over workers (identity when not distributed)."""
        return all_reduce_sum(t) if self.world_size > 1 else t


def select_device(kind: str = "auto") -> torch.device:
    """`auto` -> cuda when available, else cpu."""
    if kind == "cuda" or (kind == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            from ablate.errors import ConfigError

            raise ConfigError("device: cuda was asked for but no GPU is visible; use device: auto or cpu")
        return torch.device("cuda")
    return torch.device("cpu")


def local_runtime(kind: str = "auto") -> Runtime:
    device = select_device(kind)
    return Runtime(device=device, wrap_model=lambda m: m.to(device))


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed python, numpy and torch (and CUDA); optional deterministic cuDNN."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    if deterministic:
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
