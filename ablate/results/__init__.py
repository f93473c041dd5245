"""Result tables: schemas (`schema`), atomic per-trial writes and `load()` (`store`)."""

from __future__ import annotations

from ablate.results.schema import TABLES, schema_for, table_from_rows
from ablate.results.store import Results, committed_trials, load, write_trial

__all__ = ["TABLES", "Results", "committed_trials", "load", "schema_for", "table_from_rows", "write_trial"]
