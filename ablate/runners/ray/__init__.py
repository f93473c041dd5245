"""`ablate run SWEEP`: Ray Tune trials, data-parallel ones with kept DDP peers; the only Ray imports.

**Shape.** One Tune experiment per stage of the study's plan (probe, search, confirm, ablation:
`ablate.study`), one Tune trial per configuration (and fold). The Tune trial is a
function trainable (`driver.trial_driver`) that trains the configuration itself: alone
(`worker.inline_trial`), or as rank 0 of a DDP group (``resources.workers > 1``,
`worker.ddp_trial`) whose other ranks are actors in the trial's other placement-group bundles
(`peers`). Tune reuses the trial's process, and so its peers and their process group, for the
next trial. Ray Train V2's ``TorchTrainer`` did this before, at the price of a new worker group
per trial (20-30 s on 2 cores; README "Speed"). The trial is plain `run_trial` with three Ray
touch points, its checkpoints live at ``<storage>/train/<sweep>-<trial id>/``, and ASHA
(``time_attr="epoch"``, ``max_t=epochs``) stops bad trials.

One concern per module:

- `cluster`: the environment Ray reads, a local instance, joining a cluster (address probe).
- `resources`: `Plan`, per-trial resources and concurrency from the cluster's resources.
- `searcher`: the grid x Optuna searcher, the ASHA/FIFO scheduler, Optuna's quiet mode.
- `worker`: a trial's training, alone or as rank 0 of a DDP group; its reporters and checkpoints.
- `peers`: the DDP peers (ranks 1..) of a trial process, kept from trial to trial; lock-step per epoch.
- `driver`: the Tune function trainable (validates the config, trains it).
- `recorder`: the Tune callback that writes each trial's rows; reconciliation after ``fit()``.
- `probes`: the probe stage (``probe:``): its searcher, its recorder (``probes`` rows), its verdict.
- `live`: the rich live view.
- `resume`: experiment paths, new-run/resume checks, `Tuner.restore`.
- `summary`: a sweep's rows, best first, and the summary printed at the end.
- `stages`: the stages of a run (probe, search, confirm, ablation), one Tune experiment each.
- `run`: `run_sweep`; `sweep_run`: `SweepRun`, the parameters of one run (its plan among them).
- `timing`: marks for ``benchmarks/sweep_overhead.py`` (the ``ablate.timing`` logger).

Importing the package changes no global state: Optuna's verbosity and its warning filter are
set inside a run (`searcher.quiet_optuna`) and restored after it.
"""

from __future__ import annotations

from ablate.runners.ray.cluster import start_local_ray
from ablate.runners.ray.common import Progress
from ablate.runners.ray.driver import TUNE_RETRIES
from ablate.runners.ray.resources import Plan, plan_resources
from ablate.runners.ray.run import SweepRun, run_sweep
from ablate.runners.ray.searcher import GridSearcher
from ablate.runners.ray.summary import sweep_trials

__all__ = [
    "TUNE_RETRIES",
    "GridSearcher",
    "Plan",
    "Progress",
    "SweepRun",
    "plan_resources",
    "run_sweep",
    "start_local_ray",
    "sweep_trials",
]
