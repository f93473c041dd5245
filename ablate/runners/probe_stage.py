"""The probe stage of ``ablate run`` on the driver side (Ray-free): each probe trial's
``probes`` row written exactly once.

A probe-stage trial trains like any stage trial (`ablate.runners.ray.worker`) and leaves its
``probes`` row (`ablate.probe.source.probe_row`) in its ``final`` checkpoint in the run store.
`record_probe` copies it to ``RESULTS/probes/<row id>.parquet``; a trial that ended without one
(bad data, a crash after Tune's retries) gets a ``failed`` row with the reason, which the
report leaves out; the sweep goes on. The row id is the stage's ``<sweep>-<Tune trial
id>``, stable across ``--resume``, and a committed ``ok`` row is never rewritten.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ablate.config import SweepConfig
from ablate.probe.source import write_probe_row
from ablate.results.layout import COMPACTED, compacted_rows_of, file_name, read_file
from ablate.runners.sweep_results import (
    FINAL,
    RunStore,
    TrialEnd,
    partial_tables,
    row_id_for,
    sweep_columns,
)

__all__ = ["committed_probe", "reconcile_probes", "record_probe"]


def committed_probe(results_dir: str | Path, row_id: str) -> dict[str, Any] | None:
    """A probe trial's ``probes`` row (per-trial or compacted), or None when it has none."""
    folder, name = Path(results_dir) / "probes", file_name(row_id)
    try:
        if (folder / name).is_file():
            rows = read_file(folder / name).to_pylist()
        else:
            found = compacted_rows_of(folder / COMPACTED, name[: -len(".parquet")])
            rows = found.to_pylist() if found is not None else []
    except (OSError, ValueError):
        return None
    return rows[0] if len(rows) == 1 else None


def record_probe(results_dir: str | Path, sweep: SweepConfig, end: TrialEnd, store: RunStore) -> dict[str, Any]:
    """Write one ended probe trial's ``probes`` row (from its ``final`` checkpoint, else ``failed``)."""
    row_id = row_id_for(sweep.name, end.ray_trial_id)
    kept = committed_probe(results_dir, row_id)
    if kept is not None and kept.get("status") == "ok":
        return kept
    row = _final_row(store, row_id)
    if row is None:
        reason = str(end.last_result.get("reason") or end.error or "the probe trial ended without a result")
        row = partial_tables(sweep, row_id, end, {}, "failed", reason)["trials"][0]
        row.update(probe_labels=None, n_correct=None, chance=float("nan"), chance_label=None, test_counts=None)
    row.update(sweep_columns(sweep, end))  # stage, probe, probe_task, probe_data
    write_probe_row(Path(results_dir), row_id, row)
    return row


def _final_row(store: RunStore, row_id: str) -> dict[str, Any] | None:
    for ckpt in store.checkpoints(row_id):
        if Path(ckpt).name != FINAL:
            return None
        try:
            rows = store.tables(ckpt)["probes"]
        except (OSError, ValueError):  # torn by a crash while it was written
            return None
        return rows[0] if len(rows) == 1 else None
    return None


def reconcile_probes(results_dir: str | Path, sweep: SweepConfig, ends: Iterable[TrialEnd], store: RunStore
                     ) -> list[str]:
    """Write every ended probe trial without a committed ``ok`` row; returns their row ids."""
    written = []
    for end in ends:
        row_id = row_id_for(sweep.name, end.ray_trial_id)
        kept = committed_probe(results_dir, row_id)
        if kept is None or kept.get("status") != "ok":
            record_probe(results_dir, sweep, end, store)
            written.append(row_id)
    return written
