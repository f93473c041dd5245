"""Small image trees, grouped sample lists and data configs for the data tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ablate.config import DataConfig
from ablate.data.samples import Sample

LABELS = ["covid", "tuberculosis", "normal", "bacterial_pneumonia", "viral_pneumonia"]


def write_tree(
    root: Path, n: int = 8, size: int = 24, labels: list[str] | None = None, mode: str = "L"
) -> Path:
    """A class-per-folder tree of small images with distinct random content."""
    rng = np.random.default_rng(0)
    for label in labels or LABELS:
        (root / label).mkdir(parents=True)
        for i in range(n):
            img = Image.fromarray(rng.integers(0, 256, (size, size + 4), dtype=np.uint8))
            img.convert(mode).save(root / label / f"{i}.png")
    return root


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """Five classes x 8 grey 24x28 PNGs under tmp_path/d."""
    return write_tree(tmp_path / "d")


@pytest.fixture
def data_cfg(tmp_path: Path) -> Callable[..., DataConfig]:
    """DataConfig factory with a private cache folder and small test counts."""

    def make(path: Path | str, **kw) -> DataConfig:
        kw = {"test_per_class": 2, "cache_dir": str(tmp_path / "cache"), **kw}
        return DataConfig(path=str(path), **kw)

    return make


def grouped_samples(n_per_class: int = 30, sizes: tuple[int, ...] = (3, 1, 2)) -> list[Sample]:
    """Cxr5 samples: classes 0, 2, 4 in patients of `sizes` images (cycled), 1 and 3 without ids."""
    out = []
    for c, label in enumerate(LABELS):
        patient, left = 0, sizes[0]
        for i in range(n_per_class):
            if left == 0:
                patient += 1
                left = sizes[patient % len(sizes)]
            left -= 1
            pid = f"{label}-p{patient}" if c % 2 == 0 else ""
            out.append(Sample(f"/data/{label}/{i}.png", label, pid))
    return out
