"""Listing a dataset's images (no decoding, no torch): a class-per-folder tree, a manifest CSV,
COVIDx label files or the built-in synthetic set."""

from __future__ import annotations

from pathlib import Path

from ablate.config import DataConfig
from ablate.data.cache import cache_root
from ablate.data.images import IMAGE_EXTS
from ablate.data.samples import Sample, read_manifest
from ablate.data.synthetic import GENERATOR_VERSION, generate_synthetic
from ablate.errors import DataError

__all__ = ["load_samples", "scan_folder"]


def scan_folder(root: Path) -> list[Sample]:
    """A class-per-folder tree: ``root/<label>/**/<image>`` (hidden and ``__`` folders ignored).

    Raises:
        DataError: no class folders, or a class folder without images.
    """
    root = Path(root)
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "__")))
    out: list[Sample] = []
    for d in classes:
        files = sorted(f for f in d.rglob("*") if f.suffix.lower() in IMAGE_EXTS and f.is_file())
        if not files:
            raise DataError(
                f"class folder {d} has no images ({', '.join(sorted(IMAGE_EXTS))}); "
                "add some or remove it"
            )
        out += [Sample(str(f), d.name) for f in files]
    if not out:
        raise DataError(
            f"no class subfolders with images under {root}: "
            "expected covid/, normal/, ... or a manifest.csv"
        )
    return out


def load_samples(cfg: DataConfig) -> tuple[list[Sample], str]:
    """The dataset's samples and a description of where they came from (`source_desc`)."""
    if cfg.path == "synthetic":
        s = cfg.synthetic
        out = (
            cache_root(cfg.cache_dir)
            / "synthetic"
            / f"v{GENERATOR_VERSION}-n{s.n_per_class}-px{s.image_size}-seed{s.seed}"
        )
        manifest = generate_synthetic(out, s.n_per_class, s.image_size, s.seed)
        return read_manifest(
            manifest
        ), f"synthetic(n={s.n_per_class},size={s.image_size},seed={s.seed})"
    path = Path(cfg.path).expanduser().absolute()
    if not path.exists():
        raise DataError(
            f"data path {cfg.path} does not exist; "
            "give a class-per-folder tree, a manifest CSV or 'synthetic'"
        )
    fmt = cfg.format
    if fmt in ("covidx", "covidx-ct"):
        from ablate.data import covidx

        reader = covidx.read_covidx if fmt == "covidx" else covidx.read_covidx_ct
        return reader(path), f"{fmt}:{path}"
    if fmt == "manifest" or (
        fmt == "auto" and (path.suffix.lower() == ".csv" or (path / "manifest.csv").is_file())
    ):
        manifest = path / "manifest.csv" if path.is_dir() else path
        return read_manifest(manifest), str(manifest)
    if not path.is_dir():
        raise DataError(
            f"data path {cfg.path} is neither a folder nor a .csv manifest; "
            "give one of those or 'synthetic'"
        )
    return scan_folder(path), str(path)
