"""Readers for the COVIDx (chest X-ray) and COVIDx-CT label files; both keep the official splits.

COVIDx: ``train.txt`` / ``val.txt`` / ``test.txt`` (or one ``train_*.txt`` ...) with lines
``patient_id filename label [source]``; images in ``root/<split>/`` (val images may sit in
``root/train/``). Labels ``normal``, ``pneumonia``, ``COVID-19`` become ``normal``,
``pneumonia``, ``covid`` (binary releases: ``positive`` -> ``covid``, ``negative``).

COVIDx-CT: ``train_COVIDx_CT-*.txt`` (or ``train.txt``) ... with lines
``filename class xmin ymin xmax ymax``, class 0/1/2 = normal/pneumonia/covid; images in
``root/`` or ``root/*_images/`` (``2A_images``, ``3A_images``); the box is ``Sample.box``.
The patient id comes from the file name (see :func:`ct_patient_id`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ablate.data.samples import Sample
from ablate.errors import DataError

__all__ = ["COVIDX_LABELS", "CT_CLASSES", "ct_patient_id", "read_covidx", "read_covidx_ct"]

COVIDX_LABELS = {"normal": "normal", "pneumonia": "pneumonia", "covid-19": "covid", "covid": "covid",
                 "positive": "covid", "negative": "negative"}
CT_CLASSES = ("normal", "pneumonia", "covid")
SPLITS = ("train", "val", "test")


def _label_file(root: Path, split: str, patterns: tuple[str, ...]) -> Path | None:
    """``root/<split>.txt``, else the one file matching a pattern (several: an error)."""
    exact = root / f"{split}.txt"
    if exact.is_file():
        return exact
    for pattern in patterns:
        found = sorted(root.glob(pattern.format(split=split)))
        if len(found) > 1:
            names = ", ".join(f.name for f in found)
            raise DataError(f"several {split} label files in {root} ({names}); keep one release there or move the others away")
        if found:
            return found[0]
    return None


def _label_files(root: Path, patterns: tuple[str, ...], what: str) -> dict[str, Path]:
    if not root.is_dir():
        raise DataError(f"{what} folder {root} not found; give the folder holding its label files and image folders")
    files = {s: f for s in SPLITS if (f := _label_file(root, s, patterns)) is not None}
    if "train" not in files and "test" not in files:
        raise DataError(f"no {what} label files in {root}: expected train.txt / test.txt (or {patterns[0].format(split='train')})")
    return files


def _lines(path: Path) -> list[tuple[int, list[str]]]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise DataError(f"cannot read label file {path}: {e}") from e
    return [(n, line.split()) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]


class _ImageFinder:
    """Locates images among candidate folders, listing each folder once."""

    def __init__(self) -> None:
        self._listing: dict[Path, set[str]] = {}
        self.missing: list[str] = []

    def _names(self, folder: Path) -> set[str]:
        if folder not in self._listing:
            try:
                self._listing[folder] = set(os.listdir(folder))
            except OSError:
                self._listing[folder] = set()
        return self._listing[folder]

    def find(self, name: str, folders: list[Path]) -> str:
        for folder in folders:
            if name in self._names(folder):
                return str(folder / name)
        self.missing.append(str(folders[0] / name))
        return str(folders[0] / name)

    def raise_missing(self, root: Path, what: str) -> None:
        if self.missing:
            first = ", ".join(self.missing[:3])
            more = f" and {len(self.missing) - 3} more" if len(self.missing) > 3 else ""
            raise DataError(f"{len(self.missing)} {what} image(s) listed in the label files are missing: {first}{more}; "
                            f"put the images under {root} as the release lays them out")


def read_covidx(root: str | Path) -> list[Sample]:
    """COVIDx chest X-rays with their official split (``Sample.split``).

    Raises:
        DataError: no label files, a line without 3 or 4 columns, an unknown label, or
            missing images.
    """
    root = Path(root).expanduser()
    files = _label_files(root, ("{split}_*.txt",), "COVIDx")
    finder = _ImageFinder()
    out = []
    for split, path in files.items():
        folders = [root / split] + ([root / "train"] if split == "val" else []) + [root]
        for n, cols in _lines(path):
            if len(cols) not in (3, 4):
                raise DataError(f"{path} line {n}: expected 3 or 4 space-separated columns (patient_id filename label [source]), got {len(cols)}")
            label = COVIDX_LABELS.get(cols[2].lower())
            if label is None:
                raise DataError(f"{path} line {n}: unknown label {cols[2]!r}; COVIDx labels are normal, pneumonia, COVID-19 (or positive, negative)")
            source = cols[3] if len(cols) == 4 else ""
            out.append(Sample(finder.find(cols[1], folders), label, cols[0], source, split=split))
    finder.raise_missing(root, "COVIDx")
    return out


_CNCB = re.compile(r"^(NCP|CP|Normal)_(\d+)_(\d+)_(\d+)$")
_SLICE = re.compile(r"^(.+?)[-_](\d+)$")


def ct_patient_id(filename: str) -> str:
    """Patient id of a COVIDx-CT slice from its file name.

    The rule, from the COVIDx-CT construction scripts' naming:

    - CNCB ``<class>_<patient>_<scan>_<slice>`` (``NCP_96_1328_0032.png``) -> ``NCP_96``;
    - otherwise the trailing slice number (``-0032`` / ``_0032``) is dropped, then
      ``radiopaedia-<case>-<study>-<stack>`` -> ``radiopaedia-<case>`` and
      ``LIDC-IDRI-<NNNN>-<series>`` -> ``LIDC-IDRI-<NNNN>``;
    - any other name keeps the rest (one scan per group: at worst finer than the patient).
    """
    stem = Path(filename).stem
    m = _CNCB.match(stem)
    if m:
        return f"{m.group(1)}_{m.group(2)}"
    m = _SLICE.match(stem)
    case = m.group(1) if m else stem
    if case.startswith("radiopaedia-"):
        return "-".join(case.split("-")[:2])
    m = re.match(r"^(LIDC-IDRI-\d+)", case)
    return m.group(1) if m else case


def _ct_source(patient: str) -> str:
    if re.match(r"^(NCP|CP|Normal)_\d+$", patient):
        return "cncb"
    return re.split(r"[-_]", patient, maxsplit=1)[0].lower()


def read_covidx_ct(root: str | Path) -> list[Sample]:
    """COVIDx-CT slices with crop boxes (``Sample.box``) and their official split.

    ``Sample.source`` is the data source read from the file name (``cncb``, ``radiopaedia``,
    ``lidc`` ...), a heuristic for audits.

    Raises:
        DataError: no label files, a line without 6 columns, a bad class or box, or missing images.
    """
    root = Path(root).expanduser()
    files = _label_files(root, ("{split}_COVIDx*CT*.txt", "{split}_*.txt"), "COVIDx-CT")
    folders = [*sorted(p for p in root.glob("*_images") if p.is_dir()), root]
    finder = _ImageFinder()
    out = []
    for split, path in files.items():
        for n, cols in _lines(path):
            if len(cols) != 6:
                raise DataError(f"{path} line {n}: expected 6 space-separated columns (filename class xmin ymin xmax ymax), got {len(cols)}")
            try:
                cls, x0, y0, x1, y1 = (int(c) for c in cols[1:])
            except ValueError:
                raise DataError(f"{path} line {n}: class and box must be integers, got {' '.join(cols[1:])!r}") from None
            if cls not in (0, 1, 2):
                raise DataError(f"{path} line {n}: class {cls} is not 0, 1 or 2 (normal, pneumonia, covid)")
            if not (x0 < x1 and y0 < y1):
                raise DataError(f"{path} line {n}: box {x0} {y0} {x1} {y1} is empty; expected xmin < xmax and ymin < ymax")
            pid = ct_patient_id(cols[0])
            img = finder.find(cols[0], folders)
            out.append(Sample(img, CT_CLASSES[cls], pid, _ct_source(pid), box=(x0, y0, x1, y1), split=split))
    finder.raise_missing(root, "COVIDx-CT")
    return out
