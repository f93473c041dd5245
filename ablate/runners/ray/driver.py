"""The Tune trial: a function trainable that trains a single-worker trial itself, or launches
a Ray Train run for a data-parallel one.

It validates the sampled config. With one worker it trains it right there (`inline_trial`):
Ray Train's worker group (a controller, a placement group, a worker process and their
helpers, about 20 s on 2 cores) buys nothing for one process, and Tune reuses the trial's
process for the next trial. With several workers it runs a `TorchTrainer` named ``<sweep>-<trial id>``
(never a timestamp: a relaunched driver finds its run by name and resumes it from the last
checkpoint); results reach Tune through `TuneReportCallback`. Either way ASHA can stop a trial,
and the checkpoints live at ``<storage>/train/<sweep>-<trial id>/``.

**Failures.** A sampled config that does not validate, a non-finite loss and unreadable data
are recorded as ``failed`` and not retried. Any other failure (a worker or node lost, an
exception) fails the Train run (no restarts inside it) and raises here; Tune relaunches the
driver up to `TUNE_RETRIES` times, each relaunch resuming the run from its checkpoint, and then
records the trial as ``failed``; ``--resume`` retries such trials.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ray.train
import ray.train.torch
from ray import tune
from ray.tune.integration.ray_train import TuneReportCallback

from ablate.config import SweepConfig
from ablate.errors import ConfigError
from ablate.runners.ray.resources import Plan
from ablate.runners.ray.timing import log_marks_from_env, mark
from ablate.runners.ray.worker import failure_metrics, inline_trial, train_worker
from ablate.runners.sweep_results import RunStore, config_of, row_id_for
from ablate.search.translate import space_columns

TUNE_RETRIES = 2  # relaunches of a trial whose workers or driver failed (each resumes its checkpoint)


@dataclass(frozen=True)
class DriverSetup:
    """What every trial driver needs; failures are retried by Tune (`TUNE_RETRIES`), not Train."""

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
    tid = tune.get_context().get_trial_id()
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
            _torch_trainer(loop, setup).fit()  # a worker failure raises: Tune relaunches this driver
    finally:
        mark("driver_end", row_id=row_id)


def _torch_trainer(loop: dict[str, Any], setup: DriverSetup) -> ray.train.torch.TorchTrainer:
    """The Train run of a data-parallel trial, resumed by name from its last checkpoint."""
    plan = setup.plan
    per_worker = {"CPU": plan.cpus_per_worker, **({"GPU": plan.gpus_per_worker} if plan.gpus_per_worker else {})}
    return ray.train.torch.TorchTrainer(
        train_worker,
        train_loop_config=loop,
        scaling_config=ray.train.ScalingConfig(num_workers=plan.workers, use_gpu=plan.gpus_per_worker > 0,
                                               resources_per_worker=per_worker),
        run_config=ray.train.RunConfig(
            name=loop["row_id"],  # the trial id, never a timestamp: a restarted driver finds the run by name
            storage_path=setup.train_root,
            # no worker-group restarts inside a trial: Tune relaunches the whole driver instead
            # (resuming from the checkpoint), so a trial stopped by ASHA, whose worker placement
            # group the recorder removes, cannot come back with a new one
            failure_config=ray.train.FailureConfig(max_failures=0),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=1),
            callbacks=[TuneReportCallback()],
        ),
    )
