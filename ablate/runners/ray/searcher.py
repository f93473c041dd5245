"""The grid x Optuna searcher, the trial scheduler, and Optuna's quiet mode for a run."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import optuna
from ray.tune.schedulers import AsyncHyperBandScheduler, FIFOScheduler, TrialScheduler
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from ablate.config import SweepConfig
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
    ``{"ray_trial_id", "grid_point", "values": {dotted path: value}}``.
    """

    def __init__(self, sweep: SweepConfig) -> None:
        search = sweep.search
        super().__init__(metric=search.metric, mode=search.mode)
        self._points = grid_points(sweep)
        self._axes = sampled_axes(search)
        self._per_point = search.num_samples
        self._issued = [0] * len(self._points)
        self._owner: dict[str, int] = {}
        self._subs: list[OptunaSearch | None] = [
            OptunaSearch(
                space=SpaceSampler(self._axes), metric=search.metric, mode=search.mode,
                sampler=make_sampler(search.algorithm, search.seed + i, search.num_samples),
            ) if self._axes else None
            for i in range(len(self._points))
        ]

    @property
    def total(self) -> int:
        return len(self._points) * self._per_point

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return True  # the space and metric came with the sweep

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
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
        return {"ray_trial_id": trial_id, "grid_point": i, "values": values}

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        sub = self._sub_of(trial_id)
        if sub is not None and self.metric in result:
            sub.on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        sub = self._sub_of(trial_id)
        if sub is not None:
            sub.on_trial_complete(trial_id, result, error)

    def _sub_of(self, trial_id: str) -> OptunaSearch | None:
        i = self._owner.get(trial_id)
        return None if i is None else self._subs[i]

    # Tune's Searcher save/restore protocol. The state holds live OptunaSearch objects (Optuna
    # studies), which Ray itself can only persist by pickling: its own OptunaSearch.restore and
    # Tuner.restore (tuner.pkl) unpickle files from the same experiment folder. So this adds no
    # trust boundary of its own: `--resume` executes whatever the experiment folder holds, and
    # must only be pointed at storage the user controls (README, "Resume").
    def save(self, checkpoint_path: str) -> None:
        import ray.cloudpickle as pickle

        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.__dict__, f)

    def restore(self, checkpoint_path: str) -> None:
        import ray.cloudpickle as pickle

        with open(checkpoint_path, "rb") as f:
            self.__dict__.update(pickle.load(f))


def make_scheduler(sweep: SweepConfig) -> TrialScheduler:
    """ASHA on ``epoch`` (``max_t=epochs``), or FIFO for ``scheduler.kind: none``."""
    sched = sweep.scheduler
    if sched.kind == "none":
        return FIFOScheduler()
    epochs = sweep.trial.epochs
    return AsyncHyperBandScheduler(
        time_attr="epoch", max_t=epochs, grace_period=min(sched.grace_period, epochs),
        reduction_factor=sched.reduction_factor,
        stop_last_trials=False,  # trials end by themselves at `epochs`; the final report must arrive
    )
