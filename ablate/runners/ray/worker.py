"""A trial's training: plain `run_trial` with three Ray touch points, inside its Tune trial.

* **Single worker** (`inline_trial`): in the process Tune started for the trial (reused from
  trial to trial). The checkpoints go straight to the run store (`RunStore.save_checkpoint`)
  and the metrics to Tune (``tune.report``).
* **Data-parallel** (`ddp_trial`, ``resources.workers`` > 1): the same, as rank 0 of a DDP
  group (gloo on CPU, NCCL on GPU) whose ranks 1.. are actors kept by the trial process for its
  next trial (`ablate.runners.ray.peers`); they follow rank 0 epoch by epoch.

Both keep the same checkpoints in the same place (``<storage>/train/<row id>/epoch-NNNN`` and
``final``, `ablate.runners.sweep_results`), resume from the newest, and report the same
metrics: one result per epoch, and a last one (no ``epoch`` key, so ASHA ignores it) with the
trial's final metrics, after the ``final`` checkpoint with every results table.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ray import tune

from ablate.config import TrialConfig
from ablate.engine.runtime import Runtime
from ablate.errors import AblateError
from ablate.results.record import COST_COLUMNS
from ablate.runners.ray.timing import mark
from ablate.runners.sweep_results import (
    FINAL,
    RunStore,
    epoch_dir_name,
    write_epoch_checkpoint,
    write_final_checkpoint,
)


class StoreReporter:
    """`Reporter` of an inline trial: each checkpoint published to the run store, then the
    metrics to Tune (so a relaunch, or ``--resume``, finds the checkpoint of every reported epoch)."""

    def __init__(self, store: RunStore, row_id: str) -> None:
        self.store, self.row_id = store, row_id
        self.info: dict[str, Any] = {}

    def on_start(self, info: dict[str, Any]) -> None:
        self.info = info

    def on_epoch(self, row: dict[str, Any], state: Callable[[], dict[str, Any]]) -> None:
        mark("epoch_trained", row_id=self.row_id, epoch=row["epoch"], epoch_s=row["epoch_s"])
        st = state()
        progress = {"row_id": self.row_id, "info": self.info, "history": st["history"], "elapsed": st["elapsed"]}
        self.store.save_checkpoint(self.row_id, epoch_dir_name(row["epoch"]),
                                   lambda d: write_epoch_checkpoint(d, progress, st))
        mark("checkpoint_written", row_id=self.row_id, epoch=row["epoch"])
        tune.report(dict(row))  # returns when Tune took it; a trial ASHA stops ends here
        mark("epoch_reported", row_id=self.row_id, epoch=row["epoch"])

    def final(self, metrics: dict[str, Any], write: Callable[[Path], None] | None) -> None:
        if write is not None:
            self.store.save_checkpoint(self.row_id, FINAL, write)
        tune.report(metrics)


class LeaderReporter(StoreReporter):
    """`StoreReporter` of rank 0 of a data-parallel trial: after each epoch's checkpoint and
    report, tells the peers to go on, or to stop when Tune ended the trial there."""

    def __init__(self, store: RunStore, row_id: str, group: Any) -> None:
        super().__init__(store, row_id)
        self.group = group

    def on_epoch(self, row: dict[str, Any], state: Callable[[], dict[str, Any]]) -> None:
        try:
            super().on_epoch(row, state)  # a trial ASHA stops ends here (SystemExit)
        except BaseException:
            self.group.decide(False)
            raise
        self.group.decide(True)


def inline_trial(loop: dict[str, Any], store: RunStore, use_gpu: bool) -> None:
    """A single-worker trial inside its Tune trial, resuming from the run's newest checkpoint.

    Args:
        loop: the trial's config (JSON), row id, columns, TensorBoard folder, metric, fold (`ablate.runners.ray.driver`).
        store: the sweep's runs (``<storage>/train``).
        use_gpu: the trial holds a GPU (Ray set ``CUDA_VISIBLE_DEVICES`` to it).
    """
    import torch

    mark("worker_start", row_id=loop["row_id"])
    device = torch.device("cuda", 0) if use_gpu else torch.device("cpu")
    runtime = Runtime(device=device, wrap_model=lambda m: m.to(device))
    resume, finished = store.latest(loop["row_id"])
    train_loop(loop, runtime, StoreReporter(store, loop["row_id"]), resume, finished)


def ddp_trial(loop: dict[str, Any], store: RunStore, workers: int, cpus: float, gpus: float) -> None:
    """A data-parallel trial: rank 0 here, in the Tune trial, ranks 1.. in this process's kept
    peers (`ablate.runners.ray.peers`), resuming from the run's newest checkpoint.

    Args:
        loop: as for `inline_trial`.
        store: the sweep's runs (``<storage>/train``).
        workers, cpus, gpus: ranks, and each rank's CPUs and GPUs (the trial's bundles).
    """
    from ablate.runners.ray.peers import ddp_runtime, drop_group, peer_group

    resume, finished = store.latest(loop["row_id"])
    if finished is not None:  # the run had ended; its tables are in storage already
        StoreReporter(store, loop["row_id"]).final(finished, None)
        return
    group = peer_group(workers, cpus, gpus)
    mark("worker_start", row_id=loop["row_id"])
    ok = False
    try:
        group.start(loop, resume)
        train_loop(loop, ddp_runtime(0, workers, gpus > 0), LeaderReporter(store, loop["row_id"], group), resume, None)
        group.finish()
        ok = True
    finally:
        if not ok:  # ASHA's stop ends rank 0 with SystemExit after telling the peers: they are idle
            try:
                group.finish()
            except BaseException:  # noqa: BLE001 - a peer died or hung: new peers for the next trial
                drop_group()


def train_loop(loop: dict[str, Any], runtime: Runtime, reporter: Any,
           resume: dict | None, finished: dict | None) -> None:
    """`run_trial`, then the final report: (rank 0) the ``final`` checkpoint and final metrics.
    A probe-stage trial's checkpoint holds its ``probes`` row instead of the trial's tables."""
    from ablate.engine.trainer import run_trial

    if finished is not None:  # the run had ended; its tables are in storage already
        reporter.final(finished, None)
        return
    try:
        cfg = TrialConfig.model_validate_json(loop["config"])
        outcome = run_trial(cfg, runtime=runtime, reporter=reporter, resume=resume,
                            tb_dir=loop["tb_dir"], trial_id=loop["row_id"], extra_columns=loop["columns"],
                            fold=loop.get("fold"))
    except AblateError as e:  # bad data/model input: recorded, not retried
        reporter.final(failure_metrics(loop["metric"], str(e)), None)
        return
    mark("trial_done", row_id=loop["row_id"], wall_s=outcome.trial_row["wall_s"])
    metrics = _final_metrics(outcome, loop["metric"])
    progress = {"row_id": loop["row_id"], "info": reporter.info, "history": outcome.tables["epochs"],
                "metrics": metrics}
    tables, best = outcome.tables, None
    if "probe_task" in loop["columns"]:  # a probe-stage trial: its result is one `probes` row
        from ablate.probe.source import probe_row

        tables = {"probes": [probe_row(outcome, loop["columns"]["probe_task"], loop["columns"]["probe_data"])]}
    elif outcome.best_state is not None:
        best = (outcome.best_state, cfg.resolved_dump(), json.loads(outcome.trial_row["class_names"]))
    reporter.final(metrics, lambda d: write_final_checkpoint(d, progress, tables, best))
    mark("final_reported", row_id=loop["row_id"])


def failure_metrics(metric: str, reason: str) -> dict[str, Any]:
    """The final report of a trial that failed before or while training (recorded, not retried)."""
    return {metric: math.nan, "final": True, "status": "failed", "reason": reason}


def _final_metrics(outcome: Any, metric: str) -> dict[str, Any]:
    """Last epoch's metrics with the best epoch's val_acc/val_loss, test metrics and status."""
    row = outcome.trial_row
    last = outcome.tables["epochs"][-1] if outcome.tables["epochs"] else {}
    out = {k: v for k, v in last.items() if k not in ("epoch", "trial_id")}  # no `epoch`: ASHA skips it
    out.update(val_acc=row["val_acc"], val_loss=row["val_loss"], test_acc=row["test_acc"],
               test_loss=row["test_loss"], epochs_run=row["epochs_run"], best_epoch=row["best_epoch"],
               status=outcome.status, reason=outcome.reason, final=True, config_hash=row.get("config_hash"))
    out.update({k: row[k] for k in ("params", "fp32_mb", *COST_COLUMNS) if row.get(k) is not None})  # objectives
    out.setdefault(metric, math.nan)
    return out
