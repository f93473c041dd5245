"""MLflow: one run per trial through ``MlflowClient`` (the ``mlflow`` module of ``mlflow-skinny``)."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ablate.config import MlflowTracking
from ablate.tracking.describe import RunInfo, end_metrics, end_tags, epoch_metrics, run_failed

__all__ = ["HTTP_BOUNDS", "MlflowWriter", "bound_requests", "experiment_id", "tracking_uri"]

# MLflow retries HTTP with exponential backoff for minutes by default: a tracker that does not answer
# would hold the sweep's driver; these bound one failed call to seconds (the user's own values win)
HTTP_BOUNDS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
               "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
_BATCH = 100  # MLflow's limit of params (and tags) in one log_batch


def tracking_uri(tracker: MlflowTracking, results_dir: str | Path) -> str:
    """The tracker's URI: as given, else ``MLFLOW_TRACKING_URI``, else ``sqlite:///RESULTS/mlflow.db``."""
    return tracker.uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path(results_dir).resolve()}/mlflow.db"


def bound_requests(uri: str) -> None:
    """Set what this process's MLflow client needs for `uri`: short HTTP retries for a server; for a
    ``file://`` store, ``MLFLOW_ALLOW_FILE_STORE`` (MLflow 3.18 refuses a file store, "in maintenance
    mode", without it; the user named the store)."""
    if uri.startswith(("http://", "https://")):
        for k, v in HTTP_BOUNDS.items():
            os.environ.setdefault(k, v)
    elif uri.startswith("file:") or "://" not in uri:
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")


def experiment_id(uri: str, name: str) -> str:
    """The id of experiment `name` at `uri`, created when it does not exist."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    found = client.get_experiment_by_name(name)
    return found.experiment_id if found is not None else client.create_experiment(name)


class MlflowWriter:
    """Writes the runs of one experiment."""

    def __init__(self, uri: str, experiment: str) -> None:
        from mlflow.tracking import MlflowClient

        self.client, self.experiment = MlflowClient(uri), experiment

    def start(self, info: RunInfo, *, reuse: bool = False) -> str:
        """Create the trial's run (or with `reuse`, continue its unfinished one: a resumed trial); returns its id."""
        from mlflow.entities import Param

        if reuse:
            found = self.client.search_runs([self.experiment], f"tags.trial_id = '{info.name}' and "
                                            "attributes.status = 'RUNNING'", max_results=1)
            if found:
                return found[0].info.run_id
        run = self.client.create_run(self.experiment, run_name=info.name, tags=info.tags)
        params = [Param(k, "" if v is None else str(v)[:6000]) for k, v in info.params.items()]
        for i in range(0, len(params), _BATCH):
            self.client.log_batch(run.info.run_id, params=params[i:i + _BATCH])
        return run.info.run_id

    def epoch(self, run_id: str, row: Mapping[str, Any]) -> None:
        """One epoch row's metrics at step = epoch."""
        self._metrics(run_id, epoch_metrics(row), int(row["epoch"]))

    def end(self, run_id: str, row: Mapping[str, Any] | None, failed: bool = False) -> None:
        """The trials row's final numbers, its status and reason as tags, and the run ended."""
        from mlflow.entities import RunTag

        if row is not None:
            self._metrics(run_id, end_metrics(row), int(row.get("epochs_run") or 0))
        tags = end_tags(row, failed)
        self.client.log_batch(run_id, tags=[RunTag(k, v[:5000]) for k, v in tags.items()])
        self.client.set_terminated(run_id, "FAILED" if run_failed(row, failed) else "FINISHED")

    def _metrics(self, run_id: str, values: Mapping[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        if values:
            self.client.log_batch(run_id, metrics=[Metric(k, v, now, step) for k, v in values.items()])
