"""Ray Tune's ASHA decisions, without Ray: what `AsyncHyperBandScheduler` does for a sweep.

`ablate.runners.ray.searcher.make_scheduler` builds ``AsyncHyperBandScheduler(time_attr="epoch",
max_t=epochs, grace_period=min(grace_period, epochs), reduction_factor=rf,
stop_last_trials=False)`` with one bracket. Ray 2.60's ``_Bracket`` then keeps rungs at
``grace_period * rf**k`` for ``k < int(log(max_t / grace_period) / log(rf) + 1)``; when a trial
first reports at or past a rung it has not recorded, it is stopped if its score is below the
``(1 - 1/rf)`` percentile (``np.nanpercentile``, linear) of the scores recorded at that rung
*before* it, and its score is recorded either way. A test checks these decisions against
Ray's own ``_Bracket``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["Asha", "rung_epochs"]


def _milestones(grace_period: int, reduction_factor: float, max_t: int) -> list[float]:
    grace = min(grace_period, max_t)
    n = int(np.log(max_t / grace) / np.log(reduction_factor) + 1)
    return [grace * reduction_factor**k for k in range(n)]


def rung_epochs(grace_period: int, reduction_factor: float, max_t: int) -> list[int]:
    """Epochs at which ASHA decides (a rung at ``m`` is met by the first epoch ``>= m``)."""
    return [math.ceil(m) for m in _milestones(grace_period, reduction_factor, max_t)]


class Asha:
    """One bracket of asynchronous successive halving on epochs, higher scores better.

    Args:
        grace_period: epochs before a trial may be stopped (capped at `max_t`, as the sweep does).
        reduction_factor: keep the top ``1 / reduction_factor`` at each rung.
        max_t: the trial's epochs.
    """

    def __init__(self, grace_period: int, reduction_factor: float, max_t: int) -> None:
        self.rf = float(reduction_factor)
        # highest rung first, as Ray keeps them
        self.rungs: list[tuple[float, dict[int, float]]] = [
            (m, {}) for m in reversed(_milestones(grace_period, reduction_factor, max_t))]

    def cutoff(self, recorded: dict[int, float]) -> float | None:
        """The score a trial must reach at a rung, from the scores recorded there so far."""
        if not recorded:
            return None
        return float(np.nanpercentile(list(recorded.values()), (1 - 1 / self.rf) * 100))

    def on_result(self, trial: int, epoch: int, score: float) -> bool:
        """Record `trial`'s score at `epoch`; True when ASHA stops the trial here."""
        for milestone, recorded in self.rungs:
            if epoch >= milestone and trial in recorded:
                return False  # stop_last_trials=False: a rung already passed decides nothing more
            if epoch < milestone:
                continue
            cut = self.cutoff(recorded)
            recorded[trial] = score
            return cut is not None and score < cut
        return False
