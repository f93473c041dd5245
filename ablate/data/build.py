"""Build the paper's CXR-5 dataset (Table 1) from the seven public sources in their native layouts.

``build_cxr5({"ds1": PATH, "ds4": PATH, ...}, out)`` reads each source, takes up to Table 1's
count per class and source (deterministic: natural sort, then evenly spaced with a seeded
phase), checks that every picked image decodes, picks a patient-grouped test split of
``test_per_class`` images per class and writes ``out/manifest.csv`` (path, label, patient_id,
source, split), the images under ``out/images/<source>/<label>/`` (symlinks or copies),
``out/skipped.csv`` and ``out/build.json``. The output is built in a temporary folder beside
``out`` and renamed into place at the end, so a failed build leaves nothing half-written.

Patient ids are prefixed with the source (``ds1-<patientid>``, ``ds7-person<N>``); DS4 and DS6
give none (each image is its own group). Kermany (DS7) person ids are shared across its
train/test/val folders, so the same ``person<N>`` in two folders is taken as one patient
(the conservative choice for leakage).
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import re
import shutil
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from ablate.data.samples import Sample, write_manifest
from ablate.data.scenarios import CXR5, canonical_label
from ablate.errors import ConfigError, DataError

if TYPE_CHECKING:
    from rich.table import Table

__all__ = [
    "SOURCES",
    "TABLE1",
    "BuildReport",
    "BuildRow",
    "SourceSpec",
    "build_cxr5",
    "evenly_spaced",
    "natural_key",
    "parse_caps",
    "parse_sources",
    "read_source",
    "verify_image",
]

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class SourceSpec:
    """One public source: its key on the command line, name in the manifest, classes and reader."""

    key: str
    name: str
    title: str
    classes: tuple[str, ...]
    reader: Callable[[Path], list[Sample]]


# --------------------------------------------------------------------------- helpers


def natural_key(text: str) -> list[int | str]:
    """Sort key that orders ``img2`` before ``img10``."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", text)]


def evenly_spaced(n: int, k: int, seed: str | int = 0) -> list[int]:
    """``k`` of ``range(n)`` spread evenly, with a phase drawn from `seed` (all when k >= n)."""
    if k >= n:
        return list(range(n))
    if k <= 0:
        return []
    step = n / k
    phase = random.Random(str(seed)).random()
    return [int((i + phase) * step) for i in range(k)]


def verify_image(path: str | Path) -> str | None:
    """None when the file passes PIL's ``verify`` and decodes fully, else the reason."""
    try:
        with Image.open(path) as im:
            im.verify()
        with Image.open(path) as im:
            im.load()
    except FileNotFoundError:
        return "file not found"
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        return str(e) or type(e).__name__
    return None


def _read_csv(path: Path, required: Iterable[str], key: str) -> list[dict[str, str]]:
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
        raise DataError(f"--source {key}: {path} lacks column(s) {', '.join(missing)}; is this the right dataset?")
    return [{(k or "").strip().lower(): (v or "").strip() for k, v in row.items()} for row in reader]


def _find_root(path: Path, key: str, found: Callable[[Path], bool], expect: str) -> Path:
    """`path` or the first folder one level below it where `found` holds."""
    _need_dir(path, key)
    if found(path):
        return path
    for sub in sorted((p for p in path.iterdir() if p.is_dir()), key=lambda p: natural_key(p.name)):
        if found(sub):
            return sub
    raise DataError(f"--source {key}={path}: {expect} not found there or one level below; point it at the unpacked {_spec(key).title}")


