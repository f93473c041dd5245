"""The sample record and the manifest CSV format shared by every dataset reader and builder."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ablate.atomic import atomic_file
from ablate.errors import DataError

__all__ = ["MANIFEST_COLUMNS", "Sample", "read_manifest", "write_manifest"]

MANIFEST_COLUMNS = ("path", "label", "patient_id", "source")


@dataclass(frozen=True)
class Sample:
    """One image: absolute path, source label, patient id ('' = unknown) and source name."""

    path: str
    label: str
    patient_id: str = ""
    source: str = ""
    box: tuple[int, int, int, int] | None = None  # crop (xmin, ymin, xmax, ymax), COVIDx-CT
    split: str = ""  # an official split ('train'/'val'/'test') where the dataset defines one

    @property
    def group(self) -> str:
        """Split group: the patient, or the image itself when the patient is unknown."""
        return self.patient_id or f"img:{self.path}"


def read_manifest(path: str | Path) -> list[Sample]:
    """Read ``path,label[,patient_id,source,...]``; relative paths are relative to the CSV."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"manifest {path} not found; give a CSV with columns path,label[,patient_id,source]")
    root = path.parent
    try:
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            cols = reader.fieldnames or []
            missing = [c for c in ("path", "label") if c not in cols]
            if missing:
                raise DataError(f"manifest {path} lacks column(s) {', '.join(missing)}; it needs path,label[,patient_id,source]")
            out = []
            for i, row in enumerate(reader, start=2):
                p, label = (row.get("path") or "").strip(), (row.get("label") or "").strip()
                if not p or not label:
                    raise DataError(f"manifest {path} line {i}: empty path or label")
                full = Path(p) if os.path.isabs(p) else root / p
                patient = (row.get("patient_id") or "").strip()
                source = (row.get("source") or row.get("source_dataset") or "").strip()
                out.append(Sample(str(full), label, patient, source, split=(row.get("split") or "").strip()))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"cannot read manifest {path}: {e}") from e
    if not out:
        raise DataError(f"manifest {path} has no rows")
    return out


def write_manifest(samples: Iterable[Sample], path: str | Path, relative_to: str | Path | None = None) -> Path:
    """Write a manifest atomically; paths are made relative to `relative_to` (default: its folder)."""
    path = Path(path)
    base = Path(relative_to) if relative_to is not None else path.parent
    with atomic_file(path) as tmp, tmp.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*MANIFEST_COLUMNS, "split"])
        for s in samples:
            try:
                rel = os.path.relpath(s.path, base)
            except ValueError:
                rel = s.path
            w.writerow([rel, s.label, s.patient_id, s.source, s.split])
    return path
