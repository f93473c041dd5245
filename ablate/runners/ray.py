"""`ablate run SWEEP`: Ray Tune over Ray Train (V2); the only module importing ray.train/ray.tune.

**Shape.** One Tune trial per sampled configuration. The Tune trial is a light function
trainable (`_trial_driver`, scheduled on the custom resource ``ablate_driver`` of the head
node when the cluster declares it, as Ray's Train+Tune guide recommends for drivers) that
validates the sampled config and launches a `TorchTrainer` run named ``<sweep>-<trial id>``
(never a timestamp: restore finds runs by name). Its workers (`_train_worker`) are plain
`run_trial` with three Ray touch points: a `Runtime` from ``ray.train.get_context()`` /
``ray.train.torch.get_device()`` / ``prepare_model`` (DDP; gloo on CPU), a resume state from
``ray.train.get_checkpoint()``, and a reporter that calls ``ray.train.report`` on every rank
once per epoch (rank 0 attaches the checkpoint). Results reach Tune through
`TuneReportCallback`, so ASHA (``time_attr="epoch"``, ``max_t=epochs``) stops bad trials.
A last report (no ``epoch`` key, so ASHA ignores it) carries the trial's final metrics and
the ``final`` checkpoint with every results table.

**Searching.** `_GridSearcher` runs the outer product of the grid axes, each grid point
with its own Ray `OptunaSearch` over `SpaceSampler` (see `ablate.search.translate`).

**Results.** `ablate.runners.sweep_results`: the driver writes each trial's rows exactly
once, from the run's checkpoints in storage (a Tune callback when the trial ends, and a
reconciliation pass after ``fit()``).

**Resume.** The Tune experiment lives at ``<storage>/<sweep name>`` (storage defaults to
``RESULTS/ray``), Train runs at ``<storage>/train/<row id>``. ``resume=True`` calls
``Tuner.restore(..., resume_unfinished=True, resume_errored=True)``: finished trials are not
rerun; an unfinished trial's driver relaunches its Train run under the same name, which
restores the run's last checkpoint, and the worker continues `run_trial` from it.

**Failures.** A sampled config that does not validate, a non-finite loss and unreadable
data are recorded as ``failed`` and not retried. Any other failure (a worker or node lost, an
exception) fails the Train run (no restarts inside it) and raises in the driver; Tune
relaunches the driver up to ``TUNE_RETRIES`` times, each relaunch resuming the run from its
checkpoint, and then records the trial as ``failed``; ``--resume`` retries such trials.

**Placement groups.** A trial stopped by ASHA kills its driver, and with it the Train
controller; Ray's placement-group cleaner needs the dashboard's state API, so where that is
missing (``ray[tune,train]`` without ``ray[default]``) the workers' placement group would
hold its CPUs/GPUs until the sweep ends. The recorder removes the group of every ended
trial (each result carries its id); Train runs never restart their worker group, so a
removed group cannot come back.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shlex
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import optuna
import pandas as pd
import ray
import ray.train
import ray.train.torch
from ray import tune
from ray.tune.integration.ray_train import TuneReportCallback
from ray.tune.schedulers import AsyncHyperBandScheduler, FIFOScheduler, TrialScheduler
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch
from rich.console import Console
from rich.live import Live
from rich.table import Table

from ablate.config import SweepConfig, TrialConfig
from ablate.engine.runtime import Runtime
from ablate.errors import AblateError, ConfigError, SweepInterrupted
from ablate.results import load
from ablate.runners.sweep_results import (
    FINAL,
    RunStore,
    TrialEnd,
    epoch_dir_name,
    read_checkpoint,
    reconcile,
    record_trial,
    row_id_for,
    write_epoch_checkpoint,
    write_final_checkpoint,
)
from ablate.search.translate import (
    SpaceSampler,
    display_value,
    grid_points,
    make_sampler,
    sampled_axes,
    space_columns,
    trial_config,
)

__all__ = ["Plan", "plan_resources", "run_sweep", "start_local_ray", "sweep_trials"]

log = logging.getLogger(__name__)
optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "study created" line per grid point
# a resumed trial re-reports the epochs its checkpoint already holds; Optuna keeps the first value
warnings.filterwarnings("ignore", message="The reported value is ignored because this `step=", category=UserWarning)
DRIVER_RESOURCE = "ablate_driver"  # custom resource of the node(s) that host trial drivers
Progress = Literal["auto", "live", "lines", "off"]
TUNE_RETRIES = 2  # relaunches of a trial whose workers or driver failed (each resumes its checkpoint)

_ENV = {  # read when Ray starts and when Tune/Train run (not at import); the user's values win
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AIR_NEW_OUTPUT": "0",  # with verbose=0 the legacy reporter prints nothing
    "RAY_CHDIR_TO_TRIAL_DIR": "0",  # keep relative paths meaning what they meant
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",  # our Parquet/TensorBoard replace Tune's CSV/JSON
    "TUNE_GLOBAL_CHECKPOINT_S": "2",  # experiment state is small: save it often (resume)
    "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.25",  # controller poll: 2 s default delays reports and shutdown
    "RAY_TRAIN_METRICS_ENABLED": "0",
    "RAY_TRAIN_ENABLE_CONTROLLER_STRUCTURED_LOGGING": "0",
    "RAY_TRAIN_ENABLE_WORKER_STRUCTURED_LOGGING": "0",
    "RAY_TRAIN_ENABLE_STATE_ACTOR_RECONCILIATION": "0",
}
_LOCAL_ENV = {"RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0"}  # one actor less per trial; no spot nodes here


def _apply_env(local: bool) -> None:
    for k, v in {**_ENV, **(_LOCAL_ENV if local else {})}.items():
        os.environ.setdefault(k, v)



# --------------------------------------------------------------------------- Ray start-up


def start_local_ray(num_cpus: int | None = None, num_gpus: int | None = None) -> None:
    """Start a local Ray instance tuned for quick start-up (no dashboard, quiet workers).

    Args:
        num_cpus: logical CPUs (default: all of this machine's).
        num_gpus: GPUs (default: Ray's detection).
    """
    _apply_env(local=True)
    ray.init(
        address="local",  # a fresh instance even when RAY_ADDRESS points at a cluster
        num_cpus=num_cpus or os.cpu_count(),
        num_gpus=num_gpus,
        resources={DRIVER_RESOURCE: 1000},
        include_dashboard=False,
        log_to_driver=_show_worker_logs(),
        logging_level=logging.ERROR,
        object_store_memory=512 * 2**20,  # results are small; images never travel through it
    )


def _connect(address: str) -> None:
    _apply_env(local=False)
    _probe(address)
    env = {k: os.environ[k] for k in sorted(os.environ) if k.startswith(("RAY_TRAIN_", "TUNE_", "ABLATE_"))}
    try:
        ray.init(address=address, runtime_env={"env_vars": env}, log_to_driver=_show_worker_logs(),
                 logging_level=logging.ERROR)
    except (ConnectionError, TimeoutError, RuntimeError, ValueError) as e:
        ray.shutdown()
        raise AblateError(f"cannot join a Ray cluster at {address}: {_one_line(e)}; start one "
                          "(`ray start --head`, or a file in cluster/) or run here with --local") from None


def _probe(address: str, timeout: float = 5.0) -> None:
    """Fail fast on an explicit ``HOST:PORT`` / ``ray://HOST:PORT`` nobody listens on (ray.init
    would retry for minutes); ``auto`` is left to Ray."""
    import socket

    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    if address == "auto" or not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        raise AblateError(f"cannot join a Ray cluster at {address}: nothing answers at {hostport} ({e}); "
                          "check the head's address and port (`ray status` on the head), or run here "
                          "with --local") from None


def _show_worker_logs() -> bool:
    return os.environ.get("ABLATE_RAY_LOGS", "0") == "1"


def _mark(event: str, **fields: Any) -> None:
    """Append a timestamped event to ``$ABLATE_TIMING_LOG`` (benchmarks/sweep_overhead.py)."""
    path = os.environ.get("ABLATE_TIMING_LOG")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"t": time.time(), "event": event, "pid": os.getpid(), **fields}) + "\n")


# --------------------------------------------------------------------------- resources


@dataclass(frozen=True)
class Plan:
    """Resources of one trial and how many trials run at once."""

    workers: int
    cpus_per_worker: float
    gpus_per_worker: float
    concurrency: int
    driver: dict[str, float]  # what the Tune trial (the Train driver) requests


def plan_resources(sweep: SweepConfig, cluster: dict[str, float], *, strict: bool) -> Plan:
    """Per-trial resources and concurrency from the cluster's resources and the sweep.

    Args:
        cluster: ``ray.cluster_resources()``.
        strict: raise when a trial cannot fit (a fixed local machine); else warn (autoscaling).
    """
    res = sweep.resources
    total_cpu, total_gpu = cluster.get("CPU", 0.0), cluster.get("GPU", 0.0)
    gpus = (1.0 if total_gpu > 0 else 0.0) if res.gpus_per_worker == "auto" else float(res.gpus_per_worker)
    driver = {DRIVER_RESOURCE: 1.0} if cluster.get(DRIVER_RESOURCE, 0) > 0 else {"CPU": 0.01}
    trial_cpu = res.workers * res.cpus_per_worker + driver.get("CPU", 0.0)
    fits = [math.floor(total_cpu / trial_cpu + 1e-9)]
    if gpus > 0:
        fits.append(math.floor(total_gpu / (res.workers * gpus) + 1e-9))
    fit = min(fits)
    if res.gpus_per_worker == "auto" and gpus == 0 and not strict:
        log.warning("no GPU in the cluster now: trials train on CPU; set resources.gpus_per_worker=1 "
                    "to wait for GPU nodes from an autoscaler")
    if fit < 1:
        msg = (f"one trial needs {res.workers} worker(s) x {res.cpus_per_worker:g} CPU"
               + (f" x {gpus:g} GPU" if gpus else "")
               + f" but the cluster has {total_cpu:g} CPU / {total_gpu:g} GPU; lower resources.*")
        if strict:
            raise ConfigError(msg)
        log.warning("%s (waiting for the autoscaler)", msg)
        fit = 1
    concurrency = min(fit, sweep.search.max_concurrent or fit)
    return Plan(res.workers, res.cpus_per_worker, gpus, concurrency, driver)


# --------------------------------------------------------------------------- searcher


class _GridSearcher(Searcher):
    """Outer product of the grid axes; each point has its own Optuna searcher and num_samples.

    Trials are issued round-robin over the points. Suggested configs are
    ``{"ray_trial_id", "grid_point", "values": {dotted path: value}}``.
    """

    def __init__(self, sweep: SweepConfig) -> None:
        search = sweep.search
        super().__init__(metric=search.metric, mode=search.mode)
        self._points = grid_points(sweep)
        self._axes = sampled_axes(search)
        self._per_point = search.num_samples
        self._issued = [0] * len(self._points)
        self._owner: dict[str, int] = {}
        self._subs: list[OptunaSearch | None] = [
            OptunaSearch(
                space=SpaceSampler(self._axes), metric=search.metric, mode=search.mode,
                sampler=make_sampler(search.algorithm, search.seed + i, search.num_samples),
            ) if self._axes else None
            for i in range(len(self._points))
        ]

    @property
    def total(self) -> int:
        return len(self._points) * self._per_point

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return True  # the space and metric came with the sweep

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        open_points = [i for i, n in enumerate(self._issued) if n < self._per_point]
        if not open_points:
            return Searcher.FINISHED
        i = min(open_points, key=lambda j: (self._issued[j], j))
        values = dict(self._points[i])
        sub = self._subs[i]
        if sub is not None:
            params = sub.suggest(trial_id)
            if params is None:
                return None
            values.update({key: params[key] for key in self._axes})
        self._issued[i] += 1
        self._owner[trial_id] = i
        return {"ray_trial_id": trial_id, "grid_point": i, "values": values}

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        sub = self._sub_of(trial_id)
        if sub is not None and self.metric in result:
            sub.on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        sub = self._sub_of(trial_id)
        if sub is not None:
            sub.on_trial_complete(trial_id, result, error)

    def _sub_of(self, trial_id: str) -> OptunaSearch | None:
        i = self._owner.get(trial_id)
        return None if i is None else self._subs[i]

    # Tune's Searcher save/restore protocol. The state holds live OptunaSearch objects (Optuna
    # studies), which Ray itself can only persist by pickling: its own OptunaSearch.restore and
    # Tuner.restore (tuner.pkl) unpickle files from the same experiment folder. So this adds no
    # trust boundary of its own: `--resume` executes whatever the experiment folder holds, and
    # must only be pointed at storage the user controls (README, "Resume").
    def save(self, checkpoint_path: str) -> None:
        import ray.cloudpickle as pickle

        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.__dict__, f)

    def restore(self, checkpoint_path: str) -> None:
        import ray.cloudpickle as pickle

        with open(checkpoint_path, "rb") as f:
            self.__dict__.update(pickle.load(f))


def _scheduler(sweep: SweepConfig) -> TrialScheduler:
    sched = sweep.scheduler
    if sched.kind == "none":
        return FIFOScheduler()
    epochs = sweep.trial.epochs
    return AsyncHyperBandScheduler(
        time_attr="epoch", max_t=epochs, grace_period=min(sched.grace_period, epochs),
        reduction_factor=sched.reduction_factor,
        stop_last_trials=False,  # trials end by themselves at `epochs`; the final report must arrive
    )


# --------------------------------------------------------------------------- worker


class _TrainReporter:
    """`Reporter` for a Train worker: ``ray.train.report`` on every rank, checkpoint from rank 0."""

    def __init__(self, rank: int, row_id: str) -> None:
        self.rank, self.row_id = rank, row_id
        pg = ray.util.get_current_placement_group()
        self.pg = pg.id.hex() if pg is not None else ""
        self.info: dict[str, Any] = {}

    def on_start(self, info: dict[str, Any]) -> None:
        self.info = info

    def on_epoch(self, row: dict[str, Any], state: Callable[[], dict[str, Any]]) -> None:
        metrics = {**row, "pg": self.pg}
        name = epoch_dir_name(row["epoch"])
        if self.rank != 0:
            ray.train.report(metrics, checkpoint_dir_name=name)
            return
        _mark("epoch_trained", row_id=self.row_id, epoch=row["epoch"], epoch_s=row["epoch_s"])
        st = state()
        progress = {"row_id": self.row_id, "info": self.info, "history": st["history"], "elapsed": st["elapsed"]}
        with tempfile.TemporaryDirectory() as d:
            write_epoch_checkpoint(Path(d), progress, st)
            _mark("checkpoint_written", row_id=self.row_id, epoch=row["epoch"])
            ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(d), checkpoint_dir_name=name)
        _mark("epoch_reported", row_id=self.row_id, epoch=row["epoch"])

    def final(self, metrics: dict[str, Any], write: Callable[[Path], None] | None) -> None:
        """The last report: final metrics, and (rank 0, when `write`) the ``final`` checkpoint."""
        metrics = {**metrics, "pg": self.pg}
        if write is None:
            ray.train.report(metrics)
        elif self.rank != 0:
            ray.train.report(metrics, checkpoint_dir_name=FINAL)
        else:
            with tempfile.TemporaryDirectory() as d:
                write(Path(d))
                ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(d),
                                 checkpoint_dir_name=FINAL)


def _train_worker(loop: dict[str, Any]) -> None:
    """One Train worker: `run_trial` on this rank, resuming from the run's last checkpoint."""
    from ablate.engine.trainer import run_trial

    _mark("worker_start", row_id=loop["row_id"])
    ctx = ray.train.get_context()
    runtime = Runtime(device=ray.train.torch.get_device(), rank=ctx.get_world_rank(),
                      world_size=ctx.get_world_size(), wrap_model=ray.train.torch.prepare_model)
    reporter = _TrainReporter(runtime.rank, loop["row_id"])
    resume, finished = _load_checkpoint(ray.train.get_checkpoint())
    if finished is not None:  # the run had ended; its tables are in storage already
        reporter.final(finished, None)
        return
    try:
        cfg = TrialConfig.model_validate_json(loop["config"])
        outcome = run_trial(cfg, runtime=runtime, reporter=reporter, resume=resume,
                            tb_dir=loop["tb_dir"], trial_id=loop["row_id"], extra_columns=loop["columns"])
    except AblateError as e:  # bad data/model input: recorded, not retried
        reporter.final(_failure_metrics(loop["metric"], str(e)), None)
        return
    _mark("trial_done", row_id=loop["row_id"], wall_s=outcome.trial_row["wall_s"])
    metrics = _final_metrics(outcome, loop["metric"])
    progress = {"row_id": loop["row_id"], "info": reporter.info, "history": outcome.tables["epochs"],
                "metrics": metrics}
    best = None
    if outcome.best_state is not None:
        best = (outcome.best_state, cfg.resolved_dump(), json.loads(outcome.trial_row["class_names"]))
    reporter.final(metrics, lambda d: write_final_checkpoint(d, progress, outcome.tables, best))
    _mark("final_reported", row_id=loop["row_id"])


def _load_checkpoint(ckpt: ray.train.Checkpoint | None) -> tuple[dict | None, dict | None]:
    """(resume state, final metrics) of the run's last checkpoint; (None, None) on a fresh run."""
    if ckpt is None:
        return None, None
    with ckpt.as_directory() as d:
        return read_checkpoint(Path(d))


def _final_metrics(outcome: Any, metric: str) -> dict[str, Any]:
    """Last epoch's metrics with the best epoch's val_acc/val_loss, test metrics and status."""
    row = outcome.trial_row
    last = outcome.tables["epochs"][-1] if outcome.tables["epochs"] else {}
    out = {k: v for k, v in last.items() if k not in ("epoch", "trial_id")}  # no `epoch`: ASHA skips it
    out.update(val_acc=row["val_acc"], val_loss=row["val_loss"], test_acc=row["test_acc"],
               test_loss=row["test_loss"], epochs_run=row["epochs_run"], best_epoch=row["best_epoch"],
               status=outcome.status, reason=outcome.reason, final=True)
    out.setdefault(metric, math.nan)
    return out


def _failure_metrics(metric: str, reason: str) -> dict[str, Any]:
    return {metric: math.nan, "final": True, "status": "failed", "reason": reason}


# --------------------------------------------------------------------------- Tune trial (driver)


@dataclass(frozen=True)
class _Setup:
    """What every trial driver needs; failures are retried by Tune (`TUNE_RETRIES`), not Train."""

    sweep: SweepConfig
    train_root: str
    tb_root: str
    plan: Plan


def _trial_driver(config: dict[str, Any], setup: _Setup) -> None:
    """The Tune trial: validate the sampled config and run it as a Ray Train job."""
    sweep, plan = setup.sweep, setup.plan
    tid = tune.get_context().get_trial_id()
    row_id = row_id_for(sweep.name, tid)
    _mark("driver_start", row_id=row_id)
    try:
        cfg = trial_config(sweep, config["values"])
    except ConfigError as e:  # an invalid combination fails this trial, not the sweep
        tune.report(_failure_metrics(sweep.search.metric, str(e)))
        return
    columns = {"sweep": sweep.name, "ray_trial_id": tid, "grid_point": config["grid_point"],
               **space_columns(config["values"])}
    per_worker = {"CPU": plan.cpus_per_worker, **({"GPU": plan.gpus_per_worker} if plan.gpus_per_worker else {})}
    trainer = ray.train.torch.TorchTrainer(
        _train_worker,
        train_loop_config={"config": cfg.model_dump_json(), "row_id": row_id, "columns": columns,
                           "tb_dir": f"{setup.tb_root}/{row_id}", "metric": sweep.search.metric},
        scaling_config=ray.train.ScalingConfig(num_workers=plan.workers, use_gpu=plan.gpus_per_worker > 0,
                                               resources_per_worker=per_worker),
        run_config=ray.train.RunConfig(
            name=row_id,  # the trial id, never a timestamp: a restarted driver finds the run by name
            storage_path=setup.train_root,
            # no worker-group restarts inside a trial: Tune relaunches the whole driver instead
            # (resuming from the checkpoint), so a trial stopped by ASHA, whose worker placement
            # group the recorder removes, cannot come back with a new one
            failure_config=ray.train.FailureConfig(max_failures=0),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=1),
            callbacks=[TuneReportCallback()],
        ),
    )
    _mark("trainer_fit", row_id=row_id)
    try:
        trainer.fit()  # a worker failure raises: Tune relaunches this driver, Train resumes the run
    finally:
        _mark("driver_end", row_id=row_id)


