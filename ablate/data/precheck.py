"""Checks of a dataset that can be made before any training starts (no image is decoded)."""

from __future__ import annotations

from ablate.config import DataConfig
from ablate.data.datasets import load_samples
from ablate.data.splits import make_splits

__all__ = ["check_folds"]


def check_folds(cfg: DataConfig) -> None:
    """Every fold of ``data.folds`` can be made from the listed images (stratified, by patient).

    Raises:
        DataError: a class with fewer images or patients than folds (one line, the class sizes).
    """
    samples, _ = load_samples(cfg)
    for fold in range(cfg.folds):
        make_splits(samples, cfg, fold)
