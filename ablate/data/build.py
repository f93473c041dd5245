"""Build the paper's CXR-5 dataset (Table 1) from the public sources in their native layouts.

``build_cxr5({"ds1": PATH, "ds4": PATH, ...}, out)`` reads each source (the readers are in
:mod:`ablate.data.sources`), takes up to Table 1's count per class and source (deterministic:
natural sort, then evenly spaced with a seeded phase), checks that every picked image decodes,
picks a patient-grouped test split of ``test_per_class`` images per class and writes
``out/manifest.csv`` (path, label, patient_id, source, split), the images under
``out/images/<source>/<label>/`` (symlinks or copies), ``out/skipped.csv`` and
``out/build.json``. The output is built in a temporary folder beside ``out`` and renamed into
place at the end (:func:`ablate.atomic.atomic_dir`), so a failed build leaves nothing
half-written.
"""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ablate.atomic import atomic_dir
from ablate.data.build_report import BuildReport, BuildRow
from ablate.data.images import check_image
from ablate.data.samples import Sample, write_manifest
from ablate.data.scenarios import CXR5, canonical_label
from ablate.data.sources import get_source, list_sources, read_source, source_specs
from ablate.data.splits import grouped_pick
from ablate.errors import ConfigError, DataError

__all__ = [
    "TABLE1",
    "BuildReport",
    "BuildRow",
    "build_cxr5",
    "evenly_spaced",
    "read_source",
    "resolve_caps",
]

Progress = Callable[[str], None]

# Table 1 of the paper: images per (source, class), from the registered sources' metadata
TABLE1: dict[tuple[str, str], int] = {
    (s.name, c): n for s in source_specs() for c, n in s.table1.items()
}


def evenly_spaced(n: int, k: int, seed: str | int = 0) -> list[int]:
    """``k`` of ``range(n)`` spread evenly, with a phase drawn from `seed` (all when k >= n)."""
    if k >= n:
        return list(range(n))
    if k <= 0:
        return []
    step = n / k
    phase = random.Random(str(seed)).random()
    return [int((i + phase) * step) for i in range(k)]


def resolve_caps(caps: Mapping[str, int]) -> dict[tuple[str, str], int]:
    """Caps by source key (and class) -> caps by (source name, label).

    ``{"ds7.bacterial": 100, "ds4": 50}`` -> ``{("DS7", "bacterial_pneumonia"): 100,
    ("DS4", "covid"): 50, ("DS4", "normal"): 50}``.

    Raises:
        ConfigError: an unknown source, or a class the source does not have.
    """
    out: dict[tuple[str, str], int] = {}
    for key, n in caps.items():
        src, _, cls = key.strip().lower().partition(".")
        spec = get_source(src)
        if cls:
            label = canonical_label(cls)
            if label not in spec.classes:
                raise ConfigError(
                    f"--cap {key}: {spec.key} has class(es) {', '.join(spec.classes)}, not {cls!r}"
                )
            labels: tuple[str, ...] = (label,)
        else:
            labels = spec.classes
        for label in labels:
            out[(spec.name, label)] = int(n)
    return out


# --------------------------------------------------------------------------- picking


def _check_all(paths: list[str], workers: int | None) -> list[str | None]:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(check_image, paths))


def _pick(
    pool: list[Sample], k: int, seed: str, skip_bad: bool, workers: int | None
) -> tuple[list[Sample], list[tuple[Sample, str]]]:
    """Evenly spaced picks; with `skip_bad`, an unreadable pick yields to the next readable one."""
    idx = evenly_spaced(len(pool), k, seed)
    status: dict[int, str | None] = {}

    def check(ids: list[int]) -> None:
        for i, why in zip(ids, _check_all([pool[i].path for i in ids], workers), strict=True):
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
    """Patient-grouped test indices: `per_class` per class (half a class that is too small).

    Whole patients that cannot make a count exactly give fewer test images, with a note.
    """
    if per_class <= 0 or not samples:
        return set()
    names = [c for c in CXR5 if any(s.label == c for s in samples)]
    labels = [names.index(s.label) for s in samples]
    need = {}
    for c, n in Counter(labels).items():
        need[c] = per_class if n > per_class else n // 2
        if need[c] < per_class:
            notes.append(
                f"class {names[c]} has only {n} images: "
                f"{need[c]} go to the test split instead of {per_class}"
            )
    idx = np.arange(len(samples))
    test = grouped_pick(samples, labels, idx, need, seed, "test", names, exact=False).tolist()
    got = Counter(labels[i] for i in test)
    for c in sorted(need):
        if got[c] < need[c]:
            notes.append(
                f"class {names[c]}: whole patients give {got[c]} test images, not {need[c]}"
            )
    return set(test)


