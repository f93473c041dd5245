"""Saved models: the best weights of each trial, with the config that rebuilds them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ablate.atomic import atomic_file
from ablate.errors import AblateError

__all__ = ["load_model", "model_path", "save_model"]


def model_path(results_dir: str | Path, trial_id: str) -> Path:
    return Path(results_dir) / "models" / f"{trial_id}.pt"


def save_model(results_dir: str | Path, trial_id: str, state: dict[str, torch.Tensor], config: dict[str, Any],
               class_names: list[str]) -> Path:
    """Write ``models/<trial_id>.pt`` atomically: weights, resolved config, class names."""
    path = model_path(results_dir, trial_id)
    with atomic_file(path) as tmp:
        torch.save({"state_dict": state, "config_json": json.dumps(config), "class_names": class_names}, tmp)
    return path


def load_model(results_dir: str | Path, trial_id: str) -> tuple[nn.Module, Any, list[str]]:
    """(model in eval mode, its TrialConfig, class names) of a saved trial."""
    from ablate.config import TrialConfig
    from ablate.models import build_model

    path = model_path(results_dir, trial_id)
    if not path.is_file():
        raise AblateError(f"no saved model for trial {trial_id} in {Path(results_dir) / 'models'}; was it trained with this results folder?")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    raw = json.loads(blob["config_json"])
    raw.update(weights_path=None, pretrained="none")  # the saved state replaces any initial weights
    cfg = TrialConfig.model_validate(raw)
    model = build_model(cfg, len(blob["class_names"]))
    model.load_state_dict(blob["state_dict"])
    return model.eval(), cfg, list(blob["class_names"])
