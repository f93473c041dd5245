"""The trials row: one typed record, built by one function for every writer.

A trial's row is written by the local engine (`ablate.engine.trainer.run_trial`) and, for a
sweep trial that ended without final tables (stopped early, failed), by the driver
(`ablate.runners.sweep_results.partial_tables`). Both call `trial_row`, so the two cannot drift
apart: same columns, same environment values (`environment`), same choice of best epoch.

    row = trial_row(cfg, trial_id=tid, status="ok", history=epoch_rows, info=info,
                    test_acc=0.91, test_loss=0.3, wall_s=120.0)
"""

from __future__ import annotations

import functools
import json
import math
import socket
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ablate

if TYPE_CHECKING:
    from ablate.config import TrialConfig

__all__ = ["COST_COLUMNS", "ENVIRONMENT_COLUMNS", "TrialRecord", "best_epoch", "environment", "git_sha", "trial_row"]

ENVIRONMENT_COLUMNS = (
    "ablate_version", "torch_version", "torchvision_version", "ray_version", "git_sha", "host",
    "device", "world_size",
)


@dataclass(frozen=True)
class TrialRecord:
    """One row of the ``trials`` table; fields in the order of `ablate.results.schema.TABLES`.

    ``extra`` holds the columns beyond the fixed schema: the flattened config (``cfg.*``) and,
    in sweeps, the sweep's columns (``ray_trial_id``, ``grid_point``, ``space.*``).
    """

    trial_id: str
    sweep: str
    name: str
    seed: int
    fold: int | None  # k-fold: which fold was validation
    config_hash: str  # '' when the searched values do not make a valid config
    config_json: str
    status: str  # ok | failed | stopped_early
    reason: str  # '' when ok
    backbone: str
    variant: str
    scenario: str
    num_classes: int | None  # None: the trial stopped before its data was prepared
    class_names: str | None  # JSON list, in class-index order
    epochs_run: int
    best_epoch: int  # 1-based; -1 when no epoch finished
    val_acc: float  # at the best epoch
    val_loss: float
    test_acc: float  # NaN when not evaluated
    test_loss: float
    params: int | None
    fp32_mb: float | None
    macs: int | None  # cost columns (`ablate.engine.cost.COST_COLUMNS`): None when not measured
    flops: int | None
    latency_ms: float | None
    throughput_ips: float | None
    latency_repeats: int | None
    wall_s: float
    train_images_per_s: float
    n_train: int | None
    n_val: int | None
    n_test: int | None
    dataset_hash: str | None
    data_source: str | None
    skipped_images: str | None  # JSON list
    train_batch_size: int | None  # per worker, after the small-set cap (config batch_size is the most)
    train_bn_momentum: float | None  # BatchNorm momentum it trained with (None: no BatchNorm)
    device: str | None
    world_size: int | None
    ablate_version: str
    torch_version: str
    torchvision_version: str
    ray_version: str  # '' when Ray is not installed
    git_sha: str  # '' outside a git checkout
    host: str
    finished_at: datetime
    tracking_ids: str = ""  # JSON {"mlflow": run id, "wandb": run path} (`ablate.tracking`); '' untracked
    extra: dict[str, Any] = field(default_factory=dict)

    def to_row(self) -> dict[str, Any]:
        """The row as `ablate.results.write_trial` takes it: fixed columns, then the extras."""
        row = asdict(self)
        extra = row.pop("extra")
        return {**row, **extra}


# The static facts `run_trial` learns before epoch 1 (its ``info``); a sweep keeps them in each
# checkpoint's progress file, so a row built from a checkpoint has them too.
INFO_COLUMNS = (
    "params", "fp32_mb", "num_classes", "class_names", "n_train", "n_val", "n_test", "dataset_hash",
    "data_source", "skipped_images", "train_batch_size", "train_bn_momentum",
)

# measured after training on the best weights (`ablate.engine.cost`); kept here, not imported from
# the engine, so building a row does not import torch
COST_COLUMNS = ("macs", "flops", "latency_ms", "throughput_ips", "latency_repeats")


