"""The Tune trial: a function trainable that validates the sampled config and trains it.

With one worker it trains right there (`worker.inline_trial`): Ray Train's worker group (a
controller, a placement group, a worker process and their helpers, about 20 s on 2 cores)
buys nothing for one process. With several it trains as rank 0 of a DDP group whose other ranks
are actors it keeps for its next trial (`worker.ddp_trial`, `ablate.runners.ray.peers`). Tune
reuses the trial's process (and so its peers) from trial to trial. Either way ASHA can stop a
trial, and the checkpoints live at ``<storage>/train/<sweep>-<trial id>/``, found by name (never a
timestamp) by a relaunched trial, which resumes from the newest.

**Failures.** A sampled config that does not validate, a non-finite loss and unreadable data
are recorded as ``failed`` and not retried. Any other failure (a worker, a peer or a node lost,
an exception) raises here; Tune relaunches the trial up to `TUNE_RETRIES` times, each relaunch
resuming from the checkpoint, and then records the trial as ``failed``; ``--resume`` retries
such trials.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ray import tune

from ablate.config import SweepConfig
from ablate.errors import ConfigError
from ablate.runners.ray.resources import Plan
from ablate.runners.ray.timing import log_marks_from_env, mark
from ablate.runners.ray.worker import ddp_trial, failure_metrics, inline_trial
from ablate.runners.sweep_results import RunStore, config_of, row_id_for
from ablate.search.translate import space_columns

TUNE_RETRIES = 2  # relaunches of a trial that failed (a lost process, peer or node; each resumes its checkpoint)


@dataclass(frozen=True)
class DriverSetup:
    """What every trial needs (bound with ``tune.with_parameters``)."""

    sweep: SweepConfig
    train_root: str
    tb_root: str
    plan: Plan


def trial_driver(config: dict[str, Any], setup: DriverSetup) -> None:
    """The Tune trial: validate the sampled config and train it (one worker, or rank 0 of several).

    Args:
        config: what the stage's searcher suggested (``grid_point``, ``values``, and ``trial``,
            ``fold``, ``columns`` when set; `ablate.runners.ray.searcher`).
        setup: bound with ``tune.with_parameters``.
    """
    log_marks_from_env()
    sweep, plan = setup.sweep, setup.plan
    tid = config.get("ray_trial_id") or tune.get_context().get_trial_id()  # an adopted run keeps its id
    row_id = row_id_for(sweep.name, tid)
    mark("driver_start", row_id=row_id)
    try:
        cfg = config_of(sweep, config["values"], config.get("trial"))
    except ConfigError as e:  # an invalid combination fails this trial, not the sweep
        tune.report(failure_metrics(sweep.search.metric, str(e)))
        return
    columns = {"sweep": sweep.name, "ray_trial_id": tid, "grid_point": config["grid_point"],
               **space_columns(config["values"]), **(config.get("columns") or {})}
    loop = {"config": cfg.model_dump_json(), "row_id": row_id, "columns": columns,
            "tb_dir": f"{setup.tb_root}/{row_id}", "metric": sweep.search.metric, "fold": config.get("fold")}
    mark("trainer_fit", row_id=row_id)
    try:
        store = RunStore(setup.train_root)
        if plan.inline:
            inline_trial(loop, store, use_gpu=plan.gpus_per_worker > 0)
        else:  # a failure raises: Tune relaunches this trial (a new process, new peers)
            ddp_trial(loop, store, plan.workers, plan.cpus_per_worker, plan.gpus_per_worker)
    finally:
        mark("driver_end", row_id=row_id)
