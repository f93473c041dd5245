"""Writing a trial's rows (atomically, exactly once) and loading results as pandas frames.

Layout (`ablate.results.layout`): ``RESULTS/<table>/<trial_id>.parquet`` while trials finish,
merged by `ablate.results.compact` into ``RESULTS/<table>/compacted.parquet`` when a run ends.
Each file is published with `ablate.atomic.atomic_file` (a temp name, then a rename); the
``trials`` file is written last and marks the trial as committed, so a crash mid-write leaves
no visible partial trial (``load`` ignores rows without a trials row, per-trial or compacted).
Writing the same trial again replaces its rows: its per-trial files are read in place of its
compacted rows, so there is one row per trial, however often it runs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ablate.atomic import atomic_file
from ablate.results.layout import (
    COMPACTED,
    compacted_rows_of,
    compacted_stems,
    concat,
    file_name,
    read_compacted,
    read_file,
    trial_files,
)
from ablate.results.schema import SELF_COMMITTED, TABLES, table_from_rows

__all__ = ["Results", "committed_trials", "load", "write_trial"]

def write_trial(results_dir: str | Path, trial_id: str, tables: Mapping[str, list[dict[str, Any]]]) -> None:
    """Write one trial's rows; the trials table last, as the commit marker."""
    root = Path(results_dir)
    if "trials" not in tables or len(tables["trials"]) != 1:
        raise ValueError("a trial writes exactly one trials row")
    fname = file_name(trial_id)
    arrow = {name: table_from_rows(name, rows) for name, rows in tables.items() if rows}
    for name in sorted(arrow, key=lambda n: n == "trials"):
        _atomic_write(arrow[name], root / name / fname)


def _atomic_write(table: pa.Table, path: Path) -> None:
    with atomic_file(path) as tmp:
        pq.write_table(table, tmp)


def committed_row(results_dir: str | Path, trial_id: str) -> dict[str, Any] | None:
    """A trial's committed trials row (per-trial or compacted), or None when it has none (or it cannot be read)."""
    folder = Path(results_dir) / "trials"
    name = file_name(trial_id)
    try:
        if (folder / name).is_file():
            rows = read_file(folder / name).to_pylist()
        else:
            found = compacted_rows_of(folder / COMPACTED, name[:-8])
            rows = found.to_pylist() if found is not None else []
    except (OSError, ValueError):
        return None
    return rows[0] if len(rows) == 1 else None


def committed_trials(results_dir: str | Path) -> set[str]:
    """File stems of trials whose rows are complete (per-trial or compacted)."""
    folder = Path(results_dir) / "trials"
    return set(trial_files(folder)) | set(compacted_stems(folder / COMPACTED))


class Results(Mapping[str, pd.DataFrame]):
    """Result tables by name (``res.trials`` or ``res["trials"]``)."""

    def __init__(self, frames: dict[str, pd.DataFrame], root: Path) -> None:
        self._frames = frames
        self.root = root

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self._frames[name]

    def __getattr__(self, name: str) -> pd.DataFrame:
        try:
            return self._frames[name]
        except KeyError:
            raise AttributeError(name) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._frames)

    def __len__(self) -> int:
        return len(self._frames)


def load(results_dir: str | Path) -> Results:
    """All tables of a results folder as pandas DataFrames (empty frames for absent tables)."""
    root = Path(results_dir)
    committed = committed_trials(root)
    names = list(TABLES) + sorted(
        p.name for p in root.glob("*") if p.is_dir() and p.name not in TABLES and any(p.glob("*.parquet"))
    )
    frames: dict[str, pd.DataFrame] = {}
    for name in names:
        table = read_rows(root / name, None if name in SELF_COMMITTED else committed)
        if table is None:
            schema = TABLES.get(name)
            frames[name] = schema.empty_table().to_pandas() if schema is not None else pd.DataFrame()
        else:
            frames[name] = table.to_pandas()
    return Results(frames, root)


def read_rows(folder: Path, committed: set[str] | None) -> pa.Table | None:
    """A table folder's rows: its compacted rows, except trials whose per-trial file replaces
    them, then the per-trial files; only trials in `committed` (every trial when None).
    None when there are no files. A compaction running meanwhile (a per-trial file gone
    between listing and reading it) makes it read the folder again."""
    for attempt in range(3):
        files = trial_files(folder)
        try:
            comp = read_compacted(folder / COMPACTED)
            parts = [] if comp is None else [comp.without(set(files), committed)]
            parts += [read_file(files[s]) for s in sorted(files) if committed is None or s in committed]
        except FileNotFoundError:
            if attempt == 2:
                raise
            continue
        return concat(parts) if parts else None
    return None
