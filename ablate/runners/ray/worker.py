"""A trial's training: plain `run_trial` with three Ray touch points, in one of two places.

* **Inline** (`inline_trial`, a single-worker trial): inside its Tune trial, the process Tune
  started for it (reused from trial to trial). No Train worker group to start; the checkpoints
  go straight to the run store (`RunStore.save_checkpoint`) and the metrics to Tune
  (``tune.report``).
* **Train worker** (`train_worker`, ``resources.workers`` > 1): one rank of a Ray Train
  ``TorchTrainer`` run (`ablate.runners.ray.driver`): a `Runtime` from ``ray.train.get_context()``,
  ``ray.train.torch.get_device()`` and ``prepare_model`` (DDP over the process group Train set
  up: NCCL on GPUs, gloo on CPU), a resume state from ``ray.train.get_checkpoint()``, and a
  reporter that calls ``ray.train.report`` on every rank once per epoch (rank 0 attaches the
  checkpoint, a Ray ``Checkpoint``).

Both keep the same checkpoints in the same place (``<storage>/train/<row id>/epoch-NNNN`` and
``final``, `ablate.runners.sweep_results`) and report the same metrics: one result per epoch,
and a last one (no ``epoch`` key, so ASHA ignores it) with the trial's final metrics, after the
``final`` checkpoint with every results table.
"""

from __future__ import annotations

import functools
import json
import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ray import tune

from ablate.config import TrialConfig
from ablate.engine.runtime import Runtime
from ablate.errors import AblateError
from ablate.results.record import COST_COLUMNS
from ablate.runners.ray.timing import log_marks_from_env, mark
from ablate.runners.sweep_results import (
    FINAL,
    RunStore,
    epoch_dir_name,
    read_checkpoint,
    write_epoch_checkpoint,
    write_final_checkpoint,
)

PG_KEY = "pg"  # a Train worker's results carry its placement group's id (`ablate.runners.ray.placement`)


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


class TrainReporter:
    """`Reporter` of a Train worker: ``ray.train.report`` on every rank, the checkpoint from rank 0.

    Every report carries the id of the worker group's placement group (`PG_KEY`): when Tune
    ends the trial (ASHA), the Train controller dies with it, and the sweep frees the group
    (`ablate.runners.ray.placement`).
    """

    def __init__(self, rank: int, row_id: str) -> None:
        import ray

        self.rank, self.row_id = rank, row_id
        pg = ray.util.get_current_placement_group()
        self.pg = pg.id.hex() if pg is not None else ""
        self.info: dict[str, Any] = {}

    def on_start(self, info: dict[str, Any]) -> None:
        self.info = info

    def on_epoch(self, row: dict[str, Any], state: Callable[[], dict[str, Any]]) -> None:
        write = None
        if self.rank == 0:
            mark("epoch_trained", row_id=self.row_id, epoch=row["epoch"], epoch_s=row["epoch_s"])
            st = state()
            progress = {"row_id": self.row_id, "info": self.info, "history": st["history"], "elapsed": st["elapsed"]}
            write = functools.partial(write_epoch_checkpoint, progress=progress, state=st)
        self._report(dict(row), epoch_dir_name(row["epoch"]), write)
        if self.rank == 0:
            mark("epoch_reported", row_id=self.row_id, epoch=row["epoch"])

    def final(self, metrics: dict[str, Any], write: Callable[[Path], None] | None) -> None:
        """The last report: final metrics, and (rank 0, when `write`) the ``final`` checkpoint."""
        self._report(dict(metrics), FINAL if write is not None else None, write)

    def _report(self, metrics: dict[str, Any], name: str | None, write: Callable[[Path], None] | None) -> None:
        """One ``ray.train.report`` (a barrier over the ranks); rank 0 attaches checkpoint `name`
        (filled by `write`), which Train persists as ``<storage>/train/<row id>/<name>``."""
        import ray.train

        metrics[PG_KEY] = self.pg
        if write is None or self.rank != 0:
            ray.train.report(metrics, checkpoint_dir_name=name)
            return
        with tempfile.TemporaryDirectory() as d:
            write(Path(d))
            mark("checkpoint_written", row_id=self.row_id, checkpoint=name)
            ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(d), checkpoint_dir_name=name)


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


def train_worker(loop: dict[str, Any]) -> None:
    """One Train worker: `run_trial` on this rank, resuming from the run's last checkpoint.

    Args:
        loop: the ``train_loop_config`` the driver built (`ablate.runners.ray.driver`).
    """
    import ray
    import ray.train
    import ray.train.torch

    log_marks_from_env()
    ctx = ray.train.get_context()
    mark("worker_start", row_id=loop["row_id"], rank=ctx.get_world_rank(),
         node=ray.get_runtime_context().get_node_id())
    runtime = Runtime(device=ray.train.torch.get_device(), rank=ctx.get_world_rank(),
                      world_size=ctx.get_world_size(), wrap_model=ray.train.torch.prepare_model)
    resume, finished = _load_checkpoint(ray.train.get_checkpoint())
    train_loop(loop, runtime, TrainReporter(runtime.rank, loop["row_id"]), resume, finished)


def _load_checkpoint(ckpt: Any) -> tuple[dict | None, dict | None]:
    """(resume state, None) of an epoch checkpoint, (None, final metrics) of ``final``, (None,
    None) on a fresh run (``ckpt`` is None)."""
    if ckpt is None:
        return None, None
    with ckpt.as_directory() as d:
        return read_checkpoint(Path(d))


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
