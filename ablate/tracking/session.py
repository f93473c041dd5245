"""Tracking one ``ablate trial`` trial in this process, through each tracker's client."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ablate.config import MlflowTracking, Tracker, WandbTracking
from ablate.tracking.describe import RunInfo
from ablate.tracking.guard import Guard

__all__ = ["TrackedTrial"]


class _Mlflow:
    def __init__(self, tracker: MlflowTracking, results_dir: Path, info: RunInfo) -> None:
        from ablate.tracking.mlflow_run import (
            MlflowWriter,
            bound_requests,
            experiment_id,
            tracking_uri,
        )

        uri = tracking_uri(tracker, results_dir)
        bound_requests(uri)
        self.writer = MlflowWriter(uri, experiment_id(uri, tracker.experiment or info.sweep or info.name))
        self.run_id = self.writer.start(info)
        self.ref = self.run_id

    def epoch(self, row: Mapping[str, Any]) -> None:
        self.writer.epoch(self.run_id, row)

    def end(self, row: Mapping[str, Any] | None, failed: bool) -> None:
        self.writer.end(self.run_id, row, failed)


class _Wandb:
    def __init__(self, tracker: WandbTracking, results_dir: Path, info: RunInfo) -> None:
        import wandb

        from ablate.tracking.wandb_run import init_kwargs

        kwargs = init_kwargs(tracker, info, results_dir, run_id=None)
        if kwargs.get("mode") not in ("offline", "disabled") and not wandb.login(prompt=False):  # never a prompt
            raise RuntimeError("no W&B login: run `wandb login`, set WANDB_API_KEY, or set WANDB_MODE=offline")
        self.run = wandb.init(**kwargs)
        self.ref = str(self.run.path)

    def epoch(self, row: Mapping[str, Any]) -> None:
        from ablate.tracking.wandb_run import log_epoch

        log_epoch(self.run, row)

    def end(self, row: Mapping[str, Any] | None, failed: bool) -> None:
        from ablate.tracking.wandb_run import log_end

        self.run.finish(exit_code=log_end(self.run, row, failed))


class TrackedTrial:
    """A `Reporter` that passes every call on to `inner` and logs each epoch to the trackers.

    Args:
        trackers: the sweep's ``tracking:`` (with ``--track``).
        results_dir: the results folder (default MLflow store, W&B run folders).
        info: the trial's run (`ablate.tracking.run_info`).
        inner: the reporter it wraps (the console's).
    """

    def __init__(self, trackers: Sequence[Tracker], results_dir: str | Path, info: RunInfo, inner: Any) -> None:
        self.inner = inner
        self.runs: list[tuple[str, Guard, Any]] = []
        for t in trackers:
            guard = Guard(_what(t, Path(results_dir)))
            opened = guard.call("starting the run", _OPEN[t.kind], t, Path(results_dir), info)
            if opened is not None:
                self.runs.append((t.kind, guard, opened))

    def __getattr__(self, name: str) -> Any:  # on_step, _close_bar, ... of the wrapped reporter
        return getattr(self.inner, name)

    def on_start(self, info: dict[str, Any]) -> None:
        self.inner.on_start(info)

    def on_epoch(self, row: dict[str, Any], state: Callable[[], Any]) -> None:
        self.inner.on_epoch(row, state)
        for _, guard, run in self.runs:
            guard.call("logging an epoch", run.epoch, row)

    def ids(self) -> dict[str, str]:
        """Tracker kind -> its run (MLflow run id, W&B run path), for the trials row's ``tracking_ids``."""
        return {kind: run.ref for kind, guard, run in self.runs if not guard.failed}

    def end(self, row: Mapping[str, Any] | None, failed: bool = False) -> None:
        """Log the trials row's final numbers and status, and end every run."""
        for _, guard, run in self.runs:
            guard.call("ending the run", run.end, row, failed)


def _what(tracker: Tracker, results_dir: Path) -> str:
    """The tracker, as its warning names it."""
    if tracker.kind == "mlflow":
        from ablate.tracking.mlflow_run import tracking_uri

        return f"tracking to MLflow at {tracking_uri(tracker, results_dir)}"
    return "tracking to W&B"


_OPEN: dict[str, Callable[[Any, Path, RunInfo], Any]] = {"mlflow": _Mlflow, "wandb": _Wandb}
