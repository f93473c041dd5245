"""The grid x Optuna searcher, the trial scheduler, and Optuna's quiet mode for a run."""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator
from typing import Any

import optuna
from ray.tune.schedulers import FIFOScheduler, TrialScheduler
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from ablate.config import SweepConfig
from ablate.runners.ray.asha import ResumableASHA
from ablate.search.objectives import constraint_values, objective_values
from ablate.search.stages import StageTrial
from ablate.search.translate import SpaceSampler, grid_points, make_sampler, sampled_axes

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


class GridSearcher(Searcher):
    """Outer product of the grid axes; each point has its own Optuna searcher and num_samples.

    Trials are issued round-robin over the points. Suggested configs are
    ``{"ray_trial_id", "grid_point", "values": {dotted path: value}, "fold", "columns"}``.

    **k-fold** (``data.folds = k > 1``): one Optuna trial is all k folds of one sampled
    configuration: the folds are issued as k Tune trials in a row (same values, ``fold`` 0..k-1)
    and Optuna is told the mean of the metric over the folds when the last one ends (a fold
    that failed makes the Optuna trial failed). Intermediate results do not reach Optuna then.


    **Several objectives** (``search.metric: [val_acc, params]``): each point's study is
    multi-objective and is told every objective from the trial's final report; a trial
    without them fails there. **Constraints** (``search.constraints``) are set on the Optuna
    trial before it is told (``Trial.set_constraint``; TPE and NSGA-II read them).
    """

    def __init__(self, sweep: SweepConfig) -> None:
        search = sweep.search
        super().__init__(metric=search.metric, mode=search.mode)
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
        self._group: dict[str, str] = {}  # Tune trial id -> the Tune trial id Optuna knows (fold 0's)
        self._fold_results: dict[str, list[tuple[dict[str, Any], bool]]] = {}
        metric = [m for m, _ in self._directions] or search.metric
        mode = [d for _, d in self._directions] or search.mode
        self._subs: list[OptunaSearch | None] = [
            OptunaSearch(
                space=SpaceSampler(self._axes), metric=metric, mode=mode,
                sampler=make_sampler(search.algorithm, search.seed + i, search.num_samples),
            ) if self._axes else None
            for i in range(len(self._points))
        ]

    @property
    def total(self) -> int:
        return len(self._points) * self._per_point * self._folds

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return True  # the space and metric came with the sweep

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        if self._queue:
            nxt = self._queue.pop(0)
            self._owner[trial_id] = nxt["grid_point"]
            self._group[trial_id] = nxt.pop("group")
            return {"ray_trial_id": trial_id, **nxt}
        open_points = [i for i, n in enumerate(self._issued) if n < self._per_point]
        if not open_points:
            return Searcher.FINISHED
        i = min(open_points, key=lambda j: (self._issued[j], j))
        values = dict(self._points[i])
        sub = self._subs[i]
        if sub is not None:
            params = sub.suggest(trial_id)
            if params is None:
                return None
            values.update({key: params[key] for key in self._axes})
        self._issued[i] += 1
        self._owner[trial_id] = i
        self._group[trial_id] = trial_id
        columns = {"stage": "search"}
        if self._folds > 1:
            self._queue = [{"grid_point": i, "values": values, "fold": f, "columns": columns, "group": trial_id}
                           for f in range(1, self._folds)]
        return {"ray_trial_id": trial_id, "grid_point": i, "values": values,
                "fold": 0 if self._folds > 1 else None, "columns": columns}

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        sub = self._sub_of(trial_id)
        if sub is not None and self._folds == 1 and self.metric in result:
            sub.on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        sub = self._sub_of(trial_id)
        if sub is None:
            return
        if self._folds == 1:
            self._tell(sub, trial_id, result, error)
            return
        group = self._group[trial_id]
        done = self._fold_results.setdefault(group, [])
        done.append(({c: (result or {}).get(c) for c in self._told_columns}, error))
        if len(done) == self._folds:  # the configuration's last fold: Optuna sees the means
            mean = {c: _mean([d[c] for d, _ in done]) for c in self._told_columns}
            failed = any(e for _, e in done) or mean[self.metric] is None
            self._tell(sub, group, None if failed else mean, failed)

    def _tell(self, sub: OptunaSearch, trial_id: str, result: dict | None, error: bool) -> None:
        """Tell the point's study: every objective (or the one metric), with the constraint values."""
        if self._directions:
            values = None if error else objective_values(self._directions, result)
            error = error or values is None
            told = None if values is None else dict(zip([m for m, _ in self._directions], values, strict=True))
        else:
            told = result
        if self._constraints:  # on the Optuna trial Ray's OptunaSearch asked for this Tune trial
            ot_trial = sub._ot_trials[trial_id]
            for column, value in zip(self._constraints, constraint_values(self._constraints, result), strict=True):
                ot_trial.set_constraint(column, value)
        sub.on_trial_complete(trial_id, told, error)

    def _sub_of(self, trial_id: str) -> OptunaSearch | None:
        i = self._owner.get(trial_id)
        return None if i is None else self._subs[i]

    def save(self, checkpoint_path: str) -> None:
        _save(self, checkpoint_path)

    def restore(self, checkpoint_path: str) -> None:
        _restore(self, checkpoint_path)


def _mean(values: list[Any]) -> float | None:
    """The mean over folds; None when a fold lacks the value."""
    vals = [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v)]
    return sum(vals) / len(vals) if vals and len(vals) == len(values) else None


class FixedSearcher(Searcher):
    """A fixed list of trials, issued once each in order (the confirm and ablation stages).

    Suggested configs are ``{"ray_trial_id", "grid_point": index, "values": {}, "trial": the
    resolved config as JSON, "fold", "columns"}``.
    """

    def __init__(self, trials: list[StageTrial], metric: str, mode: str) -> None:
        super().__init__(metric=metric, mode=mode)
        self._items = [{"trial": t.config.model_dump_json(), "fold": t.fold, "columns": dict(t.columns)}
                       for t in trials]
        self._next = 0

    @property
    def total(self) -> int:
        return len(self._items)

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        if self._next >= len(self._items):
            return Searcher.FINISHED
        i, self._next = self._next, self._next + 1
        return {"ray_trial_id": trial_id, "grid_point": i, "values": {}, **self._items[i]}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        pass

    def save(self, checkpoint_path: str) -> None:
        _save(self, checkpoint_path)

    def restore(self, checkpoint_path: str) -> None:
        _restore(self, checkpoint_path)


# Tune's Searcher save/restore protocol. The state holds live OptunaSearch objects (Optuna
# studies), which Ray itself can only persist by pickling: its own OptunaSearch.restore and
# Tuner.restore (tuner.pkl) unpickle files from the same experiment folder. So this adds no
# trust boundary of its own: `--resume` executes whatever the experiment folder holds, and
# must only be pointed at storage the user controls (README, "Resume").
def _save(searcher: Searcher, checkpoint_path: str) -> None:
    import ray.cloudpickle as pickle

    with open(checkpoint_path, "wb") as f:
        pickle.dump(searcher.__dict__, f)


def _restore(searcher: Searcher, checkpoint_path: str) -> None:
    import ray.cloudpickle as pickle

    with open(checkpoint_path, "rb") as f:
        searcher.__dict__.update(pickle.load(f))


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
