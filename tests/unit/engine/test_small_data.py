"""The small-training-set rules: batch cap, BatchNorm momentum, chance level."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ablate.engine.small_data import (
    apply_bn_momentum,
    at_chance,
    bn_momentum_for,
    chance_level,
    train_batch_size,
)


@pytest.mark.parametrize(("batch", "n", "ws", "steps", "want"), [
    (128, 400, 1, 32, 16),      # 400 images: 25 steps of 16 instead of 3 of 128
    (128, 4096, 1, 32, 128),    # a large set keeps the paper's batch
    (128, 2000, 2, 32, 31),     # per worker, two workers
    (128, 100, 1, 32, 16),      # never below 16
    (8, 100, 1, 32, 8),         # nor above the configured batch
    (128, 400, 1, 0, 128),      # 0 turns the rule off
])
def test_train_batch_size(batch, n, ws, steps, want):
    assert train_batch_size(batch, n, ws, steps) == want


def test_bn_momentum_follows_steps_and_keeps_higher_ones():
    assert bn_momentum_for(25) == pytest.approx(0.1) and bn_momentum_for(300) == pytest.approx(0.01)
    model = nn.Sequential(nn.BatchNorm2d(3, momentum=0.01), nn.BatchNorm1d(3, momentum=0.1))
    assert apply_bn_momentum(model, 0.05) == pytest.approx(0.05)
    assert [m.momentum for m in model] == [0.05, 0.1]
    assert apply_bn_momentum(nn.Linear(2, 2), 0.1) is None


def test_chance_level_is_the_majority_share():
    assert chance_level(torch.tensor([0, 0, 0, 1]), 2) == pytest.approx(0.75)
    assert chance_level(torch.tensor([0, 1, 2, 3, 4]), 5) == pytest.approx(0.2)
    assert at_chance(0.22, 0.2) and not at_chance(0.4, 0.2)


def test_a_trial_at_chance_after_its_first_phase_says_so_once():
    from ablate.engine.trainer import run_trial
    from tests.unit.engine.test_engine import _cfg, _data

    said: list[str] = []
    cfg = _cfg(epochs=2, phases=[{"optimizer": "adam", "epochs": 1, "lr": 1e-12}, {"optimizer": "sgd", "lr": 1e-12}])
    data = _data()
    for part in (data.train, data.val, data.test):  # every image the same: nothing to learn
        part.images[:] = part.images[0]
    out = run_trial(cfg, data=data, progress=said.append)
    assert out.status == "ok" and len(said) == 1
    assert said[0].startswith("warning: val accuracy") and "at chance (0.50) after phase 0" in said[0]
    assert out.trial_row["train_batch_size"] == 8 and out.trial_row["train_bn_momentum"] == pytest.approx(0.1)
