"""Batches straight from decoded uint8 tensors: no per-item Python, no worker processes."""

from __future__ import annotations

from collections.abc import Iterator

import torch

__all__ = ["TensorBatches"]


class TensorBatches:
    """Iterate ``(images_uint8, labels)`` batches of a split, sharded over workers.

    Args:
        images: uint8 (N, 3, H, W), in memory or a read-only memmap.
        labels: int64 (N,).
        batch_size: per-worker batch size.
        shuffle: reshuffle every epoch (seeded by ``seed + epoch``).
        rank, world_size: this worker's shard (every worker gets the same number of batches).
        drop_last: drop a last partial batch (training; avoids BatchNorm on one sample).
        pin: pin host memory so copies to a GPU overlap with compute.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        *,
        shuffle: bool = False,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = False,
        pin: bool = False,
    ) -> None:
        self.images, self.labels = images, labels
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.rank, self.world_size = rank, world_size
        self.drop_last, self.pin = drop_last, pin
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _indices(self) -> torch.Tensor:
        n = len(self.labels)
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            idx = torch.randperm(n, generator=g)
        else:
            idx = torch.arange(n)
        if self.world_size > 1:  # equal shards: pad by wrapping, like DistributedSampler
            per = -(-n // self.world_size)
            idx = torch.cat([idx, idx[: per * self.world_size - n]])
            idx = idx[self.rank :: self.world_size]
        return idx

    def __len__(self) -> int:
        n = len(self.labels)
        if self.world_size > 1:
            n = (n + self.world_size - 1) // self.world_size
        if self.drop_last and n >= self.batch_size:
            return n // self.batch_size
        return (n + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        idx = self._indices()
        contiguous = not self.shuffle and self.world_size == 1
        for b in range(len(self)):
            sel = idx[b * self.batch_size : (b + 1) * self.batch_size]
            if contiguous:
                lo = b * self.batch_size
                x = self.images[lo : lo + len(sel)]
                y = self.labels[lo : lo + len(sel)]
            else:
                sel, _ = sel.sort()  # sorted reads are kinder to a memmap
                x, y = self.images[sel], self.labels[sel]
            if self.pin:
                x, y = x.pin_memory(), y.pin_memory()
            yield x, y
