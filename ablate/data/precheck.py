"""Checks of a dataset made before any training starts (``ablate run`` makes them before Ray
starts): the data path lists images, the first image of each class decodes, the folds can be
made. Cheap: at most one image per class is decoded."""

from __future__ import annotations

from ablate.config import DataConfig
from ablate.data.images import check_image
from ablate.data.listing import load_samples
from ablate.data.scenarios import apply_scenario
from ablate.data.splits import make_splits
from ablate.errors import DataError

__all__ = ["check_data", "check_folds"]


def check_data(cfg: DataConfig) -> None:
    """The listed images exist as far as the first of each class, and decode.

    Raises:
        DataError: a missing data path, an unknown label, a class whose first image is missing
            or does not decode (unless ``data.skip_bad``), too many folds.
    """
    samples, _ = load_samples(cfg)
    names, labels = apply_scenario(samples, cfg.scenario)
    if not cfg.skip_bad:
        first: dict[int, int] = {}
        for i, y in enumerate(labels):
            first.setdefault(y, i)
        for y, i in sorted(first.items()):
            why = check_image(samples[i].path)
            if why is not None:
                raise DataError(f"{samples[i].path} (class {names[y]}) cannot be read: {why}; fix or remove it, "
                                "or pass --skip-bad to drop unreadable images")
    if cfg.folds > 1:
        check_folds(cfg, samples)


def check_folds(cfg: DataConfig, samples: list | None = None) -> None:
    """Every fold of ``data.folds`` can be made from the listed images (stratified, by patient).

    Raises:
        DataError: a class with fewer images or patients than folds (one line, the class sizes).
    """
    samples = load_samples(cfg)[0] if samples is None else samples
    for fold in range(cfg.folds):
        make_splits(samples, cfg, fold)
