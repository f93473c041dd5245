"""Weights & Biases: one run per trial, ``group`` = the config id (W&B averages a group's runs)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ablate.config import WandbTracking
from ablate.tracking.describe import RunInfo, end_metrics, end_tags, epoch_metrics, run_failed

__all__ = ["init_kwargs", "log_end", "log_epoch", "project", "run_path"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")  # W&B run ids: no / \ # ? % :


def project(tracker: WandbTracking, sweep: str) -> str:
    """The tracker's project, else ``WANDB_PROJECT``, else the sweep's name."""
    return tracker.project or os.environ.get("WANDB_PROJECT") or sweep or "ablate"


def init_kwargs(tracker: WandbTracking, info: RunInfo, results_dir: str | Path, *, run_id: str | None) -> dict[str, Any]:
    """``wandb.init`` arguments of a trial's run: name = trial id, group = config id, job type = stage,
    config = parameters and tags, run folder under ``RESULTS/wandb``; `run_id` fixed for a sweep trial
    (a resumed trial continues its run), None for ``ablate trial`` (a new run each time)."""
    kwargs: dict[str, Any] = {
        "project": project(tracker, info.sweep), "name": info.name, "group": info.group, "job_type": info.stage,
        "config": {**info.params, **info.tags}, "tags": [t for t in (info.sweep, info.stage) if t],
        "dir": str(Path(results_dir).resolve()), "reinit": "create_new",
    }
    if tracker.entity:
        kwargs["entity"] = tracker.entity
    if run_id is not None:
        kwargs.update(id=wandb_id(run_id), resume="allow")
    if os.environ.get("WANDB_MODE"):  # reaches the logging process even where the environment does not
        kwargs["mode"] = os.environ["WANDB_MODE"]
    return kwargs


def wandb_id(name: str) -> str:
    return _UNSAFE.sub("-", name)[:128]


def run_path(tracker: WandbTracking, info: RunInfo, run_id: str) -> str:
    """``[entity/]project/run id`` of a run whose id is fixed (`init_kwargs` with `run_id`)."""
    return "/".join([*([tracker.entity] if tracker.entity else []), project(tracker, info.sweep), wandb_id(run_id)])


def log_epoch(run: Any, row: Mapping[str, Any]) -> None:
    """One epoch row's metrics at step = epoch."""
    run.log(epoch_metrics(row), step=int(row["epoch"]))


def log_end(run: Any, row: Mapping[str, Any] | None, failed: bool = False) -> int:
    """The trials row's final numbers and its status and reason, in the run's summary.

    Returns:
        The exit code to finish the run with: 1 when it failed (`run_failed`), else 0.
    """
    run.summary.update({**(end_metrics(row) if row is not None else {}), **end_tags(row, failed)})
    return int(run_failed(row, failed))
