"""`run_sweep`: one Ray Tune experiment per sweep, one Ray Train run per trial."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import ray
from ray import tune
from rich.console import Console

from ablate.config import SweepConfig
from ablate.errors import ConfigError, SweepInterrupted
from ablate.runners.ray.cluster import apply_env, connect, start_local_ray
from ablate.runners.ray.common import Progress, quiet_logger
from ablate.runners.ray.driver import TUNE_RETRIES, DriverSetup, trial_driver
from ablate.runners.ray.live import LiveView
from ablate.runners.ray.recorder import Recorder, reconcile_ended
from ablate.runners.ray.resources import Plan, plan_resources
from ablate.runners.ray.resume import experiment_name, restore_tuner, resumable_sweep, storage_root
from ablate.runners.ray.searcher import GridSearcher, make_scheduler, quiet_optuna
from ablate.runners.ray.summary import known_statuses, print_best, sweep_trials
from ablate.runners.ray.timing import log_marks_from_env, mark
from ablate.runners.sweep_results import RunStore
from ablate.search.translate import grid_points


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep, resolved from `run_sweep`'s arguments before Ray starts."""

    sweep: SweepConfig  # ``--data`` applied, paths absolute; on resume the sweep stored by the first run
    results_dir: Path  # absolute
    storage_root: str  # absolute path or URI: the Tune experiment and the Train runs (``train/``)
    exp_path: str  # the Tune experiment: ``<storage_root>/<sweep name>``
    resume: bool
    address: str | None  # None: a local Ray instance
    storage: str | None  # ``--storage`` as given (for the ``--resume`` hint)
    progress: Progress
    console: Console
    source: str  # the sweep as the user named it (a name or a file)

    def resume_command(self) -> str:
        """The command that continues this run."""
        return (f"ablate run {shlex.quote(self.source)} --resume --results {shlex.quote(str(self.results_dir))}"
                + (f" --storage {shlex.quote(self.storage)}" if self.storage else "")
                + (f" --address {self.address}" if self.address else " --local"))


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
        sweep: the validated sweep (`ablate.search.sweep.load_sweep`).
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
        SweepInterrupted: trials left unfinished (Ctrl-C); the message holds the resume command.
    """
    log_marks_from_env()
    console = console or Console(stderr=True)
    apply_env(local=not address)
    if local and address:
        raise ConfigError("--local runs on a local Ray instance; drop --address (or --local)")
    if address and address.startswith("ray://") and not storage:
        raise ConfigError("with a ray:// address pass --storage (a path or URI every node and this machine can read)")
    results_dir = Path(results_dir).resolve()
    root = storage_root(storage, results_dir)
    exp_path = f"{root}/{experiment_name(sweep.name)}"
    sweep = resumable_sweep(_with_data(sweep, data_override), results_dir, exp_path, resume, console)
    run = SweepRun(sweep, results_dir, root, exp_path, resume, address, storage, progress, console,
                   source or sweep.name)
    started_here = not ray.is_initialized()
    mark("ray_init")
    if started_here and address:
        connect(address)
    elif started_here:
        start_local_ray()
    mark("ray_ready")
    try:
        with quiet_optuna():
            return _run(run)
    finally:
        if started_here:
            ray.shutdown()


def _run(run: SweepRun) -> pd.DataFrame:
    sweep, results_dir = run.sweep, run.results_dir
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    if len(nodes) > 1 and not run.storage:
        raise ConfigError(f"the cluster has {len(nodes)} nodes: pass --storage (a shared path or URI) "
                          "so every node reads and writes the same checkpoints")
    plan = plan_resources(sweep, ray.cluster_resources(), strict=run.address is None)
    client = ray.util.client.ray.is_connected()
    store = RunStore(f"{run.storage_root}/train")
    setup = DriverSetup(sweep, store.root, str(results_dir / "tensorboard"), plan)
    trainable = tune.with_resources(tune.with_parameters(trial_driver, setup=setup), plan.driver)
    searcher = GridSearcher(sweep)
    view = None if run.progress == "off" or client else LiveView(
        run.console, run.progress, sweep, searcher.total, known_statuses(results_dir, sweep))
    callbacks = [] if client else [Recorder(results_dir, sweep, store, view)]
    if run.resume:
        tuner = restore_tuner(run.exp_path, trainable, callbacks)
    else:
        tuner = _new_tuner(run, trainable, searcher, plan, callbacks)
        results_dir.mkdir(parents=True, exist_ok=True)
        (results_dir / "sweep.json").write_text(sweep.model_dump_json(indent=2))  # what --resume uses
    run.console.print(f"[bold]ablate run {sweep.name}[/]: {searcher.total} trial(s) "
                      f"({len(grid_points(sweep))} grid point(s) x {sweep.search.num_samples}), "
                      f"{min(plan.concurrency, searcher.total)} at a time, {plan.workers} worker(s) each; "
                      f"experiment {run.exp_path}", highlight=False, soft_wrap=True)
    if view:
        view.start()
    mark("tune_fit")
    try:
        with quiet_logger("ray.tune"):  # its end-of-run error list repeats what the recorder printed
            tuner.fit()
    finally:
        if view:
            view.stop()
    mark("tune_done")
    ended, known = reconcile_ended(results_dir, sweep, store, run.exp_path)
    mark("reconciled")
    trials = sweep_trials(results_dir, sweep)
    print_best(run.console, sweep, trials, results_dir)
    unfinished = searcher.total - ended
    if unfinished > 0:  # Ctrl-C (Tune stops gracefully and saves its state) or a lost driver
        raise SweepInterrupted(
            f"sweep {sweep.name} stopped with {unfinished} of {searcher.total} trial(s) unfinished "
            f"({known - ended} started); continue it with: {run.resume_command()}")
    return trials


def _new_tuner(run: SweepRun, trainable: Any, searcher: GridSearcher, plan: Plan,
               callbacks: list[tune.Callback]) -> tune.Tuner:
    sweep = run.sweep
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=searcher, scheduler=make_scheduler(sweep), num_samples=searcher.total,
            max_concurrent_trials=plan.concurrency, metric=sweep.search.metric, mode=sweep.search.mode,
            trial_name_creator=_trial_name, trial_dirname_creator=_trial_name,
        ),
        run_config=tune.RunConfig(
            name=experiment_name(sweep.name), storage_path=run.storage_root, verbose=0, callbacks=callbacks,
            failure_config=tune.FailureConfig(max_failures=TUNE_RETRIES),  # relaunch, resume the run
        ),
    )


def _trial_name(trial: Any) -> str:
    return trial.trial_id  # never a timestamp: restore finds trials and runs by name


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

