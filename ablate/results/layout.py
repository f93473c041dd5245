"""Where a results table's rows live on disk: per-trial files and one compacted file.

``RESULTS/<table>/<trial>.parquet`` holds one trial's rows (written while trials finish);
``RESULTS/<table>/compacted.parquet`` holds the rows of many trials, merged by
`ablate.results.compact`. The compacted file records, in its schema metadata, which per-trial
file each run of rows came from (``{"stems": [...], "rows": [...]}``, rows in that order), so a
reader can drop the rows of a trial whose per-trial file is newer (a trial rewritten after
compaction) and a trial is counted once wherever its rows are.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ablate.atomic import atomic_file

__all__ = [
    "COMPACTED", "ROW_GROUP", "Compacted", "compacted_rows_of", "compacted_stems", "concat", "file_name",
    "read_compacted", "read_file", "trial_files", "write_compacted",
]

COMPACTED = "compacted.parquet"
_META = b"ablate.compacted"
ROW_GROUP = 8192  # rows per row group: `committed_row` reads one trial's group, not the whole table
_SAFE = re.compile(r"[^A-Za-z0-9._=-]+")


def file_name(trial_id: str) -> str:
    """The per-trial file name of a trial id (unsafe characters replaced by ``_``).

    Raises:
        ValueError: the id names the compacted file.
    """
    name = _SAFE.sub("_", trial_id) + ".parquet"
    if name == COMPACTED:
        raise ValueError(f"trial id {trial_id!r} is reserved (the compacted file {COMPACTED})")
    return name


def trial_files(folder: Path) -> dict[str, Path]:
    """Per-trial files of a table folder by stem (temporary ``.tmp-*`` files and the compacted one left out)."""
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return {}
    return {e.name[:-8]: Path(e.path) for e in entries
            if e.name.endswith(".parquet") and e.name != COMPACTED and not e.name.startswith(".") and e.is_file()}


def read_file(path: Path) -> pa.Table:
    """One Parquet file (without the dataset machinery of `pq.read_table`: half the time per small file)."""
    with pq.ParquetFile(path) as f:
        return f.read(use_threads=False)


@dataclass(frozen=True)
class Compacted:
    """A compacted file's rows and, in row order, the per-trial file (stem) each run of rows came from."""

    table: pa.Table
    stems: list[str]
    rows: list[int]

    def without(self, drop: set[str], keep_only: set[str] | None = None) -> pa.Table:
        """The rows except those of stems in `drop` (and, given `keep_only`, of stems outside it)."""
        kept = [s not in drop and (keep_only is None or s in keep_only) for s in self.stems]
        if all(kept):
            return self.table
        return self.table.filter(pa.array(np.repeat(np.array(kept, dtype=bool), self.rows)))


def _groups(schema: pa.Schema | None) -> tuple[list[str], list[int]]:
    meta = json.loads((schema.metadata or {}).get(_META, b"{}")) if schema is not None else {}
    return list(meta.get("stems", [])), list(meta.get("rows", []))


def read_compacted(path: Path) -> Compacted | None:
    """A table's compacted file, or None when there is none."""
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        return None
    stems, rows = _groups(table.schema)
    if sum(rows) != table.num_rows or len(stems) != len(rows):
        raise ValueError(f"{path}: its row map does not match its {table.num_rows} rows; it was not written by ablate")
    return Compacted(table.replace_schema_metadata(None), stems, rows)


def compacted_rows_of(path: Path, stem: str) -> pa.Table | None:
    """The rows one per-trial file (`stem`) left in a compacted file, reading only the row
    groups that hold them; None when it holds none."""
    try:
        f = pq.ParquetFile(path)
    except FileNotFoundError:
        return None
    with f:
        stems, rows = _groups(f.schema_arrow)
        if stem not in stems:
            return None
        i = stems.index(stem)
        start, n = sum(rows[:i]), rows[i]
        groups, first, at = [], None, 0
        for g in range(f.metadata.num_row_groups):
            size = f.metadata.row_group(g).num_rows
            if at + size > start and at < start + n:
                groups.append(g)
                first = at if first is None else first
            at += size
        return f.read_row_groups(groups, use_threads=False).slice(start - (first or 0), n).replace_schema_metadata(None)


def compacted_stems(path: Path) -> list[str]:
    """The per-trial files a compacted file holds (its footer only is read); [] when there is none."""
    try:
        return _groups(pq.read_schema(path))[0]
    except FileNotFoundError:
        return []


def write_compacted(path: Path, tables: list[pa.Table], stems: list[str], rows: list[int]) -> None:
    """Publish (atomically) the compacted file of `tables`, whose rows came from `stems`, `rows` each."""
    table = concat(tables).combine_chunks()  # one chunk: a file of thousands of tiny pages writes 8x slower
    if sum(rows) != table.num_rows or len(stems) != len(rows):
        raise ValueError("the row map does not match the rows")
    table = table.replace_schema_metadata({_META: json.dumps({"stems": stems, "rows": rows}).encode()})
    with atomic_file(path) as tmp:
        pq.write_table(table, tmp, row_group_size=ROW_GROUP)


def concat(tables: list[pa.Table]) -> pa.Table:
    """One table of all rows, columns in order of first appearance, types unified.

    Numbers widen (int and float: float); a column whose types cannot be unified (a value that
    is a number in one trial and text in another) becomes text, instead of failing the read.
    """
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        types: dict[str, set[pa.DataType]] = {}
        for t in tables:
            for f in t.schema:
                types.setdefault(f.name, set()).add(f.type)
        clash = {n for n, ts in types.items() if len({t for t in ts if not pa.types.is_null(t)}) > 1}
        fixed = []
        for t in tables:
            for n in clash & set(t.column_names):
                i = t.schema.get_field_index(n)
                t = t.set_column(i, pa.field(n, pa.string()), t.column(n).cast(pa.string()))
            fixed.append(t)
        return pa.concat_tables(fixed, promote_options="permissive")
