"""Writing each trial's rows exactly once: a Tune callback as trials end, and a
reconciliation pass over the experiment after ``fit()`` (`ablate.runners.sweep_results`)."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ray import tune

from ablate.config import SweepConfig
from ablate.runners.ray.common import one_line
from ablate.runners.ray.live import LiveView
from ablate.runners.ray.timing import mark
from ablate.runners.sweep_results import RunStore, TrialEnd, reconcile, record_trial, row_id_for

log = logging.getLogger(__name__)


class Recorder(tune.Callback):
    """Writes each ended trial's rows and feeds the live view.

    Pickled into the Tune experiment (``tuner.pkl``): the view is left out of the pickle, and
    a restored run installs a fresh recorder (`ablate.runners.ray.resume.restore_tuner`).

    `trackers` are the stage's tracking callbacks (`ablate.runners.ray.tracking`), later in the
    callback list: a trial's tracked runs started with it, so its row names them (``tracking_ids``).
    """

    def __init__(self, results_dir: Path, sweep: SweepConfig, store: RunStore, view: LiveView | None,
                 trackers: Sequence[Any] = ()) -> None:
        self.results_dir, self.sweep, self.store, self.view = results_dir, sweep, store, view
        self.trackers = list(trackers)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "view": None}

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if self.view:
            self.view.started(run_id(trial), shown_values(trial.config))

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        if self.view:
            self.view.result(run_id(trial), result)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._ended(trial, errored=False)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._ended(trial, errored=True)

    def _ended(self, trial: Any, errored: bool) -> None:
        mark("trial_ended", row_id=row_id_for(self.sweep.name, run_id(trial)))
        last = dict(trial.last_result or {})
        error = one_line(trial.get_error()) if errored else ""
        end = TrialEnd.from_tune(trial.trial_id, trial.config, errored, last, error)
        ids = {t.kind: ref for t in self.trackers if (ref := t.ref(trial))}
        end = dataclasses.replace(end, tracking_ids=ids) if ids else end
        try:
            row = record_trial(self.results_dir, self.sweep, end, self.store)
        except Exception as e:  # noqa: BLE001 - the reconciliation pass writes it after fit()
            log.warning("could not record trial %s now (%s); it is written when the sweep ends", trial.trial_id, e)
            return
        mark("trial_recorded", row_id=row["trial_id"])
        if self.view:
            self.view.ended(run_id(trial), row)


def run_id(trial: Any) -> str:
    """The run a Tune trial works on: its own id, or the adopted run's (`ablate.runners.ray.adopt`)."""
    return str(trial.config.get("ray_trial_id") or trial.trial_id)


def shown_values(config: dict[str, Any]) -> dict[str, Any]:
    """What a trial's start line shows: its searched values, and for a confirm or ablation trial
    its rank or variant, a probe trial's task, and the seed and fold."""
    values = dict(config.get("values") or {})
    columns = config.get("columns") or {}
    for key in ("probe_task", "confirm_rank", "ablation_variant"):
        if key in columns:
            values[key] = columns[key]
    if config.get("trial"):
        values["seed"] = json.loads(config["trial"]).get("seed")
    if config.get("fold") is not None:
        values["fold"] = config["fold"]
    return values


def reconcile_ended(results_dir: Path, sweep: SweepConfig, store: RunStore, exp_path: str) -> tuple[int, int]:
    """Write every ended trial of the experiment that has no committed rows.

    Returns:
        (trials that ended: finished, stopped or errored; trials the experiment knows of).
    """
    analysis = tune.ExperimentAnalysis(exp_path)
    ends = [
        TrialEnd.from_tune(t.trial_id, t.config, t.status == "ERROR", t.last_result or {},
                           one_line(t.get_error()) if t.status == "ERROR" else "")
        for t in analysis.trials
        if t.status in ("TERMINATED", "ERROR") and "values" in t.config
    ]
    written = reconcile(results_dir, sweep, ends, store)
    if written:
        log.info("reconciled %d trial(s): %s", len(written), ", ".join(written))
    ended = sum(t.status in ("TERMINATED", "ERROR") for t in analysis.trials)
    return ended, len(analysis.trials)
