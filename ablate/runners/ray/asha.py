"""ASHA whose decisions survive ``--resume``.

Ray Tune does not restore a scheduler's state when an experiment is restored
(ray-project/ray#30838): ``Tuner.restore`` brings back the scheduler as it was pickled when the
run began, with empty rungs, so a resumed sweep would compare the trials that reach a rung
after the resume only with each other and prune differently from an uninterrupted run.

`ResumableASHA` is asynchronous successive halving with one bracket, the rule of Ray's
``AsyncHyperBandScheduler(brackets=1, stop_last_trials=False)`` as `ablate.replay.asha.Asha`
implements it (checked there against Ray's own ``_Bracket``): rungs at ``grace_period *
reduction_factor**k`` epochs up to ``max_t``; a trial reaching a rung is recorded there and
stopped when its metric is below the ``1 - 1/reduction_factor`` quantile of the values recorded
at that rung before it. Its rungs are rebuilt from what the sweep wrote, the first time it is
used in a process: every committed search trial's epoch rows (``RESULTS/epochs``) and, for a
trial that was training when the driver died, the epochs of its last checkpoint. Each trial's
curve is replayed in epoch order, which records the same values at the same rungs as the
uninterrupted run did. So a trial that reaches a rung after a resume is compared with the same
values it would have met without the interruption, provided the trials reached that rung in
the same order: with ``max_concurrent: 1`` the decisions are the same; with trials running
concurrently the order they reach a rung is not fixed even without a resume.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from ablate.replay.asha import Asha
from ablate.runners.sweep_results import RunStore, row_id_for

__all__ = ["ResumableASHA"]

log = logging.getLogger(__name__)


class ResumableASHA(FIFOScheduler):
    """One-bracket ASHA on ``epoch`` whose rungs are rebuilt from the sweep's results on resume.

    Args:
        metric, mode: what is compared at a rung (an epochs-table column) and its direction.
        max_t, grace_period, reduction_factor: as Ray's ASHA.
        results_dir: the sweep's results folder (its ``epochs`` rows).
        sweep_name: the sweep whose search trials count.
        train_root: where the trials' checkpoints live (`RunStore`).
    """

    def __init__(self, *, metric: str, mode: str, max_t: int, grace_period: int, reduction_factor: float,
                 results_dir: str | Path, sweep_name: str, train_root: str) -> None:
        super().__init__()
        self._metric, self._mode, self.sign = metric, mode, (1.0 if mode == "max" else -1.0)
        self.asha = Asha(grace_period, reduction_factor, max_t)
        self.results_dir, self.sweep_name, self.train_root = str(results_dir), sweep_name, train_root
        self._seeded_in: int | None = None  # the process that rebuilt the rungs
        self.num_stopped = 0

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        return True  # set by the sweep

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        if "epoch" not in result or self._metric not in result:
            return TrialScheduler.CONTINUE  # the final report carries no epoch: not a rung result
        self._seed_once()
        if self.decide(trial.trial_id, float(result["epoch"]), float(result[self._metric])):
            self.num_stopped += 1
            return TrialScheduler.STOP
        return TrialScheduler.CONTINUE

    def decide(self, trial_id: str, epoch: float, value: float) -> bool:
        """Record the trial's value at the rung `epoch` reaches; True when it is stopped there."""
        return self.asha.on_result(trial_id, epoch, self.sign * value)  # type: ignore[arg-type]

    def _seed_once(self) -> None:
        if self._seeded_in == os.getpid():
            return
        self._seeded_in = os.getpid()
        try:
            curves = self.curves()
        except Exception as e:  # noqa: BLE001 - no results to read (Ray Client): start empty
            log.warning("ASHA could not rebuild its rungs from %s (%s): a resumed sweep may prune differently",
                        self.results_dir, e)
            return
        for trial_id, curve in curves.items():
            for epoch, value in curve:
                self.decide(trial_id, epoch, value)

    def curves(self) -> dict[str, list[tuple[float, float]]]:
        """Tune trial id -> (epoch, metric) of every search trial the sweep has written or
        checkpointed, in epoch order."""
        from ablate.results import load

        out: dict[str, list[tuple[float, float]]] = {}
        res = load(self.results_dir)
        t, e = res.trials, res.epochs
        committed: set[str] = set()
        if len(t) and "ray_trial_id" in t:
            t = t[(t["sweep"] == self.sweep_name) & t["ray_trial_id"].notna()]
            committed = set(t["trial_id"])
            if "stage" in t:
                t = t[t["stage"].isna() | (t["stage"] == "search")]
            if len(e) and self._metric in e:
                for row_id, tid in zip(t["trial_id"], t["ray_trial_id"], strict=True):
                    rows = e[e["trial_id"] == row_id].sort_values("epoch")
                    out[str(tid)] = [(float(a), float(b)) for a, b in zip(rows["epoch"], rows[self._metric], strict=True)]
        store = RunStore(self.train_root)
        prefix = row_id_for(self.sweep_name, "")
        for row_id in store.runs():
            if row_id in committed or not row_id.startswith(prefix):
                continue
            for ckpt in store.checkpoints(row_id):  # the newest readable one
                try:
                    history = store.progress(ckpt).get("history", [])
                except (OSError, ValueError):
                    continue
                out[row_id.removeprefix(prefix)] = [(float(h["epoch"]), float(h[self._metric])) for h in history
                                                    if self._metric in h]
                break
        return out
