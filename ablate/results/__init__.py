"""Result tables: schemas (`schema`), atomic per-trial writes and `load()` (`store`), and
`compact()`, which merges the per-trial files into one file per table (`compaction`, `layout`)."""

from __future__ import annotations

from ablate.results.compaction import compact
from ablate.results.schema import TABLES, schema_for, table_from_rows
from ablate.results.store import Results, committed_trials, load, write_trial

__all__ = [
    "TABLES", "Results", "committed_trials", "compact", "load", "schema_for", "table_from_rows", "write_trial",
]
