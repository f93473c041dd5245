"""A stage's tracking callbacks (`ablate.runners.ray.tracking`), imported only when the sweep tracks:
the trackers' clients take seconds to import."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ablate.config import SweepConfig

__all__ = ["tracking_callbacks"]


def tracking_callbacks(sweep: SweepConfig, stage: str, results_dir: Path) -> list[Any]:
    """One Tune callback per tracker of the sweep (``tracking:`` and ``--track``), none without."""
    if not sweep.tracking:
        return []
    from ablate.runners.ray.tracking import Describe, MlflowCallback, WandbCallback
    from ablate.tracking.mlflow_run import tracking_uri

    describe = Describe(sweep, stage)
    return [MlflowCallback(t, tracking_uri(t, results_dir), describe, results_dir) if t.kind == "mlflow"
            else WandbCallback(t, describe, results_dir) for t in sweep.tracking]
