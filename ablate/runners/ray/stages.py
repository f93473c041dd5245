"""The stages of one ``ablate run``: probe, search, confirm, ablation, each a Tune experiment of its own.

The plan (`ablate.study`) says what each stage runs (confirm and a winner's ablation: chosen from
earlier rows, `ablate.search.stages`); this module runs them in order, one Tune trial per
configuration, the recorder writing each row exactly once:

* the search stage is the experiment ``<storage>/<sweep>`` (`GridSearcher`, ASHA);
* the probe, confirm and ablation stages are ``<storage>/<sweep>-probe``, ``-confirm`` and
  ``-ablation`` (`FixedSearcher`, never stopped early; the probe's rows: `ablate.runners.ray.probes`).

**State between stages** lives in ``RESULTS/stages/`` (each file written atomically):
``<stage>.done.json`` when every trial of the stage ended, ``confirm.json`` (the configurations
chosen for confirmation) and ``winner.json`` (the confirmed winner, the ablation's base).
``--resume`` skips the stages marked done, restores the running one, starts the rest.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import ray
from ray import tune

from ablate.atomic import atomic_write_text
from ablate.config import TrialConfig
from ablate.errors import ConfigError, SweepInterrupted
from ablate.results import compact
from ablate.runners.ray import probes
from ablate.runners.ray.common import quiet_logger
from ablate.runners.ray.driver import TUNE_RETRIES, DriverSetup, trial_driver
from ablate.runners.ray.live import LiveView
from ablate.runners.ray.placement import FreeEndedRuns
from ablate.runners.ray.recorder import Recorder, reconcile_ended
from ablate.runners.ray.resources import Plan, plan_resources
from ablate.runners.ray.resume import restore_tuner
from ablate.runners.ray.searcher import FixedSearcher, GridSearcher, make_scheduler
from ablate.runners.ray.summary import print_best, sweep_trials
from ablate.runners.ray.timing import mark
from ablate.runners.ray.trackers import tracking_callbacks
from ablate.runners.sweep_results import RunStore
from ablate.search.stages import (
    ablation_trials,
    confirm_trials,
    select_for_confirm,
    select_winner,
    variants_equal_to_base,
)
from ablate.search.translate import display_value
from ablate.study import FixedStage, SearchStage

if TYPE_CHECKING:
    from ablate.runners.ray.sweep_run import SweepRun

__all__ = ["STATE_DIR", "run_stages", "stage_experiment"]

STATE_DIR = "stages"


def stage_experiment(exp_path: str, stage: str) -> str:
    """The Tune experiment of a stage: the sweep's own for the search, ``-<stage>`` after it."""
    return exp_path if stage == "search" else f"{exp_path}-{stage}"


def run_stages(run: SweepRun) -> None:
    """Run every stage of the sweep that has not finished yet, in order.

    Raises:
        ConfigError: the cluster cannot run a trial, or a stage has nothing to run.
        SweepInterrupted: a stage stopped with trials unfinished (its message: the resume command).
    """
    sweep = run.sweep
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    if len(nodes) > 1 and not run.storage:
        raise ConfigError(f"the cluster has {len(nodes)} nodes: pass --storage (a shared path or URI) "
                          "so every node reads and writes the same checkpoints")
    plan = plan_resources(sweep, ray.cluster_resources(), strict=run.address is None)
    store = RunStore(f"{run.storage_root}/train")
    if not run.resume:
        run.results_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run.results_dir / "sweep.json", sweep.model_dump_json(indent=2))  # what --resume uses
    stages = sweep.stages()
    for n, stage in enumerate(stages, 1):
        label = f"stage {stage} ({n} of {len(stages)})" if len(stages) > 1 else ""
        done = _state_file(run, f"{stage}.done.json")
        if done.is_file():
            run.console.print(f"{label}: finished earlier ({json.loads(done.read_text())['trials']} trial(s))",
                              highlight=False)
            continue
        searcher, what = _searcher(run, stage)
        _fit_stage(run, stage, label, searcher, what, plan, store)
        atomic_write_text(done, json.dumps({"stage": stage, "trials": searcher.total}))


def _state_file(run: SweepRun, name: str) -> Path:
    return run.results_dir / STATE_DIR / name


