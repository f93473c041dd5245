"""From a data config to decoded, split tensors: `prepare_data`.

``data.path`` is ``synthetic`` (generated once into the cache folder), a class-per-folder
tree (labels = folder names), a folder holding ``manifest.csv``, or a ``.csv`` manifest;
``data.format`` forces one reading (``covidx``/``covidx-ct`` use `ablate.data.covidx`).
Every problem is found before a tensor is built: a missing path or file, an unknown label,
an empty class, an unreadable image (dropped and listed with ``data.skip_bad``).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ablate.config import DataConfig
from ablate.data.cache import DecodedImages, decode_all
from ablate.data.images import IMAGE_EXTS
from ablate.data.listing import load_samples, scan_folder
from ablate.data.mask import apply_mask
from ablate.data.samples import Sample
from ablate.data.scenarios import apply_scenario
from ablate.data.splits import make_splits, official_split
from ablate.errors import ConfigError, DataError

__all__ = [
    "IMAGE_EXTS",
    "CacheReport",
    "PreparedData",
    "Split",
    "cache_dataset",
    "dataset_hash",
    "load_samples",
    "normalize_batch",
    "prepare_data",
    "scan_folder",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_SKIP_HINT = "pass --skip-bad / data.skip_bad: true to drop them"
Progress = Callable[[str], None]


@dataclass
class Split:
    """One split: uint8 images (N, 3, S, S), int64 labels (N,) and the samples they came from.

    `images` is a dense tensor; where a split is a contiguous run of the cache (official
    splits) it is a read-only memory map of it, else an in-memory copy: never write to it.
    """

    images: torch.Tensor
    labels: torch.Tensor
    samples: list[Sample]

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class PreparedData:
    """A dataset ready to train on: class names (index order) and the three splits."""

    class_names: list[str]
    train: Split
    val: Split
    test: Split
    # paths of the unreadable or missing images dropped with skip_bad
    skipped: list[str] = field(default_factory=list)
    dataset_hash: str = ""  # relative paths, labels, patients, splits, boxes and byte sizes
    source_desc: str = ""  # "synthetic(n=60,size=96,seed=0)" or the path read


_NORM_CONSTS: dict[tuple[torch.device, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}


def _imagenet_consts(device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift) with x * scale - shift == (x / 255 - mean) / std, cached per device."""
    key = (device, dtype)
    if key not in _NORM_CONSTS:
        mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float64)
        std = torch.tensor(IMAGENET_STD, dtype=torch.float64)
        scale, shift = (1.0 / (255.0 * std)).view(3, 1, 1), (mean / std).view(3, 1, 1)
        _NORM_CONSTS[key] = (scale.to(device, dtype), shift.to(device, dtype))
    return _NORM_CONSTS[key]


def normalize_batch(x: torch.Tensor, kind: str = "none") -> torch.Tensor:
    """A uint8 (or float) batch (..., 3, H, W) -> float model input, on x's device.

    Args:
        x: images with 0-255 values; not modified.
        kind: ``none`` = raw 0-255 floats (the paper); ``imagenet`` = (x / 255 - mean) / std.
    """
    if kind not in ("none", "imagenet"):
        raise ConfigError(f"data.normalize must be none or imagenet, got {kind!r}")
    y = x if x.is_floating_point() else x.float()
    if kind == "none":
        return y
    scale, shift = _imagenet_consts(y.device, y.dtype)
    if y is x:  # never modify the caller's tensor
        return torch.addcmul(-shift, y, scale)
    return y.mul_(scale).sub_(shift)


# --------------------------------------------------------------------------- reading


# --------------------------------------------------------------------------- checks


def _fail_unless_skip(samples: list[Sample], bad: dict[int, str], skip: bool, what: str) -> None:
    """Fail with one line naming the first `bad` samples, unless they are to be skipped."""
    if bad and not skip:
        first = sorted(bad)[:3]
        more = f" (and {len(bad) - len(first)} more)" if len(bad) > len(first) else ""
        raise DataError(
            f"{len(bad)} {what}: {'; '.join(bad[i] for i in first)}{more}; "
            f"fix or remove them, or {_SKIP_HINT}"
        )


def _missing(samples: list[Sample], desc: str) -> dict[int, str]:
    return {
        i: f"{s.path} (listed in {desc}) not found"
        for i, s in enumerate(samples)
        if not os.path.isfile(s.path)
    }


def dataset_hash(samples: list[Sample]) -> str:
    """Hash of the samples' relative paths, labels, patients, splits, boxes and byte sizes."""
    paths = [os.path.abspath(s.path) for s in samples]
    root = os.path.commonpath([os.path.dirname(p) for p in paths]) if paths else ""
    h = hashlib.sha256()
    for s, path in zip(samples, paths, strict=True):
        size = os.stat(path).st_size if os.path.exists(path) else -1
        rel = os.path.relpath(path, root)
        h.update(f"{rel}|{s.label}|{s.patient_id}|{s.split}|{s.box}|{size}\n".encode())
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------- prepare


