"""A search's Optuna studies, kept in Optuna's own storage: one journal file per results folder.

Each grid point of a sweep's search stage has its own study, ``<sweep>/search/<grid point>``
(the point's values in the study's user attribute ``grid_point``), in
``RESULTS/optuna.journal`` (`JOURNAL`; a `optuna.storages.JournalStorage` over a
`JournalFileBackend`). Optuna's tools read it as it is::

    storage = JournalStorage(JournalFileBackend("RESULTS/optuna.journal"))
    optuna.load_study(storage=storage, study_name="cxr5-sweep/search/0").trials_dataframe()
    # or: optuna-dashboard RESULTS/optuna.journal

Every Optuna trial carries the user attributes ``ablate_trial_id`` (its rows' ``trial_id``; a
list ``ablate_trial_ids`` with k-fold, one per fold), ``ray_trial_id``, ``grid_point``,
``seed``, ``values`` (what was set on the base trial) and, once told, ``config_hash`` and
``status``; its values are the objectives the rows hold, its constraints those of
``search.constraints``.

**Nothing here is pickled.** The studies and their samplers are built on first use in the
process that runs the searcher, so Tune's own pickle of the searcher (``tuner.pkl``) holds
no sampler (Optuna 5.1's NSGA-II sampler holds a lock and does not pickle). ``--resume``
reopens the studies from the journal with every trial told so far. A resumed sampler is seeded
from (``search.seed``, the point, the trials the study holds), so it does not replay the random
draws of the first run; its random state is not the one the first run had when it stopped.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ablate.search.translate import SpaceSampler, make_sampler

if TYPE_CHECKING:
    import optuna

__all__ = ["JOURNAL", "PointStudies", "journal_storage", "study_name"]

JOURNAL = "optuna.journal"
ABANDONED = "asked just before the sweep was killed; its run never reached Tune; --resume sampled anew"


def study_name(sweep_name: str, stage: str, point: int) -> str:
    """The study of one grid point of a stage: ``<sweep>/<stage>/<point>``."""
    return f"{sweep_name}/{stage}/{point}"


def journal_storage(path: str | Path) -> optuna.storages.JournalStorage:
    """Optuna's journal storage over one file (its folder is created)."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(path)))