def _stage_rows(run: SweepRun, stage: str) -> pd.DataFrame:
    t = sweep_trials(run.results_dir, run.sweep)
    if "stage" not in t:
        return pd.DataFrame(columns=["trial_id", "ray_trial_id", "status", "stage"])
    return t[t["stage"] == stage]


def _searcher(run: SweepRun, stage: str) -> tuple[GridSearcher | FixedSearcher, str]:
    """The stage's searcher and a few words on what it runs, from the plan (or the rows before it)."""
    sweep = run.sweep
    metric, mode = sweep.search.metric, sweep.search.mode
    planned = run.plan.stage(stage)
    if isinstance(planned, SearchStage):
        return GridSearcher(planned.sweep), planned.what
    if isinstance(planned, FixedStage):
        if planned.probe is not None:  # the probe's tasks: manifests (label = source) the trials read
            planned.probe.write_manifests(run.results_dir)
        if planned.skipped:
            run.console.print(f"  not run: {', '.join(planned.skipped)} (the same configuration as the base)",
                              highlight=False)
        return FixedSearcher(list(planned.trials), metric, mode), planned.what
    if stage == "confirm":
        selection = _confirm_selection(run)
        return FixedSearcher(confirm_trials(sweep, selection), metric, mode), (
            f"top {len(selection)} configuration(s) of the search x {len(sweep.confirm.seeds)} fresh seed(s)")
    trials = ablation_trials(sweep, base := _winner_config(run), list(run.variants) or None)
    same = [v for v in variants_equal_to_base(sweep, base) if not run.variants or v in run.variants]
    if same:
        run.console.print(f"  not run: {', '.join(same)} (the same configuration as the base)", highlight=False)
    names = list(dict.fromkeys(t.columns["ablation_variant"] for t in trials))
    return FixedSearcher(trials, metric, mode), f"{len(names)} variant(s) ({', '.join(names)}) of the confirmed winner"


def _confirm_selection(run: SweepRun) -> list[dict[str, Any]]:
    """The configurations to confirm: chosen once, from the search's rows, and stored."""
    path = _state_file(run, "confirm.json")
    if path.is_file():
        return json.loads(path.read_text())
    selection = select_for_confirm(run.sweep, _stage_rows(run, "search"))
    atomic_write_text(path, json.dumps(selection, indent=2, default=str))
    for s in selection:
        run.console.print(f"  confirm #{s['rank']}: search {run.sweep.search.metric} {s['search_metric']:.4f} "
                          f"({', '.join(s['search_trials'])}) " + _shown(s["space"]), highlight=False, soft_wrap=True)
    return selection


def _winner_config(run: SweepRun) -> TrialConfig:
    """The ablation's base: the confirmed winner, chosen once from the confirm rows, and stored."""
    path = _state_file(run, "winner.json")
    if not path.is_file():
        selection = json.loads(_state_file(run, "confirm.json").read_text())
        winner = select_winner(run.sweep, selection, _stage_rows(run, "confirm"))
        atomic_write_text(path, json.dumps(winner, indent=2, default=str))
        run.console.print(
            f"winner: confirm #{winner['rank']}, mean {run.sweep.search.metric} {winner['confirm_metric']:.4f} over "
            f"{winner['confirm_n']} confirm trial(s) (search: {winner['search_metric']:.4f}) "
            f"{_shown(winner['space'])}; its config: {path}", highlight=False, soft_wrap=True)
    winner = json.loads(path.read_text())
    return TrialConfig.model_validate_json(winner["config_json"])


def _shown(space: dict[str, Any]) -> str:
    return " ".join(f"{k.removeprefix('space.')}={display_value(v)}" for k, v in space.items())


