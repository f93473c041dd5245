"""One replayed sweep: a searcher and a scheduler against recorded curves, on a simulated clock.

The searchers are the sweep's own pieces (`ablate.search.translate`): for ``optuna`` and
``random`` the outer product of the grid axes, each grid point with its own Optuna study
(`make_sampler` seeded ``seed + point``, `SpaceSampler` as the define-by-run function) and
``num_samples`` trials, issued round-robin as `ablate.runners.ray.searcher.GridSearcher` does;
each trial's epochs are reported to its Optuna trial and the study is told the last result,
as Ray's ``OptunaSearch`` is (a trial ASHA stops: that epoch's score; a finished trial: its
best epoch's, the final report). ``grid`` runs every configuration of the space once, in an
order shuffled per repeat (so its time to the best is an expectation, not the luck of the
file's order).

The clock: `concurrency` slots; a trial occupies one for each epoch's measured ``epoch_s``;
when a slot frees, the searcher is asked for the next trial. Events at the same time are
handled in trial order, so a run is a function of its seed.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ablate.config import SweepConfig
from ablate.replay.asha import Asha
from ablate.replay.curves import Curves, with_search
from ablate.search.translate import SpaceSampler, grid_points, make_sampler, sampled_axes

__all__ = ["STRATEGIES", "Run", "Strategy", "simulate"]


@dataclass(frozen=True)
class Strategy:
    """A searcher and whether ASHA stops trials.

    Attributes:
        name: as shown in tables (``TPE + ASHA``).
        algorithm: ``optuna`` (TPE), ``random`` or ``grid``.
        asha: stop trials with the sweep's ASHA settings (otherwise every trial runs to the end).
    """

    name: str
    algorithm: str
    asha: bool


STRATEGIES: tuple[Strategy, ...] = (
    Strategy("TPE + ASHA", "optuna", True),
    Strategy("TPE", "optuna", False),
    Strategy("random + ASHA", "random", True),
    Strategy("random", "random", False),
    Strategy("grid", "grid", False),
)


@dataclass
class Run:
    """What one replayed sweep did, one entry per finished epoch in clock order.

    Attributes:
        time_s: simulated seconds at the end of each epoch.
        best: best score seen so far (higher is better) after each epoch.
        configs: configuration row of every trial started, in order.
        stopped_at: epoch at which ASHA stopped each stopped trial (by trial number).
    """

    time_s: list[float] = field(default_factory=list)
    best: list[float] = field(default_factory=list)
    configs: list[int] = field(default_factory=list)
    stopped_at: dict[int, int] = field(default_factory=dict)

    @property
    def epochs(self) -> int:
        return len(self.time_s)

    def epochs_to(self, target: float) -> float:
        """Epochs spent until the best so far reaches `target` (inf if it never does)."""
        hit = np.flatnonzero(np.asarray(self.best) >= target)
        return float(hit[0] + 1) if hit.size else float("inf")

    def time_to(self, target: float) -> float:
        """Simulated seconds until the best so far reaches `target` (inf if it never does)."""
        hit = np.flatnonzero(np.asarray(self.best) >= target)
        return float(self.time_s[hit[0]]) if hit.size else float("inf")


class _Searcher:
    """Suggests configuration rows and learns from results, like the sweep's searcher."""

    def __init__(self, sweep: SweepConfig, curves: Curves, algorithm: str, seed: int) -> None:
        import optuna

        self.curves = curves
        self._trials: dict[int, Any] = {}
        if algorithm == "grid":
            order = np.random.default_rng(seed).permutation(len(curves.configs))
            self._queue = [int(i) for i in order]
            self._points: list[dict[str, Any]] = []
            return
        self._queue = []
        sweep = with_search(sweep, algorithm=algorithm, seed=seed)
        self._points = grid_points(sweep)
        self._sampler = SpaceSampler(sampled_axes(sweep.search))
        self._per_point = sweep.search.num_samples
        self._issued = [0] * len(self._points)
        direction = "maximize" if sweep.search.mode == "max" else "minimize"
        self._studies = [
            optuna.create_study(direction=direction,
                                sampler=make_sampler(algorithm, seed + i, sweep.search.num_samples))
            if self._sampler.axes else None
            for i in range(len(self._points))
        ]

    def suggest(self, number: int) -> int | None:
        """The configuration row of trial `number`, or None when the sweep has issued all."""
        if not self._points:
            return self._queue.pop(0) if self._queue else None
        open_points = [i for i, n in enumerate(self._issued) if n < self._per_point]
        if not open_points:
            return None
        i = min(open_points, key=lambda j: (self._issued[j], j))
        values = dict(self._points[i])
        study = self._studies[i]
        if study is not None:
            trial = study.ask()
            values.update(self._sampler(trial))
            self._trials[number] = trial
        self._issued[i] += 1
        return self.curves.index(values)

    def report(self, number: int, epoch: int, score: float) -> None:
        trial = self._trials.get(number)
        if trial is not None:
            trial.report(self.curves.sign * score, epoch)

    def complete(self, number: int, score: float) -> None:
        trial = self._trials.pop(number, None)
        if trial is not None:
            trial.study.tell(trial, self.curves.sign * score)


def simulate(sweep: SweepConfig, curves: Curves, strategy: Strategy, *, seed: int, concurrency: int) -> Run:
    """Replay one sweep of `strategy` on `curves` with the sweep's settings and this `seed`.

    Args:
        sweep: the sweep whose space, ``num_samples`` and ``scheduler`` settings are replayed.
        curves: `Curves` of that space.
        seed: the searchers' seed (``search.seed`` of this repeat) and the grid's order.
        concurrency: trials that run at once.
    """
    import optuna

    sched = sweep.scheduler
    asha = Asha(sched.grace_period, sched.reduction_factor, curves.max_t) if strategy.asha else None
    run, clock, best = Run(), [], -np.inf
    started = 0
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(verbosity, optuna.logging.WARNING))  # no line per study
    try:
        searcher = _Searcher(sweep, curves, strategy.algorithm, seed)

        def start(now: float) -> None:
            nonlocal started
            while len(clock) < concurrency:
                row = searcher.suggest(started)
                if row is None:
                    return
                run.configs.append(row)
                heapq.heappush(clock, (now + curves.epoch_s[row, 0], started, 0))
                started += 1

        start(0.0)
        while clock:
            now, number, e = heapq.heappop(clock)
            row = run.configs[number]
            score = float(curves.scores[row, e])
            best = max(best, score)
            run.time_s.append(now)
            run.best.append(best)
            searcher.report(number, e + 1, score)
            stop = asha is not None and asha.on_result(number, e + 1, score)
            if stop:
                run.stopped_at[number] = e + 1
                searcher.complete(number, score)
            elif e + 1 == curves.max_t:
                searcher.complete(number, float(curves.final[row]))
            else:
                heapq.heappush(clock, (now + curves.epoch_s[row, e + 1], number, e + 1))
                continue
            start(now)
    finally:
        optuna.logging.set_verbosity(verbosity)
    return run
