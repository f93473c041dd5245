"""Finding a source's files: its root folder, its metadata CSV, its images in natural order."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from ablate.data.images import IMAGE_EXTS
from ablate.data.sources._registry import get_source, natural_key
from ablate.errors import DataError

__all__ = [
    "find_root",
    "is_image",
    "metadata_folder",
    "need_dir",
    "read_csv",
    "unique_names",
    "walk_images",
]


def is_image(path: Path) -> bool:
    """A visible file with an image suffix (`IMAGE_EXTS`)."""
    return not path.name.startswith(".") and path.suffix.lower() in IMAGE_EXTS


def need_dir(path: Path, key: str) -> None:
    """Raise a `DataError` naming the source unless `path` is a folder."""
    if not path.is_dir():
        title = get_source(key).title
        raise DataError(
            f"--source {key}={path}: no such folder; give the folder you unpacked {title} into"
        )


def find_root(path: Path, key: str, found: Callable[[Path], bool], expect: str) -> Path:
    """`path` or the first folder one level below it where `found` holds."""
    need_dir(path, key)
    if found(path):
        return path
    for sub in sorted((p for p in path.iterdir() if p.is_dir()), key=lambda p: natural_key(p.name)):
        if found(sub):
            return sub
    raise DataError(
        f"--source {key}={path}: {expect} not found there or one level below; "
        f"point it at the unpacked {get_source(key).title}"
    )


def read_csv(path: Path, required: Iterable[str], key: str) -> list[dict[str, str]]:
    """Rows of a CSV with lower-cased, stripped column names (UTF-8, else Latin-1)."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    reader = csv.DictReader(io.StringIO(text))
    cols = [c.strip().lower() for c in reader.fieldnames or []]
    missing = [c for c in required if c not in cols]
    if missing:
        raise DataError(
            f"--source {key}: {path} lacks column(s) {', '.join(missing)}; "
            "is this the right dataset?"
        )
    return [
        {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()} for row in reader
    ]


def _header(path: Path) -> set[str]:
    try:
        with path.open("rb") as f:
            line = f.readline()
    except OSError:
        return set()
    text = line.decode("utf-8-sig", errors="replace")
    return {c.strip().strip('"').lower() for c in next(csv.reader([text]), [])}


def metadata_folder(
    required: tuple[str, ...], forbidden: tuple[str, ...] = ()
) -> Callable[[Path], bool]:
    """Test for a folder with images/ and a metadata.csv with `required` columns, no `forbidden`."""

    def found(p: Path) -> bool:
        if not ((p / "metadata.csv").is_file() and (p / "images").is_dir()):
            return False
        cols = _header(p / "metadata.csv")
        return all(c in cols for c in required) and not any(c in cols for c in forbidden)

    return found


def walk_images(root: Path) -> list[Path]:
    """Images under `root` (hidden files, __MACOSX skipped), shallowest then natural order first."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__MACOSX"]
        out += [p for f in filenames if is_image(p := Path(dirpath) / f)]
    return sorted(
        out, key=lambda p: (len(p.relative_to(root).parts), natural_key(str(p.relative_to(root))))
    )


def unique_names(files: list[Path]) -> list[Path]:
    """First file of each name (the same file unpacked twice, e.g. chest_xray/chest_xray/...)."""
    seen: set[str] = set()
    out = []
    for f in files:
        if f.name.lower() not in seen:
            seen.add(f.name.lower())
            out.append(f)
    return out