def _walk(root: Path) -> list[Path]:
    """Image files under `root` (hidden files and __MACOSX skipped), shallowest and natural order first."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__MACOSX"]
        out += [Path(dirpath) / f for f in filenames if not f.startswith(".") and f.lower().endswith(IMAGE_EXTS)]
    return sorted(out, key=lambda p: (len(p.relative_to(root).parts), natural_key(str(p.relative_to(root)))))


def _unique_names(files: list[Path]) -> list[Path]:
    """First file of each name (the same file unpacked twice, e.g. chest_xray/chest_xray/...)."""
    seen: set[str] = set()
    out = []
    for f in files:
        if f.name.lower() not in seen:
            seen.add(f.name.lower())
            out.append(f)
    return out


def _is_covid(finding: str) -> bool:
    return "covid-19" in finding.lower()


def _header(path: Path) -> set[str]:
    try:
        with path.open("rb") as f:
            line = f.readline()
    except OSError:
        return set()
    text = line.decode("utf-8-sig", errors="replace")
    return {c.strip().strip('"').lower() for c in next(csv.reader([text]), [])}


def _metadata_folder(required: tuple[str, ...], forbidden: tuple[str, ...] = ()) -> Callable[[Path], bool]:
    """A folder with images/ and a metadata.csv that has the `required` columns (and not `forbidden`)."""

    def found(p: Path) -> bool:
        if not ((p / "metadata.csv").is_file() and (p / "images").is_dir()):
            return False
        cols = _header(p / "metadata.csv")
        return all(c in cols for c in required) and not any(c in cols for c in forbidden)

    return found


def _need_dir(path: Path, key: str) -> None:
    if not path.is_dir():
        raise DataError(f"--source {key}={path}: no such folder; give the folder you unpacked {_spec(key).title} into")


# --------------------------------------------------------------------------- readers


def read_ds1(path: Path) -> list[Sample]:
    """ieee8023/covid-chestxray-dataset: X-ray, view PA/AP/AP Supine, finding contains COVID-19."""
    cols = ("patientid", "finding", "view", "modality", "filename")
    root = _find_root(path, "ds1", _metadata_folder(cols), f"metadata.csv ({', '.join(cols)}) with an images/ folder")
    rows = _read_csv(root / "metadata.csv", cols, "ds1")
    views = {"PA", "AP", "AP SUPINE", "APS"}
    return [
        Sample(str(root / (r.get("folder") or "images") / r["filename"]), "covid", f"ds1-{r['patientid']}", "DS1")
        for r in rows
        if r["modality"].lower() == "x-ray" and r["view"].upper() in views and _is_covid(r["finding"]) and r["filename"]
    ]


def read_ds2(path: Path) -> list[Sample]:
    """Actualmed COVID-19 chest X-ray dataset: finding contains COVID-19; images/<imagename>."""
    cols = ("patientid", "finding", "imagename")
    root = _find_root(path, "ds2", _metadata_folder(cols), f"metadata.csv ({', '.join(cols)}) with an images/ folder")
    rows = _read_csv(root / "metadata.csv", cols, "ds2")
    return [
        Sample(str(root / "images" / r["imagename"]), "covid", f"ds2-{r['patientid']}", "DS2")
        for r in rows
        if _is_covid(r["finding"]) and r["imagename"]
    ]


def read_ds3(path: Path) -> list[Sample]:
    """Figure1 COVID-19 chest X-ray dataset: images/<patientid>[a-z].jpg|png of COVID-19 patients."""
    cols = ("patientid", "finding")
    found = _metadata_folder(cols, forbidden=("filename", "imagename"))
    root = _find_root(path, "ds3", found, "metadata.csv (patientid, finding; no filename column) with an images/ folder")
    rows = _read_csv(root / "metadata.csv", cols, "ds3")
    by_patient: dict[str, list[Path]] = defaultdict(list)
    for f in (root / "images").iterdir():
        if f.suffix.lower() in (".jpg", ".jpeg", ".png") and not f.name.startswith("."):
            stem = f.stem
            by_patient[stem].append(f)
            if len(stem) > 1 and stem[-1] in "abcdefghijklmnopqrstuvwxyz":
                by_patient[stem[:-1]].append(f)
    patients = sorted({r["patientid"] for r in rows if _is_covid(r["finding"]) and r["patientid"]}, key=natural_key)
    return [Sample(str(f), "covid", f"ds3-{p}", "DS3") for p in patients for f in by_patient.get(p, [])]


_DS4_DIRS = {"covid": "covid", "covid-19": "covid", "normal": "normal"}


def read_ds4(path: Path) -> list[Sample]:
    """COVID-19 Radiography Database: COVID/ and Normal/ (images/ inside in newer releases)."""

    def class_dirs(p: Path) -> list[Path]:
        return [d for d in p.iterdir() if d.is_dir() and d.name.lower() in _DS4_DIRS]

    root = _find_root(path, "ds4", lambda p: bool(class_dirs(p)), "a COVID/ or Normal/ folder")
    out = []
    for d in sorted(class_dirs(root), key=lambda p: p.name.lower()):
        img_dir = d / "images" if (d / "images").is_dir() else d  # never masks/
        files = [f for f in img_dir.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTS and not f.name.startswith(".")]
        out += [Sample(str(f), _DS4_DIRS[d.name.lower()], "", "DS4") for f in files]
    return out


_DS5 = re.compile(r"^(CHNCXR|MCUCXR)_\d+_([01])\.png$", re.IGNORECASE)


def read_ds5(path: Path) -> list[Sample]:
    """Shenzhen + Montgomery: ``CHNCXR_*_1.png`` / ``MCUCXR_*_1.png`` are TB (``_0`` normal, unused)."""
    _need_dir(path, "ds5")
    files = _unique_names([f for f in _walk(path) if _DS5.match(f.name)])
    if not files:
        raise DataError(f"--source ds5={path}: no CHNCXR_*.png or MCUCXR_*.png files found under it; point it at the Shenzhen/Montgomery folders")
    return [Sample(str(f), "tuberculosis", f"ds5-{f.stem}", "DS5") for f in files if _DS5.match(f.name).group(2) == "1"]


def read_ds6(path: Path) -> list[Sample]:
    """TB Portals: a folder of tuberculosis images (no patient ids)."""
    _need_dir(path, "ds6")
    files = _walk(path)
    if not files:
        raise DataError(f"--source ds6={path}: no images ({', '.join(IMAGE_EXTS)}) found under it; point it at the TB Portals image folder")
    return [Sample(str(f), "tuberculosis", "", "DS6") for f in files]


_DS7 = re.compile(r"^person(\d+)_(bacteria|virus)_\d+\.jpe?g$", re.IGNORECASE)


def read_ds7(path: Path) -> list[Sample]:
    """Kermany pneumonia: ``person<N>_{bacteria,virus}_<M>.jpeg`` anywhere below; a person in both classes counts as bacterial."""
    _need_dir(path, "ds7")
    files = _unique_names([f for f in _walk(path) if _DS7.match(f.name)])
    if not files:
        raise DataError(f"--source ds7={path}: no person<N>_bacteria_<M>.jpeg / person<N>_virus_<M>.jpeg files found under it; point it at chest_xray/")
    kinds: dict[str, set[str]] = defaultdict(set)
    parsed = []
    for f in files:
        m = _DS7.match(f.name)
        person, kind = m.group(1), m.group(2).lower()
        kinds[person].add(kind)
        parsed.append((f, person, kind))
    return [
        Sample(str(f), "bacterial_pneumonia" if kind == "bacteria" else "viral_pneumonia", f"ds7-person{person}", "DS7")
        for f, person, kind in parsed
        if kind == "bacteria" or "bacteria" not in kinds[person]
    ]


SOURCES: dict[str, SourceSpec] = {
    s.key: s
    for s in (
        SourceSpec("ds1", "DS1", "ieee8023/covid-chestxray-dataset", ("covid",), read_ds1),
        SourceSpec("ds2", "DS2", "Actualmed-COVID-chestxray-dataset", ("covid",), read_ds2),
        SourceSpec("ds3", "DS3", "Figure1-COVID-chestxray-dataset", ("covid",), read_ds3),
        SourceSpec("ds4", "DS4", "COVID-19 Radiography Database", ("covid", "normal"), read_ds4),
        SourceSpec("ds5", "DS5", "Shenzhen + Montgomery TB sets", ("tuberculosis",), read_ds5),
        SourceSpec("ds6", "DS6", "TB Portals images", ("tuberculosis",), read_ds6),
        SourceSpec("ds7", "DS7", "Kermany pneumonia set (chest_xray)", ("bacterial_pneumonia", "viral_pneumonia"), read_ds7),
    )
}

# Table 1 of the paper: images per (source, class)
TABLE1: dict[tuple[str, str], int] = {
    ("DS1", "covid"): 478,
    ("DS2", "covid"): 58,
    ("DS3", "covid"): 35,
    ("DS4", "covid"): 1199,
    ("DS4", "normal"): 1341,
    ("DS5", "tuberculosis"): 394,
    ("DS6", "tuberculosis"): 1042,
    ("DS7", "bacterial_pneumonia"): 1700,
    ("DS7", "viral_pneumonia"): 1345,
}


def _known() -> str:
    return ", ".join(f"{s.key} ({s.title})" for s in SOURCES.values())


def _spec(key: str) -> SourceSpec:
    spec = SOURCES.get(key.strip().lower())
    if spec is None:
        raise ConfigError(f"unknown source {key!r}; sources are {_known()}")
    return spec


def read_source(key: str, path: str | Path) -> list[Sample]:
    """All candidate images of one source (`key` ds1..ds7), in natural order of their paths."""
    spec = _spec(key)
    samples = spec.reader(Path(path).expanduser())
    unique = {s.path: s for s in samples}
    return sorted(unique.values(), key=lambda s: natural_key(s.path))


# --------------------------------------------------------------------------- arguments


def parse_sources(items: Iterable[str]) -> dict[str, Path]:
    """``["ds1=PATH", ...]`` -> ``{"ds1": Path}``; unknown keys and repeats are errors."""
    out: dict[str, Path] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not value.strip():
            raise ConfigError(f"--source {item!r} must look like ds1=PATH (sources: ds1..ds7)")
        spec = _spec(key)
        if spec.key in out:
            raise ConfigError(f"--source {spec.key} given twice; give each source once")
        out[spec.key] = Path(value.strip()).expanduser()
    return out


def parse_caps(items: Iterable[str]) -> dict[str, int]:
    """``["ds7.bacterial=100", "ds1=50"]`` -> ``{"ds7.bacterial": 100, "ds1": 50}`` (validated)."""
    out: dict[str, int] = {}
    for item in items:
        key, sep, value = item.partition("=")
        try:
            n = int(value)
        except ValueError:
            n = -1
        if not sep or n < 0:
            raise ConfigError(f"--cap {item!r} must look like ds7.bacterial=100 (a source, optionally .class, = a count >= 0)")
        out[key.strip()] = n
    _resolve_caps(out)
    return out


def _resolve_caps(caps: Mapping[str, int]) -> dict[tuple[str, str], int]:
    """``{"ds7.bacterial": 100, "ds4": 50}`` -> ``{("DS7", "bacterial_pneumonia"): 100, ("DS4", "covid"): 50, ...}``."""
    out: dict[tuple[str, str], int] = {}
    for key, n in caps.items():
        src, _, cls = key.strip().lower().partition(".")
        spec = _spec(src)
        if cls:
            label = canonical_label(cls)
            if label not in spec.classes:
                raise ConfigError(f"--cap {key}: {spec.key} has class(es) {', '.join(spec.classes)}, not {cls!r}")
            labels: tuple[str, ...] = (label,)
        else:
            labels = spec.classes
        for label in labels:
            out[(spec.name, label)] = int(n)
    return out


# --------------------------------------------------------------------------- report


@dataclass
class BuildRow:
    """What was built for one (source, class)."""

    source: str
    label: str
    available: int  # candidates found in the source (0 when the source was not given)
    target: int  # the cap: Table 1's count unless overridden
    built: int  # images in the manifest
    test: int  # of which in the test split
    table1: int
    note: str = ""

    @property
    def short(self) -> int:
        """Images missing to reach Table 1's count."""
        return max(0, self.table1 - self.built)