def _fit_stage(run: SweepRun, stage: str, label: str, searcher: GridSearcher | FixedSearcher, what: str,
               plan: Plan, store: RunStore) -> None:
    """One stage's Tune experiment: new, or restored when it exists (``--resume``)."""
    sweep, results_dir = run.sweep, run.results_dir
    exp_path = stage_experiment(run.exp_path, stage)
    client = ray.util.client.ray.is_connected()
    setup = DriverSetup(sweep, store.root, str(results_dir / "tensorboard"), plan)
    trainable = tune.with_resources(tune.with_parameters(trial_driver, setup=setup), tune.PlacementGroupFactory(plan.bundles))
    searcher.keep_in(store, sweep.name, results_dir)  # before Tune pickles it: runs and Optuna's journal
    known = _stage_rows(run, stage)
    view = None if run.progress == "off" or client else LiveView(
        run.console, run.progress, sweep, searcher.total,
        dict(zip(known["ray_trial_id"].astype(str), known["status"].astype(str), strict=True)))
    recorder = (probes.ProbeRecorder(results_dir, sweep, store, view) if stage == "probe"  # writes `probes` rows
                else Recorder(results_dir, sweep, store, view, tracking_callbacks(sweep, stage, results_dir)))
    callbacks = [] if client else [recorder, FreeEndedRuns(), *recorder.trackers]  # trackers after: row, then run end
    if run.resume and tune.Tuner.can_restore(exp_path):
        tuner = restore_tuner(exp_path, trainable, callbacks)
    else:
        tuner = _new_tuner(run, stage, exp_path, trainable, searcher, plan, callbacks)
    run.console.print(f"[bold]ablate run {sweep.name}[/]{' ' + label if label else ''}: {searcher.total} trial(s) "
                      f"({what}), {min(plan.concurrency, searcher.total)} at a time, {plan.workers} worker(s) each; "
                      f"experiment {exp_path}", highlight=False, soft_wrap=True)
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
    reconcile = probes.reconcile_probe_stage if stage == "probe" else reconcile_ended
    ended, known_n = reconcile(results_dir, sweep, store, exp_path)
    mark("reconciled")
    compact(results_dir)  # one file per table: pandas reads each whole (`ablate.results.compact`)
    if stage == "probe":
        probes.print_probes(run.console, results_dir, sweep)
    else:
        print_best(run.console, sweep, _summary_rows(_stage_rows(run, stage), stage), results_dir)
    unfinished = searcher.total - ended
    if unfinished > 0:  # Ctrl-C (Tune stops gracefully and saves its state) or a lost driver
        where = f" in its {stage} stage" if label else ""
        raise SweepInterrupted(
            f"sweep {sweep.name} stopped{where} with {unfinished} of {searcher.total} trial(s) unfinished "
            f"({known_n - ended} started); continue it with: {run.resume_command()}")


def _summary_rows(rows: pd.DataFrame, stage: str) -> pd.DataFrame:
    """A stage's rows for its end summary: the columns it shows (``space.*``) are those with
    values, and for confirm and ablation what each trial is (rank or variant, seed, fold)."""
    rows = rows.dropna(axis=1, how="all")
    extra = {"confirm": ["confirm_rank", "seed", "fold"], "ablation": ["ablation_variant", "seed", "fold"]}
    front = {f"space.{c}": rows[c] for c in extra.get(stage, []) if c in rows}
    if not front:
        return rows
    rest = rows.drop(columns=[c for c in front if c in rows])
    return pd.concat([rest.drop(columns=[c for c in rest if c.startswith("space.")]), pd.DataFrame(front),
                      rest[[c for c in rest if c.startswith("space.")]]], axis=1)


def _new_tuner(run: SweepRun, stage: str, exp_path: str, trainable: Any, searcher: GridSearcher | FixedSearcher,
               plan: Plan, callbacks: list[tune.Callback]) -> tune.Tuner:
    sweep = run.sweep
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=searcher, num_samples=searcher.total,
            scheduler=make_scheduler(sweep, stage, results_dir=str(run.results_dir),
                                     train_root=f"{run.storage_root}/train"),
            max_concurrent_trials=plan.concurrency, metric=sweep.search.metric, mode=sweep.search.mode,
            reuse_actors=plan.inline,  # an inline trial's process serves the next (~5 s of imports)
            trial_name_creator=_trial_name, trial_dirname_creator=_trial_name,
        ),
        run_config=tune.RunConfig(
            name=Path(exp_path).name if "://" not in exp_path else exp_path.rsplit("/", 1)[1],
            storage_path=run.storage_root, verbose=0, callbacks=callbacks,
            failure_config=tune.FailureConfig(max_failures=TUNE_RETRIES),  # relaunch, resume the run
        ),
    )


def _trial_name(trial: Any) -> str:
    return trial.trial_id  # never a timestamp: restore finds trials and runs by name