class PointStudies:
    """The grid points' studies of one search: ask, report, tell; keyed by the run's Tune id.

    Args:
        journal: the journal file; None keeps the studies in memory (tests without a results folder).
        sweep_name, stage: name the studies (`study_name`).
        points: the grid points (their values go into each study's ``grid_point`` attribute).
        axes: the sampled axes (`ablate.search.translate.sampled_axes`).
        directions: ``[(column, "max"|"min"), ...]``, one per objective.
        algorithm, seed, num_samples: the samplers' (`make_sampler`; point i is seeded ``seed + i``).
    """

    def __init__(self, journal: str | None, sweep_name: str, stage: str, points: list[dict[str, Any]],
                 axes: dict[str, Any], directions: list[tuple[str, str]], algorithm: str, seed: int,
                 num_samples: int) -> None:
        self.journal, self.sweep_name, self.stage = journal, sweep_name, stage
        self.points, self.axes, self.directions = points, axes, directions
        self.algorithm, self.seed, self.num_samples = algorithm, seed, num_samples
        self._storage: Any = None
        self._studies: dict[int, optuna.Study] = {}
        self._trials: dict[str, optuna.Trial] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_storage": None, "_studies": {}, "_trials": {}}

    def study(self, point: int) -> optuna.Study:
        """The point's study, created or reopened from the journal on first use."""
        if point not in self._studies:
            import optuna

            if self._storage is None:
                self._storage = journal_storage(self.journal) if self.journal else optuna.storages.InMemoryStorage()
            name = study_name(self.sweep_name, self.stage, point)
            held = _trial_count(self._storage, name)
            seed = self.seed + point if not held else _reseed(self.seed, point, held)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study = optuna.create_study(
                    storage=self._storage, study_name=name, load_if_exists=True,
                    sampler=make_sampler(self.algorithm, seed, self.num_samples),
                    directions=["maximize" if d == "max" else "minimize" for _, d in self.directions])
            if not held:
                study.set_user_attr("grid_point", self.points[point])
                study.set_user_attr("sweep", self.sweep_name)
            self._studies[point] = study
        return self._studies[point]

    def ask(self, point: int, key: str, attrs: dict[str, Any]) -> dict[str, Any]:
        """A new trial of the point's study for the run `key` (its Tune id): its sampled values."""
        trial = self.study(point).ask()
        for name, value in {"ray_trial_id": key, "grid_point": point, **attrs}.items():
            trial.set_user_attr(name, value)
        params = SpaceSampler(self.axes)(trial)
        trial.set_user_attr("values", json.loads(json.dumps({**self.points[point], **params}, default=str)))
        self._trials[key] = trial
        return params

    def append_attr(self, point: int, key: str, name: str, value: Any) -> None:
        """Add `value` to the list in a user attribute of the run's trial while it runs."""
        trial = self._trial(point, key)
        if trial is not None and not self._finished(point, trial):
            trial.set_user_attr(name, [*trial.user_attrs.get(name, []), value])

    def report(self, point: int, key: str, value: float, step: int) -> None:
        """An intermediate value (single objective only: Optuna has none for several)."""
        trial = self._trial(point, key)
        if trial is not None and not self._finished(point, trial):
            trial.report(value, step)

    def tell(self, point: int, key: str, values: list[float] | None, constraints: dict[str, float],
             attrs: dict[str, Any]) -> None:
        """End the run's trial: complete with `values`, or failed when None. A trial told
        already (a resume relaunched a run that had ended) is left as it is."""
        from optuna.trial import TrialState

        trial = self._trial(point, key)
        if trial is None or self._finished(point, trial):
            return
        for name, value in constraints.items():
            trial.set_constraint(name, value)
        for name, value in attrs.items():
            if value is not None:
                trial.set_user_attr(name, value)
        state = TrialState.FAIL if values is None else TrialState.COMPLETE
        self.study(point).tell(trial, None if values is None else values, state=state, skip_if_finished=True)

    def running(self, point: int) -> list[optuna.trial.FrozenTrial]:
        """The point's trials asked and not told yet."""
        from optuna.trial import TrialState

        return self.study(point).get_trials(deepcopy=False, states=(TrialState.RUNNING,))

    def abandon(self, point: int, trial: optuna.trial.FrozenTrial) -> None:
        """Fail a trial whose run never reached Tune (the sweep was killed right after the ask)."""
        from optuna.trial import TrialState

        study = self.study(point)
        live = _as_trial(study, trial)
        live.set_user_attr("status", "abandoned")
        live.set_user_attr("reason", ABANDONED)
        study.tell(live, state=TrialState.FAIL, skip_if_finished=True)

    def _trial(self, point: int, key: str) -> optuna.Trial | None:
        """The run's trial: asked by this process, or found in the journal by its ``ray_trial_id``."""
        if key not in self._trials:
            study = self.study(point)
            found = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("ray_trial_id") == key]
            if not found:
                return None
            self._trials[key] = _as_trial(study, found[-1])
        return self._trials[key]

    def _finished(self, point: int, trial: optuna.Trial) -> bool:
        return self.study(point).get_trials(deepcopy=False)[trial.number].state.is_finished()


def _as_trial(study: optuna.Study, frozen: optuna.trial.FrozenTrial) -> optuna.Trial:
    """A live handle on a stored trial (Optuna's own constructor, from the trial's storage id)."""
    import optuna

    return optuna.Trial(study, frozen._trial_id)


def _trial_count(storage: Any, name: str) -> int:
    """Trials the journal holds for the study `name` (0 when it does not exist yet)."""
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        return 0
    return len(storage.get_all_trials(study_id, deepcopy=False))


def _reseed(seed: int, point: int, held: int) -> int:
    """A resumed sampler's seed: fixed by the sweep's seed, the point and the trials held."""
    import numpy as np

    return int(np.random.SeedSequence([seed, point, held]).generate_state(1)[0])