def _one_line(err: BaseException | str | None) -> str:
    """The last meaningful line of an error (Ray wraps worker tracebacks)."""
    text = str(err or "").strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith(("Traceback", "File "))]
    return (lines[-1] if lines else text)[:500]


def _trial_name(trial: Any) -> str:
    return trial.trial_id


# --------------------------------------------------------------------------- driver callbacks


class _LiveView:
    """Counts of running / finished / stopped early / failed trials and the best result so far."""

    def __init__(self, console: Console, mode: Progress, sweep: SweepConfig, total: int,
                 known: dict[str, str] | None = None) -> None:
        """`known`: Tune trial id -> status of trials with rows already (a resumed sweep)."""
        self.console, self.sweep, self.total = console, sweep, total
        self.live_mode = mode == "live" or (mode == "auto" and console.is_terminal)
        self.known = dict(known or {})
        self.counts = {"ok": 0, "stopped_early": 0, "failed": 0}
        for status in self.known.values():
            self.counts[status] = self.counts.get(status, 0) + 1
        self.running: set[str] = set()
        self.best: tuple[float, str] | None = None
        self._live: Live | None = None

    def start(self) -> None:
        if self.live_mode:
            self._live = Live(self._render(), console=self.console, auto_refresh=False, transient=False)
            self._live.start()

    def stop(self) -> None:
        if self._live is not None:
            self._live.update(self._render(), refresh=True)
            self._live.stop()
            self._live = None

    def started(self, trial_id: str) -> None:
        self.running.add(trial_id)
        self._refresh()

    def result(self, trial_id: str, result: dict[str, Any]) -> None:
        value = result.get(self.sweep.search.metric)
        if isinstance(value, (int, float)) and not math.isnan(value):
            sign = 1 if self.sweep.search.mode == "max" else -1
            if self.best is None or sign * value > sign * self.best[0]:
                self.best = (float(value), trial_id)
                self._refresh()

    def ended(self, trial_id: str, row: dict[str, Any]) -> None:
        self.running.discard(trial_id)
        if trial_id in self.known:  # a resumed trial that had a row (failed): count it once
            self.counts[self.known.pop(trial_id)] -= 1
        status = str(row.get("status"))
        self.counts[status] = self.counts.get(status, 0) + 1
        if self._live is None:
            metric = self.sweep.search.metric if self.sweep.search.metric in row else "val_acc"
            val = row.get(metric)
            shown = f"{metric} {val:.4f}" if isinstance(val, float) and not math.isnan(val) else ""
            why = f" ({row.get('reason')})" if status != "ok" and row.get("reason") else ""
            self.console.print(f"{row['trial_id']}: {status}{why} {row.get('epochs_run', 0)} epoch(s) {shown} | "
                               f"{self._line()}", highlight=False, soft_wrap=True)
        self._refresh()

    def _line(self) -> str:
        c = self.counts
        done = sum(c.values())
        best = f"best {self.sweep.search.metric} {self.best[0]:.4f} ({self.best[1]})" if self.best else "best -"
        return (f"running {len(self.running)}, finished {c['ok']}, stopped early {c['stopped_early']}, "
                f"failed {c['failed']}, {done}/{self.total} done; {best}")

    def _render(self) -> Table:
        t = Table(title=f"ablate run {self.sweep.name}", show_header=True)
        for col in ("running", "finished", "stopped early", "failed", "done", f"best {self.sweep.search.metric}"):
            t.add_column(col)
        c = self.counts
        best = f"{self.best[0]:.4f} ({self.best[1]})" if self.best else "-"
        t.add_row(str(len(self.running)), str(c["ok"]), str(c["stopped_early"]), str(c["failed"]),
                  f"{sum(c.values())}/{self.total}", best)
        return t

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._render(), refresh=True)


