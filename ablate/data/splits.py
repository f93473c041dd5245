"""Deterministic, patient-grouped splits: a fixed-count test set, k-fold or a val fraction."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from ablate.config import DataConfig
from ablate.data.samples import Sample
from ablate.errors import DataError

__all__ = ["grouped_pick", "kfold_indices", "make_splits"]


def _groups(samples: list[Sample], idx: np.ndarray) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for i in idx:
        groups[samples[i].group].append(int(i))
    return groups


def grouped_pick(
    samples: list[Sample], labels: list[int], idx: np.ndarray, need: dict[int, int], seed: int, what: str, names: list[str]
) -> np.ndarray:
    """Pick whole patient groups from `idx` so that class c gets exactly need[c] images.

    Raises:
        DataError: a class has too few images, or whole groups cannot make the exact count.
    """
    have = Counter(labels[i] for i in idx)
    for c, n in need.items():
        if n >= have[c]:
            raise DataError(
                f"class {names[c]!r} has {have[c]} images, too few for {n} {what} images and some to train on; "
                f"lower data.test_per_class or use data.test_fraction"
            )
    rng = np.random.default_rng(seed)
    groups = list(_groups(samples, idx).values())
    order = rng.permutation(len(groups))
    left = dict(need)
    picked: list[int] = []
    # larger groups first, so the single images at the end can fill exact counts
    for g in sorted((groups[i] for i in order), key=len, reverse=True):
        cnt = Counter(labels[i] for i in g)
        if all(cnt[c] <= left.get(c, 0) for c in cnt):
            picked.extend(g)
            for c, n in cnt.items():
                left[c] -= n
        if not any(left.values()):
            break
    short = {names[c]: n for c, n in left.items() if n > 0}
    if short:
        raise DataError(f"cannot pick exactly {what} counts with whole patients (short: {short}); use a fraction instead")
    return np.sort(np.array(picked, dtype=np.int64))


def kfold_indices(
    samples: list[Sample], labels: list[int], idx: np.ndarray, k: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified, patient-grouped k folds of `idx`: (train, val) index pairs."""
    from sklearn.model_selection import StratifiedGroupKFold

    y = np.array([labels[i] for i in idx])
    g = np.array([samples[i].group for i in idx])
    if min(Counter(y.tolist()).values()) < k:
        raise DataError(f"a class has fewer than {k} train/val images: lower data.folds")
    skf = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return [(idx[tr], idx[va]) for tr, va in skf.split(np.zeros(len(idx)), y, g)]


def make_splits(
    samples: list[Sample], labels: list[int], cfg: DataConfig, names: list[str], fold: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, val, test) indices; official splits when every sample names its split."""
    if samples and all(s.split for s in samples):
        by = {name: np.array([i for i, s in enumerate(samples) if s.split == name], dtype=np.int64)
              for name in ("train", "val", "test")}
        if len(by["val"]) == 0:  # only train/test given: carve val out of train
            sub = [samples[i] for i in by["train"]]
            return _train_val(sub, labels, by["train"], cfg, names, fold) + (by["test"],)
        return by["train"], by["val"], by["test"]
    all_idx = np.arange(len(samples))
    have = Counter(labels)
    if cfg.test_per_class is not None:
        need = {c: cfg.test_per_class for c in have}
    else:
        need = {c: max(1, round(cfg.test_fraction * n)) for c, n in have.items()}
    test = grouped_pick(samples, labels, all_idx, need, cfg.split_seed, "test", names)
    rest = np.setdiff1d(all_idx, test)
    return _train_val(samples, labels, rest, cfg, names, fold) + (test,)


def _train_val(samples, labels, rest, cfg, names, fold):  # noqa: ANN001, ANN202
    if cfg.folds > 1:
        folds = kfold_indices(samples, labels, rest, cfg.folds, cfg.split_seed)
        return folds[fold or 0]
    have = Counter(labels[i] for i in rest)
    need = {c: max(1, round(cfg.val_fraction * n)) for c, n in have.items()}
    val = _approx_pick(samples, labels, rest, need, cfg.split_seed + 1)
    return np.setdiff1d(rest, val), val


def _approx_pick(samples, labels, idx, need, seed):  # noqa: ANN001, ANN202
    """Whole groups until each class reaches about need[c] images (validation split)."""
    rng = np.random.default_rng(seed)
    groups = list(_groups(samples, idx).values())
    left = dict(need)
    picked: list[int] = []
    for gi in rng.permutation(len(groups)):
        g = groups[gi]
        cnt = Counter(labels[i] for i in g)
        if any(left.get(c, 0) > 0 for c in cnt) and all(cnt[c] <= max(left.get(c, 0), 1) for c in cnt):
            picked.extend(g)
            for c, n in cnt.items():
                left[c] = left.get(c, 0) - n
    return np.sort(np.array(picked, dtype=np.int64))