@functools.lru_cache(maxsize=1)
def git_sha() -> str:
    """The commit of the ablate checkout, or '' when it is not a git checkout."""
    root = Path(ablate.__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return ""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5,
                             check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return ""


@functools.lru_cache(maxsize=1)
def _software() -> dict[str, str]:
    return {
        "ablate_version": ablate.__version__, "torch_version": _version("torch"),
        "torchvision_version": _version("torchvision"), "ray_version": _version("ray"),
        "git_sha": git_sha(), "host": socket.gethostname(),
    }


def environment(device: Any = None, world_size: int | None = None) -> dict[str, Any]:
    """The environment columns of a trial run in this process (`ENVIRONMENT_COLUMNS`).

    Versions are read from the installed distributions (nothing is imported), so the driver
    and a worker report them the same way.

    Args:
        device: the trial's device (a `torch.device` or its name); None when unknown.
        world_size: number of training processes; None when unknown.
    """
    return {**_software(), "device": None if device is None else str(device), "world_size": world_size}


def best_epoch(history: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The epoch row with the highest ``val_acc`` (the earliest among equals); None when empty."""
    return max(history, key=lambda r: (r["val_acc"], -r["epoch"]), default=None)


def trial_row(
    cfg: TrialConfig,
    *,
    trial_id: str,
    status: str,
    reason: str = "",
    history: Sequence[Mapping[str, Any]] = (),
    info: Mapping[str, Any] | None = None,
    test_acc: float = math.nan,
    test_loss: float = math.nan,
    wall_s: float = 0.0,
    fold: int | None = None,
    unresolved: Mapping[str, Any] | None = None,
    cost: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``trials`` row of one trial, as a dict with every column of the schema.

    Args:
        cfg: the trial's resolved config; with `unresolved`, the base config it came from.
        trial_id: the row id.
        status: ``ok``, ``failed`` or ``stopped_early``.
        reason: why it failed or was stopped.
        history: the trial's ``epochs`` rows; the best epoch and throughput come from them.
        info: static facts of the trial (`INFO_COLUMNS`, and the `environment` of the process
            that trained it); absent ones are null, absent environment columns are this process's.
        test_acc: accuracy of the best weights on the test set.
        test_loss: their loss there.
        wall_s: seconds the trial ran.
        fold: with k-fold, the validation fold.
        unresolved: searched values that do not make a valid config: the row then names them
            in ``config_json``, has an empty ``config_hash`` and no ``cfg.*`` columns.
        cost: the cost columns (`COST_COLUMNS`, from `ablate.engine.cost.measure_cost`); absent
            ones are null.
        extra: more columns (``sweep``, ``space.*``, ...); they override the built ones.
    """
    from ablate.config import config_hash, flatten

    info = dict(info or {})
    env = {**environment(), **{k: info[k] for k in ENVIRONMENT_COLUMNS if k in info}}
    best = best_epoch(history)
    speeds = [r["images_per_s"] for r in history]
    if unresolved is None:
        config = {"config_hash": config_hash(cfg), "config_json": json.dumps(cfg.resolved_dump())}
        cfg_columns = flatten(cfg)
    else:
        config = {"config_hash": "", "config_json": json.dumps(dict(unresolved))}
        cfg_columns = {}
    extra = dict(extra or {})
    fixed = {f.name for f in fields(TrialRecord)}
    record = TrialRecord(
        trial_id=trial_id, sweep="", name=cfg.name, seed=cfg.seed, fold=fold, **config,
        status=status, reason=reason,
        backbone=cfg.backbone, variant=cfg.variant, scenario=cfg.data.scenario,
        **{k: info.get(k) for k in INFO_COLUMNS},
        **{k: (cost or {}).get(k) for k in COST_COLUMNS},
        epochs_run=len(history), best_epoch=best["epoch"] if best else -1,
        val_acc=best["val_acc"] if best else math.nan, val_loss=best["val_loss"] if best else math.nan,
        test_acc=test_acc, test_loss=test_loss, wall_s=float(wall_s),
        train_images_per_s=sum(speeds) / len(speeds) if speeds else math.nan,
        **env, finished_at=datetime.now(timezone.utc).replace(microsecond=0),
        extra={**cfg_columns, **{k: v for k, v in extra.items() if k not in fixed}},
    )
    row = record.to_row()
    row.update({k: v for k, v in extra.items() if k in fixed})
    return row
