"""The grid x Optuna searcher, the trial scheduler, and Optuna's quiet mode for a run."""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
from ray.tune.schedulers import FIFOScheduler, TrialScheduler
from ray.tune.search import Searcher

from ablate.config import SweepConfig
from ablate.runners.ray.adopt import AdoptingSearcher
from ablate.runners.ray.asha import ResumableASHA
from ablate.runners.ray.studies import JOURNAL, PointStudies
from ablate.runners.sweep_results import RunStore, row_id_for
from ablate.search.objectives import constraint_values, objective_values
from ablate.search.stages import StageTrial
from ablate.search.translate import grid_points, sampled_axes

# a resumed trial re-reports the epochs its checkpoint already holds; Optuna keeps the first value
_REPEATED_STEP = "The reported value is ignored because this `step="


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Inside the block: Optuna logs warnings and up (no "study created" line per grid point) and
    does not warn about a re-reported step. Both are restored on exit."""
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(before, optuna.logging.WARNING))
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_REPEATED_STEP, category=UserWarning)
            yield
    finally:
        optuna.logging.set_verbosity(before)


class GridSearcher(AdoptingSearcher):
    """Outer product of the grid axes; each point has its own Optuna study and num_samples.

    Trials are issued round-robin over the points. Suggested configs are
    ``{"ray_trial_id", "grid_point", "values": {dotted path: value}, "fold", "columns"}``.
    The points' studies live in Optuna's journal (`ablate.runners.ray.studies`), built on
    first use: this object pickles without a sampler, and its saved state is plain JSON.

    **k-fold** (``data.folds = k > 1``): one Optuna trial is all k folds of one sampled
    configuration: the folds are issued as k Tune trials in a row (same values, ``fold`` 0..k-1)
    and Optuna is told the mean of the metric over the folds when the last one ends (a fold
    that failed makes the Optuna trial failed). Intermediate results do not reach Optuna then.

    **Several objectives** (``search.metric: [val_acc, params]``): each point's study is
    multi-objective and is told every objective from the trial's final report; a trial
    without them fails there. **Constraints** (``search.constraints``) are set on the Optuna
    trial before it is told (``Trial.set_constraint``; TPE and NSGA-II read them).
    """

    _STATE = ("_issued", "_owner", "_queue", "_group", "_fold_results", "_runs")

    def __init__(self, sweep: SweepConfig, journal: str | None = None) -> None:
        search = sweep.search
        super().__init__(metric=search.metric, mode=search.mode)
        self._sweep_name = sweep.name
        self._seed = sweep.trial.seed
        self._directions = search.directions if search.multi_objective else []
        self._constraints = dict(search.constraints)
        self._told_columns = list(dict.fromkeys([m for m, _ in search.directions] + list(self._constraints)))
        self._points = grid_points(sweep)
        self._axes = sampled_axes(search)
        self._per_point = search.num_samples
        self._folds = max(1, sweep.trial.data.folds)
        self._issued = [0] * len(self._points)
        self._owner: dict[str, int] = {}
        self._queue: list[dict[str, Any]] = []  # folds 1..k-1 of the last sampled configuration
        self._group: dict[str, str] = {}  # Tune trial id -> the run id Optuna knows (fold 0's)
        self._fold_results: dict[str, list[tuple[dict[str, Any], bool]]] = {}
        self._studies = PointStudies(
            journal, sweep.name, "search", self._points, self._axes,
            search.directions if search.multi_objective else [(search.metric, search.mode)],
            search.algorithm, search.seed, search.num_samples) if self._axes else None

    def keep_in(self, store: RunStore, sweep_name: str, results_dir: str | Path | None = None) -> None:
        super().keep_in(store, sweep_name, results_dir)
        if self._studies is not None and results_dir is not None:
            self._studies.journal = str(Path(results_dir) / JOURNAL)

    @property
    def total(self) -> int:
        return len(self._points) * self._per_point * self._folds

    def study(self, point: int) -> Any:
        """The point's Optuna study (None for a grid-only sweep)."""
        return None if self._studies is None else self._studies.study(point)

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return True  # the space and metric came with the sweep

    def _suggest_new(self, trial_id: str) -> dict[str, Any] | str | None:
        if self._queue:
            nxt = dict(self._queue.pop(0))
            self._owner[trial_id] = nxt["grid_point"]
            self._group[trial_id] = group = nxt.pop("group")
            if self._studies is not None:  # the Optuna trial names every fold's rows
                self._studies.append_attr(nxt["grid_point"], group, "ablate_trial_ids",
                                          row_id_for(self._sweep_name, trial_id))
            return self._issue({"ray_trial_id": trial_id, **nxt}, group)
        open_points = [i for i, n in enumerate(self._issued) if n < self._per_point]
        if not open_points:
            return Searcher.FINISHED
        i = min(open_points, key=lambda j: (self._issued[j], j))
        values = dict(self._points[i])
        if self._studies is not None:
            row_id = row_id_for(self._sweep_name, trial_id)
            ids = {"ablate_trial_ids": [row_id]} if self._folds > 1 else {"ablate_trial_id": row_id}
            params = self._studies.ask(i, trial_id, {**ids, "seed": values.get("seed", self._seed)})
            values.update({key: params[key] for key in self._axes})
        self._issued[i] += 1
        self._owner[trial_id] = i
        self._group[trial_id] = trial_id
        columns = {"stage": "search"}
        if self._folds > 1:
            self._queue = [{"grid_point": i, "values": values, "fold": f, "columns": columns, "group": trial_id}
                           for f in range(1, self._folds)]
        return self._issue({"ray_trial_id": trial_id, "grid_point": i, "values": values,
                            "fold": 0 if self._folds > 1 else None, "columns": columns}, trial_id)

    def _readopt(self, trial_id: str, payload: dict[str, Any], group: str) -> None:
        """Redo what issuing `payload` did (the state Tune restored was saved before it)."""
        i, fold = payload["grid_point"], payload.get("fold")
        self._owner[trial_id] = i
        self._group[trial_id] = group
        if fold:  # fold 1.. of a configuration: no longer waiting in the queue
            self._queue = [q for q in self._queue if not (q["group"] == group and q["fold"] == fold)]
            return
        self._issued[i] += 1
        if self._folds > 1:
            self._queue += [{"grid_point": i, "values": payload["values"], "fold": f, "columns": payload["columns"],
                             "group": group} for f in range(1, self._folds)]

    def _recover_studies(self, adopted_groups: set[str]) -> None:
        """Fail the Optuna trials asked for runs that neither Tune nor storage knows."""
        if self._studies is None:
            return
        known = set(self._group.values()) | adopted_groups
        for i in range(len(self._points)):
            for t in self._studies.running(i):
                if t.user_attrs.get("ray_trial_id") not in known:
                    self._studies.abandon(i, t)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        i = self._owner.get(trial_id)
        if (self._studies is None or i is None or self._folds > 1 or self._directions
                or self.metric not in result or "epoch" not in result):
            return
        self._studies.report(i, self._group[trial_id], float(result[self.metric]), int(result["epoch"]))

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        i = self._owner.get(trial_id)
        if self._studies is None or i is None:
            return
        group = self._group[trial_id]
        if self._folds == 1:
            self._tell(i, group, result, error)
            return
        done = self._fold_results.setdefault(group, [])
        done.append(({c: (result or {}).get(c) for c in self._told_columns}, error))
        if len(done) == self._folds:  # the configuration's last fold: Optuna sees the means
            mean = {c: _mean([d[c] for d, _ in done]) for c in self._told_columns}
            failed = any(e for _, e in done) or mean[self.metric] is None
            self._tell(i, group, None if failed else {**(result or {}), **mean}, failed)

    def _tell(self, point: int, group: str, result: dict | None, error: bool) -> None:
        """Tell the point's study: every objective (or the one metric), with the constraint values."""
        assert self._studies is not None
        directions = self._directions or [(self.metric, self.mode)]
        values = None if error or result is None else objective_values(directions, result)
        constraints = ({} if not self._constraints else
                       dict(zip(self._constraints, constraint_values(self._constraints, result), strict=True)))
        last = result or {}
        status = last.get("status") if last.get("final") else ("failed" if values is None else "stopped_early")
        attrs = {"status": status, "config_hash": last.get("config_hash")}
        self._studies.tell(point, group, values, constraints, attrs)


