"""A run Tune does not know is adopted on ``--resume``, not left behind.

Tune saves its experiment state (which trials exist) every few seconds. A sweep killed after
a trial started but before the next save leaves a run in storage (``train/<row id>/``, maybe
with epoch checkpoints) that the restored experiment does not list, and a searcher restored
from that same save, which has not issued it. Left alone, the searcher would sample a new
configuration in its place and the run's work would be lost.

So a stage's searcher keeps what it issues for each run in storage before Tune gets it
(``train/<row id>/suggested.json``: the config Tune is given, the stage, the Optuna trial it
belongs to), and, on its first suggestion after a restore, lists the runs of its sweep and
stage that it has not issued: it hands those out again first, oldest first, each with its own
``ray_trial_id``. Tune starts a new trial for each; the trial's driver works on the run the
config names (`ablate.runners.ray.driver`), so it continues from the run's newest checkpoint,
its rows get the run's id, and the Optuna trial asked for it is the one told. A run that had
already ended (its rows committed) reports its final checkpoint again and keeps its rows.
The searcher's counters are brought to what issuing the run did, so a sweep still ends with
its number of trials, each once. Each adopted run is named on stderr.
"""

from __future__ import annotations

import json
import logging
import time
from abc import ABCMeta, abstractmethod
from pathlib import Path
from typing import Any

from ray.tune.search import Searcher

from ablate.runners.sweep_results import RunStore, row_id_for

__all__ = ["AdoptingSearcher"]

log = logging.getLogger(__name__)


class AdoptingSearcher(Searcher, metaclass=ABCMeta):
    """A searcher that keeps what it issues in storage and adopts its own unknown runs on resume.

    Subclasses implement `_suggest_new` (returning `_issue(payload, group)`) and `_readopt`
    (the bookkeeping issuing a payload did); `_STATE` names the attributes saved in Tune's
    experiment (as JSON: plain data only).
    """

    _STATE: tuple[str, ...] = ("_runs",)
    _stage = "search"

    def __init__(self, metric: str | None = None, mode: str | None = None) -> None:
        super().__init__(metric=metric, mode=mode)
        self._store: RunStore | None = None
        self._sweep_name = ""
        self._runs: list[str] = []  # run ids (``ray_trial_id``) issued: those Tune's saved state lists
        self._adopt: list[tuple[dict[str, Any], str]] | None = None  # None: storage not read yet

    def keep_in(self, store: RunStore, sweep_name: str, results_dir: str | Path | None = None) -> None:
        """Keep each run's suggestion under `store` (the sweep's ``train/``); a search keeps its
        Optuna studies in `results_dir` (`ablate.runners.ray.studies.JOURNAL`)."""
        self._store, self._sweep_name = store, sweep_name

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        if self._adopt is None:
            self._adopt = self._orphans()
            self._recover_studies({group for _, group in self._adopt})
        if self._adopt:
            payload, group = self._adopt.pop(0)
            self._readopt(trial_id, payload, group)
            self._runs.append(payload["ray_trial_id"])
            run = row_id_for(self._sweep_name, payload["ray_trial_id"])
            log.warning("adopting run %s: it started before the sweep stopped, after Tune's last saved state; "
                        "it continues from its checkpoint as Tune trial %s", run, trial_id)
            return payload
        return self._suggest_new(trial_id)

    def _issue(self, payload: dict[str, Any], group: str) -> dict[str, Any]:
        """Record `payload` (issued for Tune) in storage, then return it."""
        self._runs.append(payload["ray_trial_id"])
        if self._store is not None:
            self._store.save_suggestion(row_id_for(self._sweep_name, payload["ray_trial_id"]), {
                "sweep": self._sweep_name, "stage": self._stage, "group": group, "issued": time.time(),
                "config": payload})
        return payload

    def _orphans(self) -> list[tuple[dict[str, Any], str]]:
        """(config, group) of this stage's runs in storage that this searcher has not issued, oldest first."""
        if self._store is None:
            return []
        known = set(self._runs)
        found = [r for r in self._store.suggestions(row_id_for(self._sweep_name, "")).values()
                 if r.get("sweep") == self._sweep_name and r.get("stage") == self._stage
                 and r["config"]["ray_trial_id"] not in known]
        return [(r["config"], r["group"]) for r in sorted(found, key=lambda r: r["issued"])]

    @abstractmethod
    def _suggest_new(self, trial_id: str) -> dict[str, Any] | str | None:
        """The next new configuration for `trial_id` (a stage's own choice)."""

    @abstractmethod
    def _readopt(self, trial_id: str, payload: dict[str, Any], group: str) -> None:
        """Count a re-issued run as issued by this searcher (its point, its Optuna trial)."""

    def _recover_studies(self, adopted_groups: set[str]) -> None:
        """After a restore: settle the Optuna trials of runs that are lost (searches only)."""

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "w") as f:
            json.dump({k: getattr(self, k) for k in self._STATE}, f, default=str)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path) as f:
            state = json.load(f)
        for k in self._STATE:
            setattr(self, k, state[k])
        self._adopt = None  # storage is read again at the next suggestion
