"""Freeing the placement group of a Train run whose Tune trial ended before the run did.

When ASHA stops a data-parallel trial, Tune ends the trial's process; the Train controller
and workers it started end with it, but their placement group does not: a placement group
made by an actor lives until the job (``ablate run``) ends. Ray Train's own cleaner watches the
controller through the state API, which needs the dashboard (``ray[default]``); without it
the group would hold its CPUs/GPUs for the rest of the sweep. So the workers report their
group's id with every result (`ablate.runners.ray.worker.PG_KEY`), and `FreeEndedRuns`, a Tune
callback of the sweep's driver, removes the group of every ended or relaunched trial once
nothing runs in it (its workers gone: removing it earlier could let a controller that is still
alive start a new group). A group Train removed itself (a run that finished) is skipped.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import ray
from ray import tune
from ray.util.placement_group import PlacementGroup, placement_group_table, remove_placement_group

from ablate.runners.ray.worker import PG_KEY

log = logging.getLogger(__name__)
CHECK_EVERY_S = 1.0
_GONE = ("REMOVED",)


class FreeEndedRuns(tune.Callback):
    """Removes the Train placement group of each ended (or relaunched) trial once it is idle."""

    def __init__(self) -> None:
        self.pending: set[str] = set()
        self._checked = 0.0

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._add(trial)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._add(trial)

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._add(trial)

    def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
        if self.pending and time.monotonic() - self._checked >= CHECK_EVERY_S:
            self._checked = time.monotonic()
            self.pending = free_idle(self.pending)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        end = time.monotonic() + 10  # Tune has stopped every trial: their workers end within seconds
        while self.pending and time.monotonic() < end:
            self.pending = free_idle(self.pending)
            if self.pending:
                time.sleep(0.2)

    def _add(self, trial: Any) -> None:
        pg = (trial.last_result or {}).get(PG_KEY)
        if pg:
            self.pending.add(pg)


def free_idle(pending: set[str]) -> set[str]:
    """Remove each placement group (hex id) of `pending` that nothing runs in; returns those still busy."""
    available, total = ray.available_resources(), ray.cluster_resources()
    busy = set()
    for pg_hex in pending:
        pg = PlacementGroup(ray.PlacementGroupID.from_hex(pg_hex))
        try:
            state = placement_group_table(pg).get("state")
            if state in _GONE:
                continue
            key = f"bundle_group_{pg_hex}"  # Ray's per-group resource: all of it available = no task or actor in it
            if state == "CREATED" and available.get(key, 0.0) < total.get(key, 0.0):
                busy.add(pg_hex)
                continue
            remove_placement_group(pg)
        except Exception as e:  # noqa: BLE001 - removed meanwhile (Train's own shutdown)
            log.debug("placement group %s: %s", pg_hex, e)
    return busy