class _Recorder(tune.Callback):
    """Writes each ended trial's rows, frees its placement group and feeds the live view.

    Pickled into the Tune experiment (``tuner.pkl``): the view is left out of the pickle, and
    a restored run installs a fresh recorder (`_install_callbacks`).
    """

    def __init__(self, results_dir: Path, sweep: SweepConfig, store: RunStore, view: _LiveView | None) -> None:
        self.results_dir, self.sweep, self.store, self.view = results_dir, sweep, store, view

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "view": None}

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if self.view:
            self.view.started(trial.trial_id)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        if self.view:
            self.view.result(trial.trial_id, result)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._ended(trial, errored=False)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._ended(trial, errored=True)

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        _free_placement_group((trial.last_result or {}).get("pg"))  # the relaunched driver needs them

    def _ended(self, trial: Any, errored: bool) -> None:
        _mark("trial_ended", row_id=row_id_for(self.sweep.name, trial.trial_id))
        last = dict(trial.last_result or {})
        _free_placement_group(last.get("pg"))
        error = _one_line(trial.get_error()) if errored else ""
        end = TrialEnd(trial.trial_id, dict(trial.config["values"]), int(trial.config["grid_point"]),
                       errored, last, error)
        try:
            row = record_trial(self.results_dir, self.sweep, end, self.store)
        except Exception as e:  # noqa: BLE001 - the reconciliation pass writes it after fit()
            log.warning("could not record trial %s now (%s); it is written when the sweep ends", trial.trial_id, e)
            return
        _mark("trial_recorded", row_id=row["trial_id"])
        if self.view:
            self.view.ended(trial.trial_id, row)


