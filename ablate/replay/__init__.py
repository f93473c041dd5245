"""Search efficiency, measured: replay searchers and schedulers against a grid's learning curves.

`ablate replay SWEEP --from RESULTS` takes a results folder with complete curves for every
configuration of the sweep's (discrete) space and replays, Ray-free and seeded per repeat,
TPE + ASHA, TPE, random + ASHA, random and the grid with the sweep's own searchers
(`ablate.search.translate`) and Ray's ASHA decisions (`asha`) on a simulated clock.

- `curves`: the table's curves keyed by space values (`Curves`).
- `asha`: Ray's ``AsyncHyperBandScheduler`` decisions, one bracket.
- `simulate`: one replayed sweep (`simulate`, `STRATEGIES`).
- `report`: summaries over repeats, rung correlations, the anytime figure, rich tables.
- `run`: `replay` (DataFrames) and `run_replay` (the CLI job).
"""

from __future__ import annotations

from ablate.replay.asha import Asha, rung_epochs
from ablate.replay.curves import Curves, enumerate_space
from ablate.replay.report import rung_correlations, summarize
from ablate.replay.run import ReplayReport, replay, run_replay
from ablate.replay.simulate import STRATEGIES, Run, Strategy, simulate

__all__ = [
    "STRATEGIES",
    "Asha",
    "Curves",
    "ReplayReport",
    "Run",
    "Strategy",
    "enumerate_space",
    "replay",
    "run_replay",
    "rung_correlations",
    "rung_epochs",
    "simulate",
    "summarize",
]
