"""Tracking a sweep's trials with Ray Tune's own logger callbacks (``tracking:``, ``--track``).

`MlflowCallback` is Ray's ``MLflowLoggerCallback`` and `WandbCallback` Ray's ``WandbLoggerCallback``
(its logging actor per trial, its queue, its wait for uploads at the end), each subclassed where
Ray's cannot carry what a run must (`ablate.tracking`): Ray names a run after the Tune trial and
logs its raw ``config`` (the searcher's suggestion) as parameters, steps by Tune iteration, and
groups W&B runs by experiment. Here a run is named after the ablate trial id, carries the resolved
config and searched values, tags, the config id as its group, metrics at step = epoch, and at its
end the trials row's final numbers, status and reason. Each runs on the driver, after the
recorder (`ablate.runners.ray.recorder`) in the callback list: a trial's run exists from its start,
so the row the recorder writes names it (``tracking_ids``), and the run's end reads that row.
A tracker that fails warns once and is left out (`ablate.tracking.Guard`).

Ray's W&B logging actor and its queue items are private names (``_WandbLoggingActor``,
``_QueueItem``); ``_logger_actor_cls`` is the attribute Ray's callback reads for a subclass's actor.
Like `ablate.runners.ray.resume`'s use of a private attribute, kept on purpose here, pinned by the
lock and covered by ``tests/integration/test_tracking.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ray.air.integrations.mlflow import MLflowLoggerCallback
from ray.air.integrations.wandb import WandbLoggerCallback, _QueueItem, _WandbLoggingActor

from ablate.config import MlflowTracking, SweepConfig, WandbTracking
from ablate.errors import ConfigError
from ablate.results.store import committed_row
from ablate.runners.ray.recorder import run_id
from ablate.runners.sweep_results import config_of, row_id_for
from ablate.search.translate import space_columns
from ablate.tracking import Guard, RunInfo, epoch_metrics, run_info

__all__ = ["Describe", "MlflowCallback", "WandbCallback"]

UPLOAD_TIMEOUT_S = 120  # at the end of a stage, the most W&B's logging actors are waited for


@dataclass(frozen=True)
class Describe:
    """A Tune trial's run (`ablate.tracking.RunInfo`), from what its searcher suggested."""

    sweep: SweepConfig
    stage: str

    def __call__(self, trial: Any) -> RunInfo:
        config = trial.config
        try:
            cfg = config_of(self.sweep, config["values"], config.get("trial"))
        except ConfigError:
            cfg = None
        columns = {"sweep": self.sweep.name, "ray_trial_id": run_id(trial), "grid_point": config.get("grid_point"),
                   "stage": self.stage, **space_columns(config["values"]), **(config.get("columns") or {})}
        return run_info(cfg, self.row_id(trial), columns, fold=config.get("fold"), values=config["values"])

    def row_id(self, trial: Any) -> str:
        return row_id_for(self.sweep.name, run_id(trial))


class MlflowCallback(MLflowLoggerCallback):
    """Ray's MLflow callback, one run per trial as `ablate.tracking` describes it."""

    kind = "mlflow"

    def __init__(self, tracker: MlflowTracking, uri: str, describe: Describe, results_dir: Path) -> None:
        super().__init__(tracking_uri=uri, experiment_name=tracker.experiment or describe.sweep.name)
        self.describe, self.results_dir = describe, results_dir
        self.guard = Guard(f"tracking to MLflow at {uri}")
        self.writer: Any = None

    def setup(self, *args: Any, **kwargs: Any) -> None:
        from ablate.tracking.mlflow_run import MlflowWriter, bound_requests

        bound_requests(self.tracking_uri)
        self._trial_runs = {}
        self.guard.call("opening its experiment", super().setup, *args, **kwargs)
        if self.guard.failed:
            return
        self.writer = MlflowWriter(self.tracking_uri, self.mlflow_util.experiment_id)

    def log_trial_start(self, trial: Any) -> None:
        if self.writer is None or trial in self._trial_runs:
            return
        run = self.guard.call("starting a run", self.writer.start, self.describe(trial), reuse=True)
        if run is not None:
            self._trial_runs[trial] = run

    def log_trial_result(self, iteration: int, trial: Any, result: dict) -> None:
        if trial in self._trial_runs and "epoch" in result:
            self.guard.call("logging an epoch", self.writer.epoch, self._trial_runs[trial], result)

    def log_trial_end(self, trial: Any, failed: bool = False) -> None:
        if trial in self._trial_runs:
            row = committed_row(self.results_dir, self.describe.row_id(trial))
            self.guard.call("ending a run", self.writer.end, self._trial_runs.pop(trial), row, failed)

    def ref(self, trial: Any) -> str | None:
        """The trial's MLflow run id (None: not tracked)."""
        return None if self.guard.failed else self._trial_runs.get(trial)