def _free_placement_group(pg_hex: str | None) -> None:
    """Remove a Train worker placement group that outlived its controller (see module doc)."""
    if not pg_hex:
        return
    from ray._raylet import PlacementGroupID
    from ray.util.placement_group import (
        PlacementGroup,
        placement_group_table,
        remove_placement_group,
    )

    pg = PlacementGroup(PlacementGroupID(bytes.fromhex(pg_hex)))
    try:
        if placement_group_table(pg).get("state") in ("CREATED", "PENDING", "RESCHEDULING"):
            remove_placement_group(pg)
    except Exception as e:  # noqa: BLE001 - already removed by Ray's own cleaner
        log.debug("placement group %s: %s", pg_hex, e)


# --------------------------------------------------------------------------- run_sweep


def run_sweep(
    sweep: SweepConfig,
    *,
    results_dir: str | Path,
    address: str | None = None,
    storage: str | None = None,
    local: bool = False,
    resume: bool = False,
    data_override: str | None = None,
    progress: Progress = "auto",
    console: Console | None = None,
    source: str | None = None,
) -> pd.DataFrame:
    """Run a sweep with Ray Tune (one Ray Train job per trial) and write its Parquet rows.

    Args:
        sweep: the validated sweep (`ablate.config.load_sweep`).
        results_dir: the results folder (Parquet tables, TensorBoard logs, saved models).
        address: ``None`` (a local Ray instance), ``"auto"`` (the cluster this node belongs
            to) or ``"ray://HOST:10001"`` (Ray Client).
        storage: where the Tune experiment and Train checkpoints live (path or URI);
            ``RESULTS/ray`` by default; required for a multi-node cluster (shared by all nodes).
        local: run here on a fresh local Ray instance (the default when `address` is None).
        resume: continue the interrupted sweep stored for this sweep and results folder.
        data_override: replaces ``data.path`` (``synthetic``, a folder or a manifest).
        progress: ``live`` (a rich table), ``lines`` (one line per trial), ``off``, or ``auto``
            (live on a terminal, lines otherwise).
        console: where progress and the summary go (stderr by default).
        source: the sweep as the user named it (a name or a file), for the ``--resume`` hint.

    Returns:
        The trials rows of this sweep (one per Tune trial), best first.

    Raises:
        ConfigError: bad flags, nothing to resume, an existing run without ``resume``, a trial
            that cannot fit the cluster. Raised before any trial starts.
    """
    console = console or Console(stderr=True)
    _apply_env(local=not address)
    if local and address:
        raise ConfigError("--local runs on a local Ray instance; drop --address (or --local)")
    if address and address.startswith("ray://") and not storage:
        raise ConfigError("with a ray:// address pass --storage (a path or URI every node and this machine can read)")
    results_dir = Path(results_dir).resolve()
    storage_root = _storage_root(storage, results_dir)
    exp_path = f"{storage_root}/{_experiment_name(sweep.name)}"
    sweep = _with_data(sweep, data_override)
    sweep = _resumable_sweep(sweep, results_dir, exp_path, resume, console)
    started_here = not ray.is_initialized()
    _mark("ray_init")
    if started_here and address:
        _connect(address)
    elif started_here:
        start_local_ray()
    _mark("ray_ready")
    try:
        return _run(sweep, results_dir, storage_root, exp_path, resume, address, storage, progress, console,
                    source or sweep.name)
    finally:
        if started_here:
            ray.shutdown()


