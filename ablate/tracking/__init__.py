"""Runs in the trackers users already keep: MLflow and Weights & Biases (Ray-free).

One run per trial, named after the ablate trial id; parameters are the resolved config
(``cfg.*``, as in Parquet) and the searched values (``space.*``); tags say what the run is
(sweep, stage, trial id, config id, seed, fold, grid point, and at its end status and reason);
metrics are the epoch rows (step = epoch) and, at the end, the trial's final numbers. Runs of one
configuration share its config id: W&B's ``group``, MLflow's ``config_id`` tag (the runs table
groups on it). A tracker that fails says so once (one warning line) and is left out for the rest
of the run: tracking never blocks or loses a results row.

`describe` builds what a run carries, `mlflow` and `wandb` write it through each tracker's client,
`session` tracks one `ablate trial` trial. ``ablate run`` logs through Ray Tune's own callbacks
(`ablate.runners.ray.tracking`), which use the same writers.
"""

from __future__ import annotations

from ablate.tracking.describe import RunInfo, encode_ids, end_metrics, epoch_metrics, run_info
from ablate.tracking.guard import Guard
from ablate.tracking.session import TrackedTrial

__all__ = ["Guard", "RunInfo", "TrackedTrial", "encode_ids", "end_metrics", "epoch_metrics", "run_info"]