@dataclass
class BuildReport:
    """Summary of a build: rows per (source, class), skipped files, warnings."""

    out: Path
    rows: list[BuildRow]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (original path, reason)
    notes: list[str] = field(default_factory=list)

    @property
    def manifest(self) -> Path:
        return self.out / "manifest.csv"

    def by_class(self) -> dict[str, tuple[int, int]]:
        """label -> (built, Table 1 count)."""
        out: dict[str, list[int]] = {c: [0, 0] for c in CXR5}
        for r in self.rows:
            out[r.label][0] += r.built
            out[r.label][1] += r.table1
        return {k: (v[0], v[1]) for k, v in out.items()}

    def short_lines(self) -> list[str]:
        """One line per (source, class) short of Table 1."""
        return [f"{r.source} {r.label}: {r.built} of {r.table1} ({r.note or 'too few images'})" for r in self.rows if r.short]

    def to_dict(self) -> dict:
        return {
            "out": str(self.out),
            "rows": [{**asdict(r), "short": r.short} for r in self.rows],
            "skipped": [{"path": p, "reason": why} for p, why in self.skipped],
            "notes": self.notes,
        }

    def table(self) -> Table:
        """A rich table: one row per (source, class)."""
        from rich.table import Table

        t = Table("source", "class", "available", "cap", "built", "test", "Table 1", "short", "note")
        for r in self.rows:
            short = f"[red]{r.short}[/]" if r.short else "0"
            t.add_row(r.source, r.label, str(r.available), str(r.target), str(r.built), str(r.test), str(r.table1), short, r.note)
        total = sum(r.built for r in self.rows)
        t.add_row("all", "", "", "", str(total), str(sum(r.test for r in self.rows)), str(sum(TABLE1.values())), "", "")
        return t


