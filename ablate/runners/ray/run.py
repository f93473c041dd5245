"""`run_sweep`: one Ray Tune experiment per stage of a sweep, one Tune trial per configuration."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import ray
from ray.tune.error import TuneError
from rich.console import Console

from ablate.config import SweepConfig
from ablate.errors import ConfigError, SweepInterrupted
from ablate.results.lock import results_lock
from ablate.runners.ray.cluster import apply_env, connect, start_local_ray
from ablate.runners.ray.common import Progress, one_line
from ablate.runners.ray.resume import experiment_name, resumable_sweep, storage_root
from ablate.runners.ray.searcher import quiet_optuna
from ablate.runners.ray.stages import run_stages, stage_experiment
from ablate.runners.ray.summary import sweep_trials
from ablate.runners.ray.sweep_run import SweepRun
from ablate.runners.ray.timing import log_marks_from_env, mark
from ablate.study import Plan, absolute_paths, hold_out_axis, plan_stages


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
    variants: list[str] | None = None,
    plan: Plan | None = None,
) -> pd.DataFrame:
    """Run a sweep with Ray Tune (one trial per configuration) and write its Parquet rows.

    Args:
        sweep: the validated sweep (`ablate.study.load_study`).
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
        variants: the ablation variants to run (``--variant``); all when None.
        plan: the study's plan, checked before Ray (`ablate.study.plan_study`: ``ablate run``);
            None: planned here from `sweep` and `data_override`, without the checks.

    Every stage of the sweep runs in order (`ablate.runners.ray.stages`): the search, the
    confirmation of its top configurations, the ablation.

    Returns:
        The trials rows of this sweep (one per Tune trial, every stage), best first.

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
    if plan is None:
        sweep = hold_out_axis(absolute_paths(_with_data(sweep, data_override)))
        plan = Plan("run", sweep, results_dir, plan_stages(sweep, results_dir, variants), tuple(variants or ()))
    sweep = resumable_sweep(plan.sweep, results_dir, [stage_experiment(exp_path, s) for s in plan.sweep.stages()],
                            resume, console)
    if sweep != plan.sweep:  # --resume: the stages of the sweep stored when the run began
        plan = Plan("run", sweep, results_dir, plan_stages(sweep, results_dir, variants), tuple(variants or ()))
    run = SweepRun(sweep, results_dir, root, exp_path, resume, address, storage, progress, console,
                   source or sweep.name, plan, tuple(variants or ()))
    with results_lock(results_dir):  # one writer per results folder, checked before Ray starts
        return _run_with_ray(run)


def _run_with_ray(run: SweepRun) -> pd.DataFrame:
    sweep, results_dir, address = run.sweep, run.results_dir, run.address
    started_here = not ray.is_initialized()
    mark("ray_init")
    if started_here and address:
        connect(address)
    elif started_here:
        start_local_ray()
    mark("ray_ready")
    # said up front: when Ray's own processes die, Ray ends this process itself (exit 1, no exception)
    run.console.print(f"if this run stops (Ctrl-C, Ray or a node dying), continue it with: {run.resume_command()}",
                      highlight=False, soft_wrap=True)
    try:
        try:
            with quiet_optuna():
                run_stages(run)
        except (ray.exceptions.RayError, TuneError, ConnectionError) as e:  # Ray or a node died under the sweep
            raise SweepInterrupted(f"Ray failed under sweep {sweep.name} ({one_line(e)}); rows of ended trials are "
                                   f"kept; continue it with: {run.resume_command()}") from e
        trials = sweep_trials(results_dir, sweep)
        if len(sweep.stages()) > 1:
            run.console.print(f"{len(trials)} trial(s) in {len(sweep.stages())} stages: "
                              + ", ".join(f"{st} {(trials['stage'] == st).sum()}" for st in sweep.stages()
                                          if st != "probe"),  # probe rows go to the probes table
                              highlight=False)
        return trials
    finally:
        if started_here:
            ray.shutdown()


def _with_data(sweep: SweepConfig, data_override: str | None) -> SweepConfig:
    """Apply ``--data``."""
    if data_override is None:
        return sweep
    trial = sweep.trial.model_dump(mode="json")
    trial["data"]["path"] = data_override
    from ablate.config import validate_sweep

    return validate_sweep({**sweep.model_dump(mode="json"), "trial": trial}, source=f"sweep {sweep.name}")
