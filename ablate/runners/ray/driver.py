"""The Tune trial: a function trainable that trains a single-worker trial itself, or launches
a Ray Train run for a data-parallel one (Ray's Train-in-Tune pattern).

It validates the sampled config. With one worker it trains it right there (`inline_trial`):
Ray Train's worker group (a controller, a placement group, the worker processes, a process
group: 20-30 s on 2 cores; docs/speed.md) buys nothing for one process, and Tune reuses the
trial's process for the next trial. With ``resources.workers`` N >= 2 it runs a Ray Train V2
``TorchTrainer`` named ``<sweep>-<trial id>`` (never a timestamp: a relaunched trial finds its
run by name and Train resumes it from the last checkpoint), ``ScalingConfig(num_workers=N,
use_gpu, resources_per_worker, placement_strategy=resources.placement)``, whose workers
(`worker.train_worker`) report through ``TuneReportCallback``, so ASHA stops it per epoch.
Either way the checkpoints live at ``<storage>/train/<sweep>-<trial id>/``.

**Failures.** A sampled config that does not validate, a non-finite loss and unreadable data
are recorded as ``failed`` and not retried. A lost Train worker (process or node) is Train's:
``FailureConfig(max_failures=TRAIN_RETRIES)`` restarts the worker group from the run's last
checkpoint (``ray.train.get_checkpoint()``). Anything else (the trial's own process lost, Train's
retries spent, an exception) raises here; Tune relaunches the trial up to `TUNE_RETRIES` times,
each relaunch resuming from the checkpoint, and then records the trial as ``failed``;
``--resume`` retries such trials.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ray import tune

from ablate.config import SweepConfig
from ablate.errors import ConfigError
from ablate.runners.ray.resources import Plan
from ablate.runners.ray.timing import log_marks_from_env, mark
from ablate.runners.ray.worker import failure_metrics, inline_trial, train_worker
from ablate.runners.sweep_results import RunStore, config_of, row_id_for
from ablate.search.translate import space_columns

TUNE_RETRIES = 2  # relaunches of a trial that failed (its process or node lost; each resumes its checkpoint)
TRAIN_RETRIES = 2  # worker-group restarts inside a Train run (a lost worker; each from the last checkpoint)


@dataclass(frozen=True)
class DriverSetup:
    """What every trial needs (bound with ``tune.with_parameters``)."""

    sweep: SweepConfig
    train_root: str
    tb_root: str
    plan: Plan


def trial_driver(config: dict[str, Any], setup: DriverSetup) -> None:
    """The Tune trial: validate the sampled config and train it (inline) or run it as a Ray Train job.

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
        if plan.inline:
            inline_trial(loop, RunStore(setup.train_root), use_gpu=plan.gpus_per_worker > 0)
        else:
            torch_trainer(loop, setup).fit()  # Train's retries spent, or the trial's own failure: raises
    finally:
        mark("driver_end", row_id=row_id)


def torch_trainer(loop: dict[str, Any], setup: DriverSetup) -> Any:
    """The Train run of a data-parallel trial, resumed by name from its last checkpoint."""
    import ray.train
    import ray.train.torch
    from ray.tune.integration.ray_train import TuneReportCallback

    from ablate.runners.ray.timing import train_timing_callbacks

    plan = setup.plan
    return ray.train.torch.TorchTrainer(
        train_worker,
        train_loop_config=loop,
        scaling_config=ray.train.ScalingConfig(num_workers=plan.workers, use_gpu=plan.gpus_per_worker > 0,
                                               resources_per_worker=plan.worker,
                                               placement_strategy=plan.placement),
        run_config=ray.train.RunConfig(
            name=loop["row_id"],  # the trial id, never a timestamp: a relaunched trial finds the run by name
            storage_path=setup.train_root,
            failure_config=ray.train.FailureConfig(max_failures=TRAIN_RETRIES),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=1),  # the newest: what a resume needs
            callbacks=[TuneReportCallback(), *train_timing_callbacks()],
        ),
    )