def _tensor(store: np.ndarray, rows: np.ndarray) -> torch.Tensor:
    """Rows of the store as uint8 (N, 3, S, S): a memmap view when contiguous, else a copy."""
    if len(rows) and rows[-1] - rows[0] + 1 == len(rows):
        part = store[rows[0] : rows[-1] + 1]
    else:
        part = store[rows]
    with warnings.catch_warnings():  # a read-only memmap: nothing writes through it
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(part)


def _by_official_split(samples: list[Sample]) -> list[Sample]:
    """Samples ordered train, val, test (stable) when the dataset has official splits."""
    parts = official_split(samples)
    if parts is None:
        return samples
    rank = {"train": 0, "val": 1, "test": 2}
    order = sorted(range(len(samples)), key=lambda i: rank[parts[i]])
    return [samples[i] for i in order]


def _read_checked(cfg: DataConfig) -> tuple[list[Sample], str, dict[int, str]]:
    """Samples (official splits in order), source and missing files (fails unless skip_bad)."""
    samples, desc = load_samples(cfg)
    samples = _by_official_split(samples)
    missing = _missing(samples, desc)
    _fail_unless_skip(samples, missing, cfg.skip_bad, "image file(s) not found")
    return samples, desc, missing


def _decode_present(
    samples: list[Sample],
    missing: dict[int, str],
    cfg: DataConfig,
    size: int,
    progress: Progress | None,
) -> tuple[list[int], DecodedImages, dict[int, str]]:
    """Decode the existing files (store row j = samples[present[j]]); unreadable ones by index."""
    present = [i for i in range(len(samples)) if i not in missing]
    if not present:
        raise DataError(
            f"none of the {len(samples)} images listed exists; "
            "check data.path and the manifest paths"
        )
    decoded = decode_all(
        [samples[i] for i in present],
        size,
        cache_dir=cfg.cache_dir,
        workers=cfg.decode_workers,
        progress=progress,
    )
    bad = {present[j]: why for j, why in decoded.bad.items()}
    _fail_unless_skip(samples, bad, cfg.skip_bad, "unreadable image(s)")
    return present, decoded, bad


@dataclass
class CacheReport:
    """What `cache_dataset` did."""

    source_desc: str
    n_images: int
    size: int
    nbytes: int
    hit: bool  # the store was there already
    path: Path
    skipped: list[str]


def cache_dataset(cfg: DataConfig, size: int, progress: Progress | None = None) -> CacheReport:
    """Decode a dataset at `size` into the cache (what `prepare_data` reads), without splitting.

    Raises:
        DataError: a missing path or file, or an unreadable image (unless ``cfg.skip_bad``);
            the store is built first, so a rerun with skip_bad is instant.
    """
    samples, desc, missing = _read_checked(cfg)
    _, decoded, bad = _decode_present(samples, missing, cfg, size, progress)
    skipped = [samples[i].path for i in sorted({*missing, *bad})]
    return CacheReport(
        desc,
        len(samples) - len(skipped),
        size,
        decoded.images.nbytes,
        decoded.hit,
        decoded.path,
        skipped,
    )


def prepare_data(
    cfg: DataConfig, input_size: int, fold: int | None = None, progress: Progress | None = None
) -> PreparedData:
    """Read, check, decode (through the cache) and split a dataset.

    Args:
        cfg: the ``data`` section of a trial.
        input_size: side of the square images the model sees.
        fold: the validation fold when ``cfg.folds > 1`` (None = fold 0).
        progress: told what is happening (decoding, splits), one line at a time.

    Raises:
        DataError: a missing path or file, an unknown label, an empty class, an unreadable image.
    """
    say = progress or (lambda _m: None)
    samples, desc, missing = _read_checked(cfg)
    names, labels = apply_scenario(samples, cfg.scenario)  # label errors before any decoding
    say(f"{desc}: {len(samples)} images, {len(names)} classes ({cfg.scenario})")
    present, decoded, bad = _decode_present(samples, missing, cfg, input_size, progress)
    if decoded.hit:
        say(f"decoded images at {input_size} px read from the cache {decoded.path}")
    # row of the store of every kept sample (the store holds the files that exist)
    rows = np.array([j for j, i in enumerate(present) if i not in bad], dtype=np.int64)
    keep = [present[j] for j in rows]
    skipped = [samples[i].path for i in sorted({*missing, *bad})]
    samples, lab = [samples[i] for i in keep], np.array([labels[i] for i in keep], dtype=np.int64)
    gone = sorted(set(range(len(names))) - set(lab.tolist()))
    if gone:
        raise DataError(
            f"every image of class(es) {', '.join(names[c] for c in gone)} "
            "is missing or unreadable; fix the files"
        )
    train, val, test = make_splits(samples, cfg, fold, labels=lab.tolist(), class_names=names)

    def split(ix: np.ndarray) -> Split:
        images = apply_mask(_tensor(decoded.images, rows[ix]), cfg.mask)  # data.mask: a copy
        return Split(images, torch.from_numpy(lab[ix]), [samples[i] for i in ix])

    fold_note = f", fold {fold or 0} of {cfg.folds}" if cfg.folds > 1 else ""
    say(
        f"splits: train {len(train)}, val {len(val)}, test {len(test)}{fold_note}; "
        f"{len(skipped)} image(s) skipped"
    )
    return PreparedData(
        names, split(train), split(val), split(test), skipped, dataset_hash(samples), desc
    )