def _run(sweep: SweepConfig, results_dir: Path, storage_root: str, exp_path: str, resume: bool,
         address: str | None, storage: str | None, progress: Progress, console: Console,
         source: str) -> pd.DataFrame:
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    if len(nodes) > 1 and not storage:
        raise ConfigError(f"the cluster has {len(nodes)} nodes: pass --storage (a shared path or URI) "
                          "so every node reads and writes the same checkpoints")
    plan = plan_resources(sweep, ray.cluster_resources(), strict=address is None)
    client = ray.util.client.ray.is_connected()
    store = RunStore(f"{storage_root}/train")
    setup = _Setup(sweep, store.root, str(results_dir / "tensorboard"), plan)
    trainable = tune.with_resources(tune.with_parameters(_trial_driver, setup=setup), plan.driver)
    searcher = _GridSearcher(sweep)
    view = None if progress == "off" or client else _LiveView(
        console, progress, sweep, searcher.total, _known_statuses(results_dir, sweep))
    callbacks = [] if client else [_Recorder(results_dir, sweep, store, view)]
    if resume:
        tuner = _restore(exp_path, trainable, callbacks)
    else:
        tuner = _new_tuner(sweep, trainable, searcher, plan, storage_root, callbacks)
        results_dir.mkdir(parents=True, exist_ok=True)
        (results_dir / "sweep.json").write_text(sweep.model_dump_json(indent=2))  # what --resume uses
    console.print(f"[bold]ablate run {sweep.name}[/]: {searcher.total} trial(s) "
                  f"({len(grid_points(sweep))} grid point(s) x {sweep.search.num_samples}), "
                  f"{min(plan.concurrency, searcher.total)} at a time, {plan.workers} worker(s) each; "
                  f"experiment {exp_path}",
                  highlight=False, soft_wrap=True)
    if view:
        view.start()
    _mark("tune_fit")
    try:
        with _quiet("ray.tune"):  # its end-of-run error list repeats what the recorder printed
            tuner.fit()
    finally:
        if view:
            view.stop()
    _mark("tune_done")
    ended, known = _reconcile_ended(results_dir, sweep, store, exp_path)
    _mark("reconciled")
    trials = sweep_trials(results_dir, sweep)
    _print_best(console, sweep, trials, results_dir)
    unfinished = searcher.total - ended
    if unfinished > 0:  # Ctrl-C (Tune stops gracefully and saves its state) or a lost driver
        raise SweepInterrupted(
            f"sweep {sweep.name} stopped with {unfinished} of {searcher.total} trial(s) unfinished "
            f"({known - ended} started); continue it with: ablate run {shlex.quote(source)} --resume "
            f"--results {shlex.quote(str(results_dir))}" + (f" --storage {shlex.quote(storage)}" if storage else "")
            + (f" --address {address}" if address else " --local"))
    return trials


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    before = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(before)