class _WandbActor(_WandbLoggingActor):
    """Ray's W&B logging actor (one process per trial): epoch rows at step = epoch, the end row to the summary."""

    def run(self) -> None:
        from ablate.tracking.wandb_run import log_end, log_epoch

        run = self._wandb.init(*self.args, **self.kwargs)
        code = 0
        while True:
            kind, item = self.queue.get()
            if kind == _QueueItem.END:
                break
            if kind == _QueueItem.RESULT and "epoch_row" in item:
                log_epoch(run, item["epoch_row"])
            elif kind == _QueueItem.RESULT and "end_row" in item:
                code = log_end(run, item["end_row"], item["failed"])
        run.finish(exit_code=code)


class WandbCallback(WandbLoggerCallback):
    """Ray's W&B callback, one run per trial as `ablate.tracking` describes it (id and name = trial id,
    group = config id, job type = stage, run folders under ``RESULTS/wandb``)."""

    _logger_actor_cls = _WandbActor
    kind = "wandb"

    def __init__(self, tracker: WandbTracking, describe: Describe, results_dir: Path) -> None:
        from ablate.tracking.wandb_run import project

        super().__init__(project=project(tracker, describe.sweep.name), upload_timeout=UPLOAD_TIMEOUT_S)
        self.tracker, self.describe, self.results_dir = tracker, describe, results_dir
        self.guard = Guard("tracking to W&B")
        self.paths: dict[Any, str] = {}

    def setup(self, *args: Any, **kwargs: Any) -> None:
        self.guard.call("its set-up", super().setup, *args, **kwargs)  # no API key online: warn, go on

    def log_trial_start(self, trial: Any) -> None:
        if self.guard.failed or trial in self.paths:
            return
        self.guard.call("starting a run", self._start, trial)

    def _start(self, trial: Any) -> None:
        from ablate.tracking.wandb_run import init_kwargs, run_path

        info = self.describe(trial)
        self._start_logging_actor(trial, [], **init_kwargs(self.tracker, info, self.results_dir, run_id=info.name))
        self.paths[trial] = run_path(self.tracker, info, info.name)

    def log_trial_result(self, iteration: int, trial: Any, result: dict) -> None:
        if trial in self._trial_queues and "epoch" in result:
            self.guard.call("logging an epoch", self._trial_queues[trial].put,
                            (_QueueItem.RESULT, {"epoch_row": {"epoch": result["epoch"], **epoch_metrics(result)}}))

    def log_trial_end(self, trial: Any, failed: bool = False) -> None:
        if trial not in self._trial_queues:
            return
        row = committed_row(self.results_dir, self.describe.row_id(trial))
        self.guard.call("ending a run", self._trial_queues[trial].put,
                        (_QueueItem.RESULT, {"end_row": row, "failed": failed}))
        self.guard.call("ending a run", super().log_trial_end, trial, failed)
        self.paths.pop(trial, None)

    def ref(self, trial: Any) -> str | None:
        """The trial's W&B run path (None: not tracked)."""
        return None if self.guard.failed else self.paths.get(trial)