# --------------------------------------------------------------------------- build


def _check_all(paths: list[str], workers: int | None) -> list[str | None]:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(verify_image, paths))


def _pick(pool: list[Sample], k: int, seed: str, skip_bad: bool, workers: int | None) -> tuple[list[Sample], list[tuple[Sample, str]]]:
    """Evenly spaced picks; with `skip_bad`, an unreadable pick is replaced by the next readable candidate."""
    idx = evenly_spaced(len(pool), k, seed)
    status: dict[int, str | None] = {}

    def check(ids: list[int]) -> None:
        for i, why in zip(ids, _check_all([pool[i].path for i in ids], workers)):
            status[i] = why

    check(idx)
    chosen = [i for i in idx if status[i] is None]
    pending = [i for i in idx if status[i] is not None]
    taken = set(idx)
    while skip_bad and pending and len(taken) < len(pool):
        repl = []
        for i in pending:
            j = (i + 1) % len(pool)
            while j in taken and len(taken) < len(pool):
                j = (j + 1) % len(pool)
            if j not in taken:
                taken.add(j)
                repl.append(j)
        check(repl)
        chosen += [j for j in repl if status[j] is None]
        pending = [j for j in repl if status[j] is not None]
    bad = [(pool[i], why) for i, why in sorted(status.items()) if why is not None]
    return [pool[i] for i in sorted(chosen)], bad


