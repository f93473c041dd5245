"""From a data config to decoded, split tensors: `prepare_data`."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ablate.config import DataConfig
from ablate.data.cache import cache_root, decode_all
from ablate.data.images import check_image
from ablate.data.samples import Sample, read_manifest
from ablate.data.scenarios import apply_scenario
from ablate.data.splits import make_splits
from ablate.data.synthetic import GENERATOR_VERSION, generate_synthetic
from ablate.errors import DataError

__all__ = ["PreparedData", "Split", "load_samples", "normalize_batch", "prepare_data", "scan_folder"]

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp"}
_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255
_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255


@dataclass
class Split:
    """One split: uint8 images (N, 3, S, S), int64 labels (N,) and the samples they came from."""

    images: torch.Tensor
    labels: torch.Tensor
    samples: list[Sample]


@dataclass
class PreparedData:
    class_names: list[str]
    train: Split
    val: Split
    test: Split
    skipped: list[str] = field(default_factory=list)
    dataset_hash: str = ""
    source_desc: str = ""


def normalize_batch(x: torch.Tensor, kind: str = "none") -> torch.Tensor:
    """uint8 batch -> float model input: raw 0-255 (``none``, the paper) or ImageNet mean/std."""
    x = x.float()
    if kind == "imagenet":
        x = (x - _MEAN.to(x.device)) / _STD.to(x.device)
    return x


def scan_folder(root: Path) -> list[Sample]:
    """A class-per-folder tree: ``root/<label>/**/<image>``."""
    out = []
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        out += [Sample(str(f), d.name) for f in sorted(d.rglob("*")) if f.suffix.lower() in IMAGE_EXTS]
    if not out:
        raise DataError(f"no images found under {root}: expected class subfolders (covid/, normal/, ...) or a manifest.csv")
    return out


def load_samples(cfg: DataConfig) -> tuple[list[Sample], str]:
    """The dataset's samples and a description of where they came from."""
    if cfg.path == "synthetic":
        s = cfg.synthetic
        out = cache_root(cfg.cache_dir) / "synthetic" / f"v{GENERATOR_VERSION}-n{s.n_per_class}-px{s.image_size}-seed{s.seed}"
        return read_manifest(generate_synthetic(out, s.n_per_class, s.image_size, s.seed)), (
            f"synthetic(n_per_class={s.n_per_class}, image_size={s.image_size}, seed={s.seed})"
        )
    path = Path(cfg.path).expanduser()
    if not path.exists():
        raise DataError(f"data path {cfg.path} does not exist; give a class-per-folder tree, a manifest CSV or 'synthetic'")
    fmt = cfg.format
    if fmt in ("covidx", "covidx-ct"):
        from ablate.data import covidx

        reader = covidx.read_covidx if fmt == "covidx" else covidx.read_covidx_ct
        return reader(path), f"{fmt}:{path}"
    if fmt == "manifest" or path.suffix.lower() == ".csv":
        return read_manifest(path), str(path)
    if path.is_dir() and (path / "manifest.csv").is_file() and fmt != "folder":
        return read_manifest(path / "manifest.csv"), str(path / "manifest.csv")
    if not path.is_dir():
        raise DataError(f"data path {cfg.path} is neither a folder nor a .csv manifest")
    return scan_folder(path), str(path)


def _drop_or_fail(samples: list[Sample], bad: dict[int, str], skip: bool) -> tuple[list[Sample], list[str]]:
    if not bad:
        return samples, []
    if not skip:
        first = sorted(bad)[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise DataError(f"{samples[first].path}: {bad[first]}{more}; fix or remove it, or pass --skip-bad (data.skip_bad: true) to drop unreadable images")
    return [s for i, s in enumerate(samples) if i not in bad], [samples[i].path for i in sorted(bad)]


def prepare_data(
    cfg: DataConfig, input_size: int, fold: int | None = None, progress: Callable[[str], None] | None = None
) -> PreparedData:
    """Read, check, decode (through the cache) and split a dataset.

    Every problem is found here, before training: a missing path or file, an unreadable
    image, an unknown label, an empty class.
    """
    samples, desc = load_samples(cfg)
    missing = {i: "file not found" for i, s in enumerate(samples) if not Path(s.path).is_file()}
    samples, skipped = _drop_or_fail(samples, missing, cfg.skip_bad)
    apply_scenario(samples, cfg.scenario)  # label errors before any decoding
    images, bad, _ = decode_all(samples, input_size, cache_dir=cfg.cache_dir, workers=cfg.decode_workers, progress=progress)
    if bad:
        keep = np.array([i for i in range(len(samples)) if i not in bad], dtype=np.int64)
        samples, more = _drop_or_fail(samples, bad, cfg.skip_bad)
        skipped += more
    else:
        keep = None
    names, labels = apply_scenario(samples, cfg.scenario)
    train, val, test = make_splits(samples, labels, cfg, names, fold)
    h = hashlib.sha256("".join(f"{s.path}|{s.label}\n" for s in samples).encode()).hexdigest()[:16]
    lab = np.asarray(labels, dtype=np.int64)

    def split(idx: np.ndarray) -> Split:
        rows = keep[idx] if keep is not None else idx
        return Split(torch.from_numpy(np.ascontiguousarray(images[rows])), torch.from_numpy(lab[idx]),
                     [samples[i] for i in idx])

    return PreparedData(names, split(train), split(val), split(test), skipped, h, desc)


def check_images(samples: list[Sample]) -> dict[int, str]:
    """Decode every image fully; {index: reason} for the unreadable ones."""
    out = {}
    for i, s in enumerate(samples):
        reason = check_image(s.path)
        if reason:
            out[i] = reason
    return out
