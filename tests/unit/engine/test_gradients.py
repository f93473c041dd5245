"""|gradient| statistics of the first eight conv layers (Fig. 6)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ablate.config import TrialConfig
from ablate.engine.gradients import GradientStats, first_conv_layers
from ablate.models import build_model

# torchvision's MobileNetV3-small: 432 + 144 + 128 + 128 + 256 + 1152 + 648 + 1728 weights in
# its first eight convs (stem; block 1 with its squeeze-excitation fc1/fc2; block 2). The
# paper's Gluon model had 7264.
MOBILENET_FIRST8 = 4616


pytestmark = pytest.mark.usefixtures("one_thread")


def _mobilenet(variant: str) -> nn.Module:
    return build_model(
        TrialConfig(backbone="mobilenet_v3_small", variant=variant, input_size=64), num_classes=5
    )


class _Reordered(nn.Module):
    """Registers `late` before `early` but runs `early` first."""

    def __init__(self) -> None:
        super().__init__()
        self.late = nn.Conv2d(4, 2, 1)
        self.early = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Linear(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.late(self.early(x)).mean(dim=(2, 3)))


def test_forward_order_not_registration_order():
    model = _Reordered()
    assert [n for n, _ in first_conv_layers(model, torch.zeros(1, 3, 8, 8))] == ["early", "late"]
    assert [n for n, _ in first_conv_layers(model, k=1)] == ["early"]  # default probe input
    assert not model.early._forward_hooks and not model.late._forward_hooks
    with pytest.raises(TypeError):
        first_conv_layers(model, 8)


def test_mobilenet_first_eight_convs():
    orig = _mobilenet("original").train()
    layers = first_conv_layers(orig, k=8)
    assert [n for n, _ in layers][:3] == [
        "features.0.0",
        "features.1.block.0.0",
        "features.1.block.1.fc1",
    ]
    assert sum(c.weight.numel() for _, c in layers) == MOBILENET_FIRST8
    assert orig.training, "the probe pass restores the mode"
    names = [n for n, _ in first_conv_layers(_mobilenet("modified"), k=8)]
    assert names[0] == "features.features.0.0" and len(names) == 8
    assert not any(n.startswith(("pcbs", "gate")) for n in names), (
        "backbone convs run before the PCBs"
    )


def _manual(grads: list[list[torch.Tensor]]) -> tuple[float, float]:
    """Mean and (population) variance of |g| over every weight of every step."""
    flat = torch.cat([g.abs().double().flatten() for step in grads for g in step])
    return float(flat.mean()), float(flat.var(unbiased=False))


@pytest.mark.parametrize("variant", ["original", "modified"])
def test_gradient_stats_match_a_direct_computation(variant):
    torch.manual_seed(0)
    model = _mobilenet(variant).train()
    x = torch.rand(4, 3, 64, 64) * 255
    stats = GradientStats(model, x[:1])
    assert stats.n_params == MOBILENET_FIRST8
    seen = []
    for _ in range(2):
        model.zero_grad()
        nn.functional.cross_entropy(model(x), torch.tensor([0, 1, 2, 3])).backward()
        stats(model)
        seen.append([c.weight.grad.clone() for _, c in stats.layers])
    d = stats.as_dict()
    mean, var = _manual(seen)
    assert d["abs_grad_mean"] == pytest.approx(mean, rel=1e-5) and d[
        "abs_grad_var"
    ] == pytest.approx(var, rel=1e-4)
    assert d["n_params"] == MOBILENET_FIRST8 and d["steps"] == 2 and len(d["layers"]) == 8
    assert (
        d["abs_grad_mean"] > 0
        and math.isfinite(d["abs_grad_mean"])
        and math.isfinite(d["abs_grad_var"])
    )
    first = stats.layers[0][0]
    lm, lv = _manual([[s[0]] for s in seen])
    assert d["layers"][first]["abs_grad_mean"] == pytest.approx(lm, rel=1e-5)
    assert d["layers"][first]["abs_grad_var"] == pytest.approx(lv, rel=1e-4)
    rows = stats.summary()
    assert (
        len(rows) == 9 and rows[-1]["layer"] == "all" and rows[-1]["n_params"] == MOBILENET_FIRST8
    )
    assert rows[-1]["abs_grad_mean"] == d["abs_grad_mean"]
    assert all(r["abs_grad_mean"] > 0 and r["abs_grad_var"] >= 0 for r in rows)
    stats.reset()
    assert stats.summary() == [] and math.isnan(stats.as_dict()["abs_grad_mean"])


def test_non_finite_steps_and_missing_gradients_are_left_out():
    model = _Reordered()
    stats = GradientStats(model, torch.zeros(1, 3, 8, 8))
    model.early.weight.grad = torch.full_like(model.early.weight, 2.0)
    model.late.weight.grad = torch.full_like(model.late.weight, -1.0)
    stats()
    model.early.weight.grad = torch.full_like(
        model.early.weight, float("inf")
    )  # a skipped AMP step
    model.late.weight.grad = None  # e.g. a frozen layer
    stats()
    d = stats.as_dict()
    n_early, n_late = model.early.weight.numel(), model.late.weight.numel()
    assert d["layers"]["early"] == {"abs_grad_mean": 2.0, "abs_grad_var": 0.0, "n_params": n_early}
    assert d["layers"]["late"]["abs_grad_mean"] == 1.0
    assert d["abs_grad_mean"] == pytest.approx((2 * n_early + n_late) / (n_early + n_late))
    assert d["steps"] == 2
