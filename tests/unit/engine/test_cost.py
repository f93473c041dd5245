"""Cost columns: FLOPs against a hand count, the latency measurement, the trials row."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ablate.engine.cost import THROUGHPUT_PASSES, WARMUP, forward_flops, measure_cost
from ablate.engine.loop import StepContext
from ablate.engine.trainer import run_trial
from ablate.results.schema import TABLES
from tests.unit.engine.test_engine import _cfg, _data

pytestmark = pytest.mark.usefixtures("one_thread")


def _conv_linear(k: int = 5) -> nn.Module:
    # conv 3->8, 3x3, same padding, on 8x8: 8*8 outputs x 8 channels x (3*3*3) MACs = 13,824
    # linear 512->k: 512*k MACs (k=5: 2,560); ReLU and Flatten count nothing
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, k))


def test_flops_of_conv_plus_linear_equal_the_hand_count():
    model = _conv_linear(5)
    flops = forward_flops(model, torch.zeros(1, 3, 8, 8))
    assert flops == 2 * (8 * 8 * 8 * 27 + 512 * 5)  # FlopCounterMode: 2 FLOPs per multiply-add
    assert forward_flops(_conv_linear(7), torch.zeros(1, 3, 8, 8)) - flops == 2 * 512 * 2
    assert model.training, "the caller's mode is restored"


def _ctx() -> StepContext:
    return StepContext(device=torch.device("cpu"), preprocess=lambda x: x.float() / 255)


@pytest.mark.parametrize("repeats", [1, 9])
def test_latency_positive_and_its_pass_count_fixed_by_repeats(repeats):
    model = _conv_linear()
    calls: list[int] = []
    model.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    images = torch.randint(0, 256, (3, 3, 8, 8), dtype=torch.uint8)
    cost = measure_cost(model, images, _ctx(), batch_size=4, repeats=repeats)
    assert cost["latency_ms"] > 0 and cost["throughput_ips"] > 0
    assert cost["latency_repeats"] == repeats
    assert cost["flops"] == 2 * cost["macs"] == 2 * (8 * 8 * 8 * 27 + 512 * 5)
    # one counted pass, warm-up, timed batch-1 passes; then one untimed and the timed batches of 4
    assert calls == [1] * (1 + WARMUP + repeats) + [4] * (1 + THROUGHPUT_PASSES)
    assert not model.training


def test_measure_cost_refuses_nothing_to_time():
    with pytest.raises(ValueError, match="repeats"):
        measure_cost(_conv_linear(), torch.zeros(2, 3, 8, 8, dtype=torch.uint8), _ctx(), batch_size=2, repeats=0)


def test_trial_row_has_cost_columns_and_latency_false_skips_them():
    data = _data(n=40)
    cols = ["macs", "flops", "latency_ms", "throughput_ips", "latency_repeats"]
    assert all(c in TABLES["trials"].names for c in cols)
    row = run_trial(_cfg(epochs=1, analysis={"latency_repeats": 3}), data=data).trial_row
    assert row["macs"] > 0 and row["flops"] == 2 * row["macs"]
    assert row["latency_ms"] > 0 and row["throughput_ips"] > 0 and row["latency_repeats"] == 3
    skipped = run_trial(_cfg(epochs=1, analysis={"latency": False}), data=data).trial_row
    assert all(skipped[c] is None for c in cols)
    assert skipped["config_hash"] == row["config_hash"], "the measurement's settings do not change the config"
