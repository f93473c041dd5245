"""`ablate run SWEEP`: Ray Tune over Ray Train (V2); the only package importing ray.train/ray.tune.

**Shape.** One Tune experiment per stage of the sweep (probe, search, confirm, ablation:
`ablate.study`), one Tune trial per configuration (and fold). The Tune trial is a
function trainable (`driver.trial_driver`). A single-worker trial trains right there
(`worker.inline_trial`; Tune reuses the process for the next trial); a data-parallel trial
(``resources.workers > 1``) launches a Ray Train ``TorchTrainer`` run named
``<sweep>-<trial id>`` from a light driver (on the nodes that declare the custom resource
``ablate_driver``, else 0.01 CPU), whose workers (`worker.train_worker`) report through
``TuneReportCallback``. Either way the trial is plain `run_trial` with three Ray touch points,
its checkpoints live at ``<storage>/train/<sweep>-<trial id>/``, and ASHA
(``time_attr="epoch"``, ``max_t=epochs``) stops bad trials.

One concern per module:

- `cluster`: the environment Ray reads, a local instance, joining a cluster (address probe).
- `resources`: `Plan`, per-trial resources and concurrency from the cluster's resources.
- `searcher`: the grid x Optuna searcher, the ASHA/FIFO scheduler, Optuna's quiet mode.
- `studies`: the grid points' Optuna studies in Optuna's journal (``RESULTS/optuna.journal``).
- `adopt`: each run's suggestion kept in storage; ``--resume`` adopts a run Tune's snapshot missed.
- `worker`: a trial's training, inline or in a Train worker; its reporters and checkpoints.
- `driver`: the Tune function trainable (trains inline, or launches the Train run).
- `placement`: freeing the placement group of a Train run whose Tune trial ended first.
- `recorder`: the Tune callback that writes each trial's rows; reconciliation after ``fit()``.
- `tracking`: Ray Tune's MLflow and W&B logger callbacks, one tracked run per trial (`ablate.tracking`);
  `trackers`: a stage's tracking callbacks, imported only when the sweep tracks.
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
from ablate.runners.ray.resources import DRIVER_RESOURCE, Plan, plan_resources
from ablate.runners.ray.run import SweepRun, run_sweep
from ablate.runners.ray.searcher import GridSearcher
from ablate.runners.ray.summary import sweep_trials

__all__ = [
    "DRIVER_RESOURCE",
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
