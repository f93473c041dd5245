"""Writing a trial's rows (atomically, exactly once) and loading results as pandas frames.

Layout: ``RESULTS/<table>/<trial_id>.parquet``. Each file is published with
`ablate.atomic.atomic_file` (a temp name, then a rename); the ``trials`` file is written last
and marks the trial as committed, so a crash mid-write leaves no visible partial trial
(``load`` ignores rows without a trials row).
Writing the same trial again replaces its files: one row per trial, however often it runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ablate.atomic import atomic_file
from ablate.results.schema import SELF_COMMITTED, TABLES, table_from_rows

__all__ = ["Results", "committed_trials", "load", "write_trial"]

_SAFE = re.compile(r"[^A-Za-z0-9._=-]+")


def _file_name(trial_id: str) -> str:
    return _SAFE.sub("_", trial_id) + ".parquet"


def write_trial(results_dir: str | Path, trial_id: str, tables: Mapping[str, list[dict[str, Any]]]) -> None:
    """Write one trial's rows; the trials table last, as the commit marker."""
    root = Path(results_dir)
    if "trials" not in tables or len(tables["trials"]) != 1:
        raise ValueError("a trial writes exactly one trials row")
    arrow = {name: table_from_rows(name, rows) for name, rows in tables.items() if rows}
    for name in sorted(arrow, key=lambda n: n == "trials"):
        _atomic_write(arrow[name], root / name / _file_name(trial_id))


def _atomic_write(table: pa.Table, path: Path) -> None:
    with atomic_file(path) as tmp:
        pq.write_table(table, tmp)


def committed_row(results_dir: str | Path, trial_id: str) -> dict[str, Any] | None:
    """A trial's committed trials row, or None when it has none (or it cannot be read)."""
    path = Path(results_dir) / "trials" / _file_name(trial_id)
    try:
        rows = pq.read_table(path).to_pylist()
    except (OSError, ValueError):
        return None
    return rows[0] if len(rows) == 1 else None


def committed_trials(results_dir: str | Path) -> set[str]:
    """File stems of trials whose rows are complete."""
    d = Path(results_dir) / "trials"
    return {p.stem for p in d.glob("*.parquet")} if d.is_dir() else set()


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
    frames: dict[str, pd.DataFrame] = {}
    committed = committed_trials(root)
    names = list(TABLES) + sorted(
        p.name for p in root.glob("*") if p.is_dir() and p.name not in TABLES and any(p.glob("*.parquet"))
    )
    for name in names:
        files = sorted((root / name).glob("*.parquet")) if (root / name).is_dir() else []
        files = [f for f in files if f.stem in committed or name in SELF_COMMITTED]
        if not files:
            schema = TABLES.get(name)
            frames[name] = schema.empty_table().to_pandas() if schema is not None else pd.DataFrame()
            continue
        tables = [pq.read_table(f) for f in files]
        frames[name] = pa.concat_tables(tables, promote_options="permissive").to_pandas()
    return Results(frames, root)
