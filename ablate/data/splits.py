"""Deterministic, patient-grouped splits: a fixed-count test set, then k-fold or a val fraction.

Images of one patient (`Sample.group`: the patient id, or the image itself when unknown)
never sit on two sides of a split. Everything is a function of the samples and
``data.split_seed``, not of the order of the manifest rows.

1. Test: exactly ``data.test_per_class`` images per class, picked as whole patients in a
   seeded random order (a patient that would overflow a class is skipped for smaller ones,
   then single swaps fix a remaining shortfall); or ``data.test_fraction`` of each class.
2. Validation, from the rest: ``data.folds > 1`` gives stratified group k-fold
   (`fold` picks the validation fold, default 0); otherwise ``data.val_fraction`` of each
   class, as whole patients.

Official splits (every sample has ``split`` set, e.g. COVIDx) are used as they are; a
missing val part is carved from train, and ``data.folds > 1`` folds train + val together.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

from ablate.config import DataConfig
from ablate.data.samples import Sample
from ablate.errors import ConfigError, DataError

__all__ = ["grouped_pick", "holdable_sources", "kfold_indices", "make_splits", "official_split"]

Indices = np.ndarray  # sorted int64 indices into the sample list

_SPLIT_NAMES = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "dev": "val",
    "test": "test",
    "testing": "test",
}


def _groups(samples: Sequence[Sample], idx: np.ndarray) -> list[list[int]]:
    """Groups of `idx` sorted by group key, so the result does not depend on the row order."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i in idx:
        groups[samples[i].group].append(int(i))
    return [groups[k] for k in sorted(groups)]


def _sorted(ix: list[int] | np.ndarray) -> Indices:
    return np.sort(np.asarray(ix, dtype=np.int64))


def grouped_pick(
    samples: Sequence[Sample],
    labels: Sequence[int],
    idx: np.ndarray,
    need: dict[int, int],
    seed: int,
    what: str,
    names: Sequence[str],
    *,
    exact: bool = True,
) -> Indices:
    """Whole patient groups from `idx` so that class c gets need[c] images.

    Args:
        need: images wanted per class index.
        what: the split's name, for messages ("test").
        exact: fail unless every count is met exactly; else take what fits.

    Raises:
        DataError: a class has too few images, or (exact) whole groups cannot make the count.
    """
    have = Counter(labels[i] for i in idx)
    for c, n in sorted(need.items()):
        if n >= have[c] and n > 0:
            raise DataError(
                f"class {names[c]!r} has {have[c]} images, too few for {n} {what} images "
                f"and some left to train on; use a smaller data.test_per_class "
                f"(below {have[c]}) or a data.test_fraction"
            )
    groups = _groups(samples, idx)
    order = np.random.default_rng(seed).permutation(len(groups))
    left = {c: n for c, n in need.items() if n > 0}
    picked = np.zeros(len(groups), dtype=bool)
    counts = [Counter(labels[i] for i in g) for g in groups]
    for gi in order:  # greedy: a group that would overflow a class is skipped for smaller ones
        if all(left.get(c, 0) >= n for c, n in counts[gi].items()):
            picked[gi] = True
            for c, n in counts[gi].items():
                left[c] -= n
    _repair(counts, picked, left, order)
    short = {names[c]: n for c, n in left.items() if n > 0}
    if short and exact:
        raise DataError(
            f"cannot pick exactly the {what} images per class from whole patients "
            f"(short: {short}): patients have too many images each; "
            "use data.test_fraction or another data.test_per_class"
        )
    return _sorted([i for gi in np.flatnonzero(picked) for i in groups[gi]])


def _repair(
    counts: list[Counter[int]], picked: np.ndarray, left: dict[int, int], order: np.ndarray
) -> None:
    """Swap one picked single-class group for a larger unpicked one to close a shortfall."""
    for c in [c for c, n in left.items() if n > 0]:
        single = [gi for gi in order if set(counts[gi]) == {c}]
        size_in = {counts[gi][c]: gi for gi in reversed(single) if picked[gi]}
        for gi in single:
            d = left[c]
            if d <= 0:
                break
            s = counts[gi][c]
            if picked[gi] or s <= d or (s - d) not in size_in:
                continue
            out = size_in.pop(s - d)
            picked[out], picked[gi] = False, True
            left[c] -= d
            size_in[s] = gi