def _pick_test(samples: list[Sample], per_class: int, seed: int, notes: list[str]) -> set[int]:
    """Patient-grouped test indices: `per_class` per class (half a class that is too small)."""
    if per_class <= 0 or not samples:
        return set()
    from ablate.data.splits import grouped_pick

    names = [c for c in CXR5 if any(s.label == c for s in samples)]
    labels = [names.index(s.label) for s in samples]
    have = Counter(labels)
    need = {}
    for c, n in have.items():
        need[c] = per_class if n > per_class else n // 2
        if need[c] < per_class:
            notes.append(f"class {names[c]} has only {n} images: {need[c]} go to the test split instead of {per_class}")
    idx = np.arange(len(samples))
    try:
        return set(grouped_pick(samples, labels, idx, need, seed, "test", names).tolist())
    except DataError:
        return _greedy_groups(samples, labels, need, seed, notes, names)


def _greedy_groups(samples: list[Sample], labels: list[int], need: dict[int, int], seed: int, notes: list[str], names: list[str]) -> set[int]:
    """Whole patient groups in seeded order while they fit (when exact counts are impossible)."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(samples):
        groups[s.group].append(i)
    order = list(groups.values())
    random.Random(seed).shuffle(order)
    left, picked = dict(need), set()
    for g in order:
        cnt = Counter(labels[i] for i in g)
        if all(cnt[c] <= left.get(c, 0) for c in cnt):
            picked.update(g)
            for c, n in cnt.items():
                left[c] -= n
    for c, n in left.items():
        if n:
            notes.append(f"class {names[c]}: whole patients give {need[c] - n} test images, not {need[c]}")
    return picked


def _note(built: int, target: int, table1: int, available: int, unreadable: int) -> str:
    parts = []
    if built < table1:
        parts.append(f"capped at {target}" if target < table1 and built >= target else f"the source has {available}")
    if unreadable:
        parts.append(f"{unreadable} unreadable skipped")
    return "; ".join(parts)


def _check_out(out: Path) -> None:
    if out.exists() and not (out.is_dir() and (not any(out.iterdir()) or (out / "build.json").is_file())):
        raise DataError(f"--out {out} exists and is not an earlier `ablate data build` output; choose a new folder or remove it")


def _place(samples: list[Sample], tmp: Path, link: bool) -> list[Sample]:
    """Link or copy every image to tmp/images/<source>/<label>/<name>; samples with the new paths."""
    used: set[Path] = set()
    out = []
    for s in samples:
        src = Path(os.path.abspath(s.path))
        folder = tmp / "images" / s.source.lower() / s.label
        dest, k = folder / src.name, 1
        while dest in used:
            k += 1
            dest = folder / f"{src.stem}-{k}{src.suffix}"
        used.add(dest)
        folder.mkdir(parents=True, exist_ok=True)
        if link:
            os.symlink(src, dest)
        else:
            shutil.copy2(src, dest)
        out.append(Sample(str(dest), s.label, s.patient_id, s.source, split=s.split))
    return out


def _swap_in(tmp: Path, out: Path) -> None:
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.rename(out, old)
    try:
        os.rename(tmp, out)
    except OSError:
        if old is not None:
            os.rename(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write_skipped(path: Path, skipped: list[tuple[Sample, str]]) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "source", "label", "reason"])
        for s, why in skipped:
            w.writerow([s.path, s.source, s.label, why])


def build_cxr5(
    sources: Mapping[str, str | Path],
    out: str | Path,
    *,
    test_per_class: int = 200,
    seed: int = 0,
    link: bool = True,
    skip_bad: bool = False,
    caps: Mapping[str, int] | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> BuildReport:
    """Build CXR-5 from whichever sources are given; missing ones are reported as short.

    Args:
        sources: ``{"ds1": path, ...}``: each the folder a source was unpacked into (or one above).
        out: output folder (created; an earlier build there is replaced).
        test_per_class: patient-grouped test images per class (0: no test split).
        seed: phase of the evenly spaced sampling and the test split.
        link: symlink the images (True) or copy them.
        skip_bad: drop unreadable images (replaced by the next candidate, listed in skipped.csv)
            instead of failing.
        caps: per-source caps overriding Table 1, ``{"ds7.bacterial": 100, "ds1": 50}``.
        workers: threads checking images (None: Python's default).
        progress: called with one-line progress messages.

    Raises:
        ConfigError: an unknown source key or cap.
        DataError: a source folder in an unexpected layout, unreadable images (without
            `skip_bad`), or an output folder that is not an earlier build.
    """
    say = progress or (lambda _msg: None)
    given = {_spec(k).key: Path(p).expanduser() for k, p in sources.items()}
    if not given:
        raise ConfigError("no source given; pass at least one, e.g. --source ds4=PATH (sources: ds1..ds7)")
    cap = _resolve_caps(caps or {})
    out = Path(out).expanduser()
    _check_out(out)
    candidates = {}
    for key, path in given.items():
        candidates[key] = read_source(key, path)
        say(f"{key}: {len(candidates[key])} candidate images in {path}")
    rows: list[BuildRow] = []
    picked: list[Sample] = []
    bad: list[tuple[Sample, str]] = []
    for spec in SOURCES.values():
        for label in spec.classes:
            table1 = TABLE1[(spec.name, label)]
            target = cap.get((spec.name, label), table1)
            if spec.key not in given:
                rows.append(BuildRow(spec.name, label, 0, target, 0, 0, table1, f"not given (--source {spec.key}=PATH)"))
                continue
            pool = [s for s in candidates[spec.key] if s.label == label]
            chosen, wrong = _pick(pool, target, f"{seed}:{spec.name}:{label}", skip_bad, workers)
            picked += chosen
            bad += wrong
            note = _note(len(chosen), target, table1, len(pool), len(wrong))
            rows.append(BuildRow(spec.name, label, len(pool), target, len(chosen), 0, table1, note))
            say(f"{spec.key} {label}: {len(chosen)} of {len(pool)} picked")
    if bad and not skip_bad:
        listed = "; ".join(f"{s.path} ({why})" for s, why in bad[:3])
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise DataError(f"{len(bad)} unreadable image(s): {listed}{more}; re-download them or pass --skip-bad to leave them out")
    notes: list[str] = []
    test = _pick_test(picked, test_per_class, seed, notes)
    picked = [Sample(s.path, s.label, s.patient_id, s.source, split="test" if i in test else "train") for i, s in enumerate(picked)]
    tests = Counter((s.source, s.label) for s in picked if s.split == "test")
    for r in rows:
        r.test = tests[(r.source, r.label)]
    report = BuildReport(out, rows, [(s.path, why) for s, why in bad], notes)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    umask = os.umask(0)
    os.umask(umask)
    try:
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private
        placed = _place(picked, tmp, link)
        _write_skipped(tmp / "skipped.csv", bad)
        settings = {"sources": {k: str(v) for k, v in given.items()}, "test_per_class": test_per_class, "seed": seed,
                    "link": link, "skip_bad": skip_bad, "caps": dict(caps or {})}
        (tmp / "build.json").write_text(json.dumps({"settings": settings, **report.to_dict()}, indent=1))
        write_manifest(placed, tmp / "manifest.csv").chmod(0o666 & ~umask)
        _swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return report
