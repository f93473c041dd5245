"""Result tables: schemas (`schema`), atomic per-trial writes and `load()` (`store`), and
`compact()`, which merges the per-trial files into one file per table (`compaction`, `layout`).

The names below load lazily: checking a results folder's lock (`ablate.results.lock`) before a
run must not import pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ablate.results.compaction import compact
    from ablate.results.schema import TABLES, schema_for, table_from_rows
    from ablate.results.store import Results, committed_trials, load, write_trial

_HOMES = {"compact": "compaction", "TABLES": "schema", "schema_for": "schema", "table_from_rows": "schema",
          "Results": "store", "committed_trials": "store", "load": "store", "write_trial": "store"}

__all__ = [
    "TABLES", "Results", "committed_trials", "compact", "load", "schema_for", "table_from_rows", "write_trial",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'ablate.results' has no attribute {name!r}")
    return getattr(importlib.import_module(f"ablate.results.{_HOMES[name]}"), name)