def _new_tuner(sweep: SweepConfig, trainable: Any, searcher: _GridSearcher, plan: Plan, storage_root: str,
               callbacks: list) -> tune.Tuner:
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=searcher, scheduler=_scheduler(sweep), num_samples=searcher.total,
            max_concurrent_trials=plan.concurrency, metric=sweep.search.metric, mode=sweep.search.mode,
            trial_name_creator=_trial_name, trial_dirname_creator=_trial_name,
        ),
        run_config=tune.RunConfig(
            name=_experiment_name(sweep.name), storage_path=storage_root, verbose=0, callbacks=callbacks,
            failure_config=tune.FailureConfig(max_failures=TUNE_RETRIES),  # relaunch, resume the run
        ),
    )


def _restore(exp_path: str, trainable: Any, callbacks: list) -> tune.Tuner:
    tuner = tune.Tuner.restore(exp_path, trainable=trainable, resume_unfinished=True, resume_errored=True)
    local = getattr(tuner, "_local_tuner", None)  # the pickled recorder has no view: use the new one
    if local is not None:
        local.get_run_config().callbacks = callbacks
    return tuner


def _reconcile_ended(results_dir: Path, sweep: SweepConfig, store: RunStore, exp_path: str) -> tuple[int, int]:
    """Write every ended trial of the experiment that has no committed rows.

    Returns:
        (trials that ended: finished, stopped or errored; trials the experiment knows of).
    """
    from ray.tune import ExperimentAnalysis

    analysis = ExperimentAnalysis(exp_path)
    ends = [
        TrialEnd(t.trial_id, dict(t.config["values"]), int(t.config["grid_point"]), t.status == "ERROR",
                 dict(t.last_result or {}), _one_line(t.get_error()) if t.status == "ERROR" else "")
        for t in analysis.trials
        if t.status in ("TERMINATED", "ERROR") and "values" in t.config
    ]
    written = reconcile(results_dir, sweep, ends, store)
    if written:
        log.info("reconciled %d trial(s): %s", len(written), ", ".join(written))
    ended = sum(t.status in ("TERMINATED", "ERROR") for t in analysis.trials)
    return ended, len(analysis.trials)