def _mean(values: list[Any]) -> float | None:
    """The mean over folds; None when a fold lacks the value."""
    vals = [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v)]
    return sum(vals) / len(vals) if vals and len(vals) == len(values) else None


class FixedSearcher(AdoptingSearcher):
    """A fixed list of trials, issued once each in order (the confirm and ablation stages).

    Suggested configs are ``{"ray_trial_id", "grid_point": index, "values": {}, "trial": the
    resolved config as JSON, "fold", "columns"}``.
    """

    _STATE = ("_done", "_runs")

    def __init__(self, trials: list[StageTrial], metric: str, mode: str) -> None:
        super().__init__(metric=metric, mode=mode)
        self._items = [{"trial": t.config.model_dump_json(), "fold": t.fold, "columns": dict(t.columns)}
                       for t in trials]
        self._stage = str(trials[0].columns.get("stage", "")) if trials else ""
        self._done: list[int] = []  # the items issued

    @property
    def total(self) -> int:
        return len(self._items)

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return True

    def _suggest_new(self, trial_id: str) -> dict[str, Any] | str | None:
        left = [i for i in range(len(self._items)) if i not in self._done]
        if not left:
            return Searcher.FINISHED
        self._done.append(left[0])
        return self._issue({"ray_trial_id": trial_id, "grid_point": left[0], "values": {}, **self._items[left[0]]},
                           trial_id)

    def _readopt(self, trial_id: str, payload: dict[str, Any], group: str) -> None:
        self._done.append(payload["grid_point"])

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        pass


def make_scheduler(sweep: SweepConfig, stage: str = "search", *, results_dir: str = "",
                   train_root: str = "") -> TrialScheduler:
    """ASHA on ``epoch`` (``max_t=epochs``) for a search (`ResumableASHA`: its rungs survive
    ``--resume``); FIFO for ``scheduler.kind: none``, for the confirm and ablation stages (never
    stopped early) and with k-fold (ASHA would compare single folds' curves, while Optuna sees
    a configuration's fold mean)."""
    sched = sweep.scheduler
    if sched.kind == "none" or stage != "search" or sweep.trial.data.folds > 1:
        return FIFOScheduler()
    epochs = sweep.trial.epochs
    return ResumableASHA(
        metric=sweep.search.metric, mode=sweep.search.mode, max_t=epochs,
        grace_period=min(sched.grace_period, epochs), reduction_factor=sched.reduction_factor,
        results_dir=results_dir, sweep_name=sweep.name, train_root=train_root,
    )
