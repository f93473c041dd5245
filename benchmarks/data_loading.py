"""Cached decode vs decoding with PIL every epoch: one epoch of batches over the real CXR set.

Both sides give the same float batches (batch 64, random order) of the same images:

- cache: `prepare_data` once (a memory-mapped uint8 store, built on the first run and not
  timed), then per batch ``images[idx]`` and `normalize_batch`;
- PIL: a torch ``DataLoader`` (``num_workers=2``) whose dataset calls the same `load_image`
  for every item, every epoch, as a plain PyTorch pipeline does.

Prints images/s for both and the ratio cache / PIL (both to float on the CPU), and the
uint8-only rate of the cache (what a trial does on the host: the float conversion runs on
the GPU).

    python benchmarks/data_loading.py --size 224
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from ablate.config import DataConfig
from ablate.data import Sample, load_image, normalize_batch, prepare_data

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cxr5-real"


class PILDataset(Dataset):
    """Decodes one image per item with `load_image` (the per-epoch PIL path)."""

    def __init__(self, samples: list[Sample], labels: torch.Tensor, size: int) -> None:
        self.samples, self.labels, self.size = samples, labels, size

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.samples[i]
        return torch.from_numpy(load_image(s.path, self.size, s.box)).permute(2, 0, 1), self.labels[
            i
        ]


def cache_epoch(
    images: torch.Tensor, labels: torch.Tensor, batch: int, seed: int, to_float: bool = True
) -> float:
    """Images/s of one epoch of batches from the cached tensors (float, or uint8 as trials send)."""
    perm = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    t0 = time.perf_counter()
    for b in range(0, len(perm), batch):
        idx = perm[b : b + batch].sort().values
        x, y = images[idx], labels[idx]
        if to_float:
            x = normalize_batch(x)
        assert len(y) == len(x)
    return len(perm) / (time.perf_counter() - t0)


def pil_epoch(loader: DataLoader) -> float:
    """Images/s of one epoch of float batches decoded by the DataLoader's workers."""
    n, t0 = 0, time.perf_counter()
    for x, _ in loader:
        x = normalize_batch(x)
        n += len(x)
    return n / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--data",
        type=Path,
        default=REAL,
        help="dataset (folder with manifest.csv); default ../shared/data/cxr5-real",
    )
    p.add_argument("--size", type=int, default=224, help="input size")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers of the PIL side")
    p.add_argument("--epochs", type=int, default=2, help="epochs timed per side (best kept)")
    p.add_argument(
        "--cache-dir",
        default=None,
        help="default: a temp folder (the store is built once, untimed)",
    )
    args = p.parse_args()
    if args.cache_dir:
        run(args, args.cache_dir)
    else:
        with tempfile.TemporaryDirectory(prefix="ablate-bench-") as tmp:
            run(args, tmp)


def run(args: argparse.Namespace, cache_dir: str) -> None:
    """Build the store (untimed), then time one epoch per side and print the rates."""
    cfg = DataConfig(
        path=str(args.data),
        scenario="none",
        test_per_class=None,
        test_fraction=0.01,
        val_fraction=0.01,
        cache_dir=cache_dir,
    )
    t0 = time.perf_counter()
    d = prepare_data(cfg, args.size, progress=print)
    print(f"prepare_data (decode into the cache, first run): {time.perf_counter() - t0:.2f}s")
    t0 = time.perf_counter()
    d = prepare_data(cfg, args.size)
    print(f"prepare_data (cache hit): {time.perf_counter() - t0:.2f}s")
    images, labels, samples = d.train.images, d.train.labels, d.train.samples
    loader = DataLoader(
        PILDataset(samples, labels, args.size),
        batch_size=args.batch,
        shuffle=True,
        num_workers=args.workers,
        persistent_workers=args.workers > 0,
        generator=torch.Generator().manual_seed(0),
    )
    cached = max(cache_epoch(images, labels, args.batch, seed) for seed in range(args.epochs))
    raw = max(
        cache_epoch(images, labels, args.batch, s, to_float=False) for s in range(args.epochs)
    )
    pil = max(pil_epoch(loader) for _ in range(args.epochs))
    print(
        f"{len(labels)} images at {args.size} px, batch {args.batch}, "
        f"{torch.get_num_threads()} torch threads"
    )
    print(f"cache (memmap uint8 -> float): {cached:10.0f} images/s")
    print(f"cache, uint8 batches only:     {raw:10.0f} images/s (float happens on the GPU)")
    print(f"PIL DataLoader ({args.workers} workers): {pil:10.0f} images/s")
    print(f"ratio cache / PIL: {cached / pil:.1f}x")


if __name__ == "__main__":
    main()