def sweep_trials(results_dir: str | Path, sweep: SweepConfig) -> pd.DataFrame:
    """The trials rows of a sweep in a results folder, best first (by the search metric when
    it is a trials column, else by val_acc)."""
    t = load(results_dir).trials
    if "ray_trial_id" not in t:
        return t.iloc[0:0]
    t = t[(t["sweep"] == sweep.name) & t["ray_trial_id"].notna()]
    metric, mode = _rank_metric(sweep, t)
    return t.sort_values(metric, ascending=mode == "min", na_position="last").reset_index(drop=True)


def _rank_metric(sweep: SweepConfig, trials: pd.DataFrame) -> tuple[str, str]:
    if sweep.search.metric in trials:
        return sweep.search.metric, sweep.search.mode
    return "val_acc", "max"


def _known_statuses(results_dir: Path, sweep: SweepConfig) -> dict[str, str]:
    t = sweep_trials(results_dir, sweep)
    return dict(zip(t["ray_trial_id"].astype(str), t["status"].astype(str), strict=True)) if len(t) else {}


def _print_best(console: Console, sweep: SweepConfig, trials: pd.DataFrame, results_dir: Path) -> None:
    """The status counts and the best trials: one column per trial, one row per value (so the
    searched values stay readable on an 80-column terminal)."""
    metric, _ = _rank_metric(sweep, trials)
    top = trials[trials["status"] == "ok"].head(5)
    counts = trials["status"].value_counts().to_dict() if len(trials) else {}
    console.print(f"{len(trials)} trial(s): " + ", ".join(f"{v} {k}" for k, v in counts.items()), highlight=False)
    if len(top):
        space = [c for c in trials.columns if c.startswith("space.")]
        shown = [metric] + ([] if metric == "test_acc" else ["test_acc"])
        table = Table(title=f"best {len(top)} of {sweep.name} by {metric}")
        table.add_column("", no_wrap=True, style="bold")
        for _, r in top.iterrows():
            table.add_column(str(r["ray_trial_id"]), overflow="fold")
        for col in [*shown, "epochs_run", *space]:
            table.add_row(col.removeprefix("space."), *[display_value(r[col]) for _, r in top.iterrows()])
        console.print(table)
        console.print(f"trial ids are {sweep.name}-<column>; all rows: ablate.results.load(...).trials", highlight=False)
    console.print(f"results: {results_dir}  (ablate.results.load({str(results_dir)!r}))", soft_wrap=True)