def kfold_indices(
    samples: Sequence[Sample], labels: Sequence[int], idx: np.ndarray, k: int, seed: int
) -> list[tuple[Indices, Indices]]:
    """Stratified, patient-grouped k folds of `idx`: (train, val) index pairs, val folds disjoint.

    Raises:
        DataError: a class has fewer than `k` images or there are fewer than `k` patients.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    idx = _sorted(idx)
    y = np.array([labels[i] for i in idx])
    g = np.array([samples[i].group for i in idx])
    small = {c: n for c, n in Counter(y.tolist()).items() if n < k}
    if small or len(set(g.tolist())) < k:
        raise DataError(
            f"{k}-fold cross-validation needs at least {k} images and patients per class "
            "in the train/val part "
            f"(class sizes there: {dict(sorted(Counter(y.tolist()).items()))}); lower data.folds"
        )
    skf = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return [(_sorted(idx[tr]), _sorted(idx[va])) for tr, va in skf.split(np.zeros(len(idx)), y, g)]


def official_split(samples: Sequence[Sample]) -> list[str] | None:
    """Every sample's split as train/val/test when all samples have one, else None.

    Raises:
        DataError: a split other than train/val/test (or training/validation/valid/dev/testing).
    """
    if not samples or not all(s.split for s in samples):
        return None
    out = []
    for s in samples:
        name = _SPLIT_NAMES.get(s.split.strip().lower())
        if name is None:
            raise DataError(
                f"split {s.split!r} of {s.path} is not train, val or test; fix the split column"
            )
        out.append(name)
    return out


def make_splits(
    samples: Sequence[Sample],
    cfg: DataConfig,
    fold: int | None = None,
    *,
    labels: Sequence[int] | None = None,
    class_names: Sequence[str] | None = None,
) -> tuple[Indices, Indices, Indices]:
    """(train, val, test) indices into `samples` (sorted int64, disjoint, covering all samples).

    With ``cfg.hold_out_source`` the test set is every image of that source and train/val
    come from the other sources, without the held-out source's patients (those images are in
    no split): whether a model learned the disease or the source shows in its test accuracy.

    Args:
        cfg: the split rules (test_per_class / test_fraction, folds, val_fraction, split_seed).
        fold: the validation fold when ``cfg.folds > 1`` (None = 0).
        labels, class_names: class index per sample and class names (from ``cfg.scenario``
            when None).
    """
    if labels is None or class_names is None:
        from ablate.data.scenarios import apply_scenario

        class_names, labels = apply_scenario(list(samples), cfg.scenario)
    fold = _check_fold(cfg, fold)
    official = official_split(samples)
    every = np.arange(len(samples), dtype=np.int64)
    if cfg.hold_out_source is not None:
        test, pool = _source_part(samples, cfg.hold_out_source)
        _check_classes_left(samples, labels, class_names, pool, cfg.hold_out_source)
        official, given_val = None, None
    elif official is None:
        test = _test_part(samples, labels, every, cfg, class_names)
        pool, given_val = np.setdiff1d(every, test), None
    else:
        part = np.array(official)
        test, given_val = every[part == "test"], every[part == "val"]
        if len(test) == 0:
            test = _test_part(samples, labels, every, cfg, class_names)
        pool = np.setdiff1d(every, test)
    if cfg.folds > 1:
        train, val = kfold_indices(samples, labels, pool, cfg.folds, cfg.split_seed)[fold]
    elif given_val is not None and len(given_val):
        val = given_val
        train = np.setdiff1d(pool, val)
    else:
        val = _val_part(samples, labels, pool, cfg, class_names)
        train = np.setdiff1d(pool, val)
    return _sorted(train), _sorted(val), _sorted(test)


def _source_part(samples: Sequence[Sample], source: str) -> tuple[Indices, Indices]:
    """(test = the source's images, pool = other sources' images of other patients)."""
    src = np.array([s.source for s in samples])
    test = np.nonzero(src == source)[0].astype(np.int64)
    if len(test) == 0:
        known = ", ".join(sorted(set(src.tolist()) - {""})) or "none (the dataset names no sources)"
        raise DataError(f"data.hold_out_source {source!r} matches no image; sources: {known}")
    held = {samples[i].patient_id for i in test if samples[i].patient_id}
    pool = np.array([i for i in np.nonzero(src != source)[0] if samples[i].patient_id not in held], dtype=np.int64)
    return test, pool


def holdable_sources(samples: Sequence[Sample], labels: Sequence[int]) -> list[str]:
    """Sources that leave-one-source-out can hold out: no class has all its images in them."""
    by_class: dict[int, set[str]] = {}
    for s, c in zip(samples, labels, strict=True):
        by_class.setdefault(c, set()).add(s.source)
    alone = {next(iter(srcs)) for srcs in by_class.values() if len(srcs) == 1}
    return sorted({s.source for s in samples if s.source} - alone)


def _check_classes_left(
    samples: Sequence[Sample], labels: Sequence[int], names: Sequence[str], pool: Indices, source: str
) -> None:
    """Fail when holding out `source` leaves a class without training images."""
    left = {labels[i] for i in pool}
    gone = [names[c] for c in sorted(set(labels) - left)]
    if gone:
        ok = ", ".join(holdable_sources(samples, labels)) or "none (every class has a single source)"
        raise DataError(
            f"data.hold_out_source {source!r} holds every image of class(es) {', '.join(gone)}: "
            f"training would never see them; sources that can be held out: {ok}"
        )


def _check_fold(cfg: DataConfig, fold: int | None) -> int:
    fold = 0 if fold is None else fold
    if not 0 <= fold < cfg.folds:
        raise ConfigError(
            f"fold {fold} does not exist: data.folds is {cfg.folds} (folds 0..{cfg.folds - 1})"
        )
    return fold


def _test_part(
    samples: Sequence[Sample],
    labels: Sequence[int],
    idx: np.ndarray,
    cfg: DataConfig,
    names: Sequence[str],
) -> Indices:
    have = Counter(labels[i] for i in idx)
    if cfg.test_per_class is not None:
        need = {c: cfg.test_per_class for c in range(len(names))}
        return grouped_pick(samples, labels, idx, need, cfg.split_seed, "test", names)
    need = {c: max(1, round(cfg.test_fraction * have[c])) for c in range(len(names))}
    return grouped_pick(samples, labels, idx, need, cfg.split_seed, "test", names, exact=False)


def _val_part(
    samples: Sequence[Sample],
    labels: Sequence[int],
    pool: np.ndarray,
    cfg: DataConfig,
    names: Sequence[str],
) -> Indices:
    have = Counter(labels[i] for i in pool)
    few = [names[c] for c in range(len(names)) if have[c] < 2]
    if few:
        raise DataError(
            f"class(es) {', '.join(few)} have fewer than 2 images left for train and val "
            "after the test split; "
            "lower data.test_per_class or data.test_fraction"
        )
    need = {
        c: min(have[c] - 1, max(1, round(cfg.val_fraction * have[c]))) for c in range(len(names))
    }
    return grouped_pick(samples, labels, pool, need, cfg.split_seed + 1, "val", names, exact=False)
