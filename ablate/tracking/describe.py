"""What a tracked run carries: its name, parameters, tags, group and metrics, from ablate's rows."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ablate.config import config_id, flatten

if TYPE_CHECKING:
    from ablate.config import TrialConfig

__all__ = ["END_METRICS", "RunInfo", "encode_ids", "end_metrics", "end_tags", "epoch_metrics", "run_failed", "run_info"]

# trials-row columns that say what a trial is (tags; ``space.*`` and ``cfg.*`` are parameters)
TAG_COLUMNS = ("sweep", "stage", "grid_point", "ablation_variant", "confirm_rank", "probe_task", "ray_trial_id")
EPOCH_METRICS = ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "phase", "images_per_s", "epoch_s")
# the trials row's final numbers; the best epoch's val_acc / val_loss as best_val_acc / best_val_loss,
# so the val_acc history stays the epoch rows
END_METRICS = {"val_acc": "best_val_acc", "val_loss": "best_val_loss", "best_epoch": "best_epoch",
               "epochs_run": "epochs_run", "test_acc": "test_acc", "test_loss": "test_loss", "wall_s": "wall_s",
               "train_images_per_s": "train_images_per_s", "params": "params", "fp32_mb": "fp32_mb",
               "macs": "macs", "flops": "flops", "latency_ms": "latency_ms", "throughput_ips": "throughput_ips"}


@dataclass(frozen=True)
class RunInfo:
    """One trial's run, before it trains."""

    name: str  # the ablate trial id (the trials row's ``trial_id``)
    params: dict[str, Any]  # cfg.* and space.* columns
    tags: dict[str, str]  # sweep, stage, trial_id, config_id, seed, fold, grid point, ...
    group: str  # the config id: every seed and fold of a configuration
    stage: str = "trial"
    sweep: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def run_info(cfg: TrialConfig | None, trial_id: str, columns: Mapping[str, Any], *,
             fold: int | None = None, values: Mapping[str, Any] | None = None) -> RunInfo:
    """A trial's run: `cfg` resolved (None: its sampled values do not make a config), `columns`
    the sweep's row columns (``sweep``, ``stage``, ``space.*``, ...)."""
    params = {**(flatten(cfg) if cfg is not None else {}),
              **{k: v for k, v in columns.items() if k.startswith("space.")}}
    if cfg is None and values:
        params.update({f"space.{k}": v for k, v in values.items()})
    group = config_id(cfg) if cfg is not None else "invalid"
    stage = str(columns.get("stage") or ("search" if "grid_point" in columns else "trial"))
    tags = {"trial_id": trial_id, "config_id": group, "stage": stage, "sweep": str(columns.get("sweep") or ""),
            **({"seed": str(cfg.seed)} if cfg is not None else {}), **({} if fold is None else {"fold": str(fold)}),
            **{k: str(columns[k]) for k in TAG_COLUMNS if columns.get(k) is not None and k not in ("sweep", "stage")}}
    return RunInfo(trial_id, {k: _param(v) for k, v in params.items()}, tags, group, stage, tags["sweep"])


def _param(v: Any) -> Any:
    return json.dumps(v) if isinstance(v, list | dict) else v


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return None if math.isnan(v) or math.isinf(v) else float(v)


def epoch_metrics(row: Mapping[str, Any]) -> dict[str, float]:
    """An epoch row's numbers (its step is ``row["epoch"]``)."""
    return {k: x for k in EPOCH_METRICS if (x := _number(row.get(k))) is not None}


def end_metrics(row: Mapping[str, Any]) -> dict[str, float]:
    """A trials row's final numbers (`END_METRICS`): those that were measured."""
    return {name: x for col, name in END_METRICS.items() if (x := _number(row.get(col))) is not None}


def end_tags(row: Mapping[str, Any] | None, failed: bool) -> dict[str, str]:
    """``status`` and ``reason`` of the trials row (``failed`` when no row was written)."""
    if row is None:
        return {"status": "failed" if failed else "unknown", "reason": "no results row was written"}
    return {"status": str(row.get("status") or ""), "reason": str(row.get("reason") or "")}


def run_failed(row: Mapping[str, Any] | None, failed: bool) -> bool:
    """Whether a run ends as failed: Tune's error, or a trials row with status ``failed``."""
    return failed or (row is not None and row.get("status") == "failed")


def encode_ids(ids: Mapping[str, str]) -> str:
    """The trials row's ``tracking_ids``: ``{"mlflow": run id, "wandb": run path}`` as JSON ('' when none)."""
    return json.dumps(dict(ids), sort_keys=True) if ids else ""
