"""Local trial mode: one configuration in this process, on one GPU or the CPU."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ablate.config import Tracker, TrialConfig
from ablate.engine.trainer import TrialOutcome, run_trial
from ablate.models.resolve import resolve
from ablate.results import write_trial
from ablate.results.models import save_model

if TYPE_CHECKING:
    from ablate.study import Plan

__all__ = ["ConsoleReporter", "run_local_trial", "run_plan"]


class ConsoleReporter:
    """One line per epoch (phase, losses, accuracies, throughput); on a terminal, a progress
    bar through each epoch's steps as well."""

    def __init__(self, console: Console, epochs: int, label: str = "") -> None:
        self.console, self.epochs, self.label = console, epochs, label
        self._bar: Progress | None = None
        self._task = None

    def on_step(self, epoch: int, step: int, steps: int) -> None:
        if not self.console.is_terminal:
            return
        if self._bar is None:
            self._bar = Progress(TextColumn("  epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                                 TimeRemainingColumn(), console=self.console, transient=True)
            self._bar.start()
            self._task = self._bar.add_task("", total=steps, epoch=epoch)
        self._bar.update(self._task, completed=step, total=steps, epoch=epoch)

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def on_start(self, info: dict[str, Any]) -> None:
        self.console.print(
            f"[bold]{self.label}[/] {info['n_train']} train / {info['n_val']} val / {info['n_test']} test images, "
            f"{info['num_classes']} classes, {info['params'] / 1e6:.2f} M params ({info['fp32_mb']:.1f} MB), "
            f"device {info['device']}; batch {info['train_batch_size']} ({info['steps_per_epoch']} steps an epoch), "
            f"BatchNorm momentum {_fmt(info['train_bn_momentum'])}",
            soft_wrap=True,
        )

    def on_epoch(self, row: dict[str, Any], state: Callable[[], dict]) -> None:
        self._close_bar()
        self.console.print(
            f"  epoch {row['epoch']:>3}/{self.epochs} {row['optimizer']:<5} lr {row['lr']:.1e} | "
            f"train loss {row['train_loss']:.4f} acc {row['train_acc']:.3f} | "
            f"val loss {row['val_loss']:.4f} acc {row['val_acc']:.3f} | "
            f"{row['images_per_s']:,.0f} img/s {row['epoch_s']:.1f}s",
            soft_wrap=True,
        )


def run_local_trial(
    cfg: TrialConfig,
    results_dir: str | Path,
    *,
    sweep: str = "",
    fold: int | None = None,
    console: Console | None = None,
    extra_columns: dict[str, Any] | None = None,
    tracking: list[Tracker] | None = None,
) -> TrialOutcome:
    """Train `cfg` here and write its rows to `results_dir` (exactly once per trial id).

    TensorBoard scalars go to ``results_dir/tensorboard/<trial_id>``, the best weights to
    ``results_dir/models/<trial_id>.pt`` (for robustness and CAM on saved models). If the trial raises
    (a bug or bad input found late), its TensorBoard folder is removed and nothing is written.
    With `tracking`, each tracker gets one run of the trial (`ablate.tracking`), named in the row's
    ``tracking_ids``; the row is written before the runs end.
    """
    console = console or Console(stderr=True)
    results_dir = Path(results_dir)
    cfg = resolve(cfg)  # explicit taps: the id and the saved config are those of the run
    tid = cfg.trial_id() + ("" if fold is None else f"-fold{fold}")
    tb_dir = results_dir / "tensorboard" / tid
    reporter: Any = ConsoleReporter(console, cfg.epochs, label=tid)
    if tracking:
        from ablate.tracking import TrackedTrial, run_info

        columns = {"sweep": sweep, "stage": "trial", **(extra_columns or {})}
        reporter = TrackedTrial(tracking, results_dir, run_info(cfg, tid, columns, fold=fold), reporter)
    try:
        outcome = run_trial(
            cfg,
            reporter=reporter,
            tb_dir=tb_dir,
            trial_id=tid,
            fold=fold,
            extra_columns={"sweep": sweep, **(extra_columns or {})},
            progress=lambda msg: console.print(msg, style="yellow" if msg.startswith("warning") else "dim",
                                               highlight=False, soft_wrap=True),
        )
    except BaseException:
        reporter._close_bar()
        if tracking:
            reporter.end(None, failed=True)
        shutil.rmtree(tb_dir, ignore_errors=True)
        _remove_if_empty(results_dir / "tensorboard")
        _remove_if_empty(results_dir)
        raise
    if outcome.best_state is not None:
        names = json.loads(outcome.trial_row["class_names"])
        save_model(results_dir, outcome.trial_id, outcome.best_state, cfg.resolved_dump(), names)
    if tracking:
        from ablate.tracking import encode_ids

        outcome.tables["trials"][0]["tracking_ids"] = encode_ids(reporter.ids())
    write_trial(results_dir, outcome.trial_id, outcome.tables)
    if tracking:
        reporter.end(outcome.tables["trials"][0])
    return outcome


def run_plan(plan: Plan, console: Console | None = None) -> list[TrialOutcome]:
    """The local executor (``ablate trial``): train every trial of the plan's fixed stages here, in
    order, holding the results folder's lock; then compact the folder (one file per table).

    Returns:
        The `TrialOutcome` of each trial, in order.
    """
    from ablate.results import compact
    from ablate.results.lock import results_lock
    from ablate.study import FixedStage

    trials = []
    for stage in plan.stages:
        if not isinstance(stage, FixedStage):
            raise TypeError(f"the local executor runs fixed stages; stage {stage.name} is a {type(stage).__name__}")
        trials += stage.trials
    with results_lock(plan.results_dir):  # one writer per results folder
        outcomes = [run_local_trial(t.config, plan.results_dir, sweep=plan.sweep.name, fold=t.fold, console=console,
                                    extra_columns=t.columns or None, tracking=plan.sweep.tracking) for t in trials]
        compact(plan.results_dir)  # one file per table: pd.read_parquet reads it whole
        return outcomes


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _remove_if_empty(d: Path) -> None:
    try:
        d.rmdir()
    except OSError:
        pass