def _note(built: int, target: int, table1: int, available: int, unreadable: int) -> str:
    parts = []
    if built < table1:
        parts.append(
            f"capped at {target}"
            if target < table1 and built >= target
            else f"the source has {available}"
        )
    if unreadable:
        parts.append(f"{unreadable} unreadable skipped")
    return "; ".join(parts)


def _pick_all(
    given: Mapping[str, Path],
    cap: Mapping[tuple[str, str], int],
    seed: int,
    skip_bad: bool,
    workers: int | None,
    say: Progress,
) -> tuple[list[BuildRow], list[Sample], list[tuple[Sample, str]]]:
    """Rows for every registered (source, class), the picked samples and the unreadable picks."""
    candidates = {}
    for key, path in given.items():
        candidates[key] = read_source(key, path)
        say(f"{key}: {len(candidates[key])} candidate images in {path}")
    rows: list[BuildRow] = []
    picked: list[Sample] = []
    bad: list[tuple[Sample, str]] = []
    for spec in source_specs():
        for label, table1 in spec.table1.items():
            target = cap.get((spec.name, label), table1)
            if spec.key not in given:
                rows.append(
                    BuildRow(
                        spec.name,
                        label,
                        0,
                        target,
                        0,
                        0,
                        table1,
                        f"not given (--source {spec.key}=PATH)",
                    )
                )
                continue
            pool = [s for s in candidates[spec.key] if s.label == label]
            chosen, wrong = _pick(pool, target, f"{seed}:{spec.name}:{label}", skip_bad, workers)
            picked += chosen
            bad += wrong
            note = _note(len(chosen), target, table1, len(pool), len(wrong))
            rows.append(BuildRow(spec.name, label, len(pool), target, len(chosen), 0, table1, note))
            say(f"{spec.key} {label}: {len(chosen)} of {len(pool)} picked")
    return rows, picked, bad


# --------------------------------------------------------------------------- writing


def _check_out(out: Path) -> None:
    if out.exists() and not (
        out.is_dir() and (not any(out.iterdir()) or (out / "build.json").is_file())
    ):
        raise DataError(
            f"--out {out} exists and is not an earlier `ablate data build` output; "
            "choose a new folder or remove it"
        )


def _place(samples: list[Sample], tmp: Path, link: bool) -> list[Sample]:
    """Link or copy each image to tmp/images/<source>/<label>/<name>; samples with the new paths."""
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


def _write_skipped(path: Path, skipped: list[tuple[Sample, str]]) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "source", "label", "reason"])
        for s, why in skipped:
            w.writerow([s.path, s.source, s.label, why])


def _write(
    out: Path, picked: list[Sample], bad: list[tuple[Sample, str]], link: bool, meta: dict
) -> None:
    """Publish images/, skipped.csv, build.json and manifest.csv as `out` in one rename."""
    umask = os.umask(0)
    os.umask(umask)
    with atomic_dir(out, replace=True) as tmp:
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private
        placed = _place(picked, tmp, link)
        _write_skipped(tmp / "skipped.csv", bad)
        (tmp / "build.json").write_text(json.dumps(meta, indent=1))
        write_manifest(placed, tmp / "manifest.csv").chmod(0o666 & ~umask)


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
    given = {get_source(k).key: Path(p).expanduser() for k, p in sources.items()}
    if not given:
        keys = list_sources()
        raise ConfigError(
            "no source given; pass at least one, e.g. --source ds4=PATH "
            f"(sources: {keys[0]}..{keys[-1]})"
        )
    cap = resolve_caps(caps or {})
    out = Path(out).expanduser()
    _check_out(out)
    rows, picked, bad = _pick_all(given, cap, seed, skip_bad, workers, say)
    if bad and not skip_bad:
        listed = "; ".join(f"{s.path} ({why})" for s, why in bad[:3])
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise DataError(
            f"{len(bad)} unreadable image(s): {listed}{more}; "
            "re-download them or pass --skip-bad to leave them out"
        )
    notes: list[str] = []
    test = _pick_test(picked, test_per_class, seed, notes)
    picked = [
        Sample(s.path, s.label, s.patient_id, s.source, split="test" if i in test else "train")
        for i, s in enumerate(picked)
    ]
    tests = Counter((s.source, s.label) for s in picked if s.split == "test")
    for r in rows:
        r.test = tests[(r.source, r.label)]
    report = BuildReport(out, rows, [(s.path, why) for s, why in bad], notes)
    settings = {
        "sources": {k: str(v) for k, v in given.items()},
        "test_per_class": test_per_class,
        "seed": seed,
        "link": link,
        "skip_bad": skip_bad,
        "caps": dict(caps or {}),
    }
    _write(out, picked, bad, link, {"settings": settings, **report.to_dict()})
    return report
