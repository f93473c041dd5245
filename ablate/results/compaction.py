"""Merging a results folder's per-trial files into one compacted file per table.

A 10,000-trial sweep writes 10,000 files per table; reading them one by one is slow, and
``pd.read_parquet("RESULTS/trials")`` takes the first file's columns for all of them. After
`compact`, each table folder holds one ``compacted.parquet`` whose schema is every trial's
columns, so one ``pd.read_parquet`` per table reads every row and every column.

Crash-safe by its order: every table's compacted file is published atomically (old compacted
rows, less those a newer per-trial file replaces, plus the committed per-trial files) before
any per-trial file is removed, and a reader counts a trial found in both places once (its
per-trial file wins, `ablate.results.store.read_rows`). Killed at any point, no row is lost or
doubled, and the next `compact` finishes the job. Run it with no writer at work on the folder
(at the end of a run, under its lock, or through `ablate results compact`, which takes it).
"""

from __future__ import annotations

import os
from pathlib import Path

from ablate.results.layout import COMPACTED, read_compacted, read_file, trial_files, write_compacted
from ablate.results.schema import SELF_COMMITTED, TABLES
from ablate.results.store import committed_trials

__all__ = ["UNCOMMITTED", "compact"]

UNCOMMITTED = ".uncommitted"  # per-table folder for rows of trials that never committed (a crash mid-write)


def compact(results_dir: str | Path) -> dict[str, int]:
    """Merge each table's committed per-trial files into its compacted file, then remove them.

    Rows of trials without a trials row (left by a crash in the middle of writing a trial) are
    moved to ``RESULTS/<table>/.uncommitted/``, out of what pandas reads; rewriting the trial
    writes them again.

    Returns:
        Per-trial files merged, by table (tables with none left out).
    """
    root = Path(results_dir)
    committed = committed_trials(root)
    merged: dict[str, int] = {}
    covered: list[tuple[Path, os.stat_result]] = []
    stray: list[Path] = []
    for name in TABLES:
        folder = root / name
        files = trial_files(folder)
        take = {s: p for s, p in sorted(files.items()) if name in SELF_COMMITTED or s in committed}
        stray += [p for s, p in files.items() if s not in take]
        if not take:
            continue
        seen = {s: p.stat() for s, p in take.items()}  # before reading: a rewrite since then is kept
        old = read_compacted(folder / COMPACTED)
        tables, stems, rows = [], [], []
        if old is not None:  # its rows, less the trials merged now (their per-trial file is newer)
            tables.append(old.without(set(take)))
            stems += [s for s in old.stems if s not in take]
            rows += [n for s, n in zip(old.stems, old.rows, strict=True) if s not in take]
        for s, p in take.items():
            tables.append(read_file(p))
            stems.append(s)
            rows.append(tables[-1].num_rows)
        write_compacted(folder / COMPACTED, tables, stems, rows)
        covered += [(take[s], seen[s]) for s in take]
        merged[name] = len(take)
    # every compacted file is in place: the per-trial files they hold can go (the trials
    # files last, though either order keeps every row exactly once)
    for path, st in sorted(covered, key=lambda c: c[0].parent.name == "trials"):
        _remove_if_unchanged(path, st)
    now_committed = committed_trials(root)  # a trial that committed meanwhile keeps its files
    for path in stray:
        if path.stem not in now_committed:
            _set_aside(path)
    return merged


def _remove_if_unchanged(path: Path, seen: os.stat_result) -> None:
    try:
        now = path.stat()
    except FileNotFoundError:
        return
    if (now.st_ino, now.st_mtime_ns, now.st_size) == (seen.st_ino, seen.st_mtime_ns, seen.st_size):
        path.unlink(missing_ok=True)


def _set_aside(path: Path) -> None:
    aside = path.parent / UNCOMMITTED
    aside.mkdir(exist_ok=True)
    os.replace(path, aside / path.name)