# --------------------------------------------------------------------------- paths and resume


def _storage_root(storage: str | None, results_dir: Path) -> str:
    if storage is None:
        return str(results_dir / "ray")
    return storage.rstrip("/") if "://" in storage else str(Path(storage).expanduser().resolve())


def _experiment_name(sweep_name: str) -> str:
    return row_id_for(sweep_name, "").rstrip("-")


def _with_data(sweep: SweepConfig, data_override: str | None) -> SweepConfig:
    """Apply ``--data`` and make every path absolute (workers run elsewhere, maybe another node)."""
    trial = sweep.trial.model_dump(mode="json")
    data = trial["data"]
    if data_override is not None:
        data["path"] = data_override
    if data["path"] != "synthetic" and "://" not in data["path"]:
        data["path"] = str(Path(data["path"]).expanduser().resolve())
    if data.get("cache_dir"):
        data["cache_dir"] = str(Path(data["cache_dir"]).expanduser().resolve())
    if trial.get("weights_path"):
        trial["weights_path"] = str(Path(trial["weights_path"]).expanduser().resolve())
    if data["folds"] > 1:
        raise ConfigError("data.folds > 1 runs through `ablate trial` (one row per fold); a sweep uses one split")
    from ablate.config import validate_sweep

    return validate_sweep({**sweep.model_dump(mode="json"), "trial": trial}, source=f"sweep {sweep.name}")


def _resumable_sweep(sweep: SweepConfig, results_dir: Path, exp_path: str, resume: bool,
                     console: Console) -> SweepConfig:
    """Check resume/new-run preconditions; on resume use the sweep stored when the run began
    (``RESULTS/sweep.json``, written when the Tuner is created)."""
    stored = results_dir / "sweep.json"
    exists = tune.Tuner.can_restore(exp_path)
    if not resume:
        if exists:
            raise ConfigError(f"{exp_path} holds an earlier run of sweep {sweep.name!r}: pass --resume to "
                              "continue it, or use another --results folder")
        return sweep
    if not exists:
        raise ConfigError(f"nothing to resume: no run of sweep {sweep.name!r} at {exp_path}")
    if not stored.is_file():
        return sweep
    before = SweepConfig.model_validate_json(stored.read_text())
    if before != sweep:
        console.print(f"[yellow]note:[/] resuming with the sweep as it was when the run began ({stored}); "
                      "the file or --set values differ now", highlight=False)
    return before

