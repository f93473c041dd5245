"""Where a sweep's runs are also tracked: MLflow and Weights & Biases (``tracking:``, ``--track``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ablate.config.trial import StrictModel
from ablate.errors import ConfigError

__all__ = ["EXTRAS", "MlflowTracking", "Tracker", "WandbTracking", "parse_track"]

EXTRAS = {"mlflow": "mlflow", "wandb": "wandb"}  # tracker kind -> the pip extra that installs its client


class MlflowTracking(StrictModel):
    """One MLflow run per trial, in the experiment named after the sweep."""

    kind: Literal["mlflow"] = "mlflow"  # the tracker: MLflow (one run per trial, tagged with its config id)
    # tracking URI (http://HOST:5000, sqlite:///PATH, file://DIR); default: MLFLOW_TRACKING_URI, else
    # sqlite:///RESULTS/mlflow.db
    uri: str | None = None
    experiment: str | None = None  # the MLflow experiment the runs go in; default: the sweep's name


class WandbTracking(StrictModel):
    """One W&B run per trial, grouped by configuration (``group`` = config id); offline with WANDB_MODE=offline."""

    kind: Literal["wandb"] = "wandb"  # the tracker: Weights & Biases (one run per trial, group = config id)
    project: str | None = None  # the W&B project the runs go in; default: WANDB_PROJECT, else the sweep's name
    entity: str | None = None  # the W&B entity (user or team); default: your W&B default entity


Tracker = Annotated[MlflowTracking | WandbTracking, Field(discriminator="kind")]


def parse_track(text: str) -> MlflowTracking | WandbTracking:
    """``--track mlflow[=URI]`` or ``--track wandb[=PROJECT]`` as a tracker.

    Raises:
        ConfigError: another kind.
    """
    kind, _, value = text.partition("=")
    kind = kind.strip().lower()
    if kind == "mlflow":
        return MlflowTracking(uri=value or None)
    if kind == "wandb":
        return WandbTracking(project=value or None)
    raise ConfigError(f"--track {text!r}: name mlflow (--track mlflow=URI) or wandb (--track wandb=PROJECT)")
