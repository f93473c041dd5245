"""Robustness noise (Tables 15/16) and gradient statistics (Fig. 6)."""

from __future__ import annotations

import math

import pytest
import torch

from ablate.config import TrialConfig
from ablate.data import normalize_batch
from ablate.engine.gradients import GradientStats, first_conv_layers
from ablate.engine.robustness import PAPER_LEVELS, paper_levels, perturb, robustness_eval
from ablate.engine.trainer import run_trial
from ablate.models import build_model
from tests.unit.engine.test_engine import _cfg, _data


def test_perturb_is_the_papers_formula():
    a = torch.tensor([[0, 100, 250]], dtype=torch.uint8).view(1, 1, 1, 3)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    out = perturb(a, m=10, n=1.3, generator=g1)
    expected = (1.3 * a.float() + 10 * torch.randn(a.shape, generator=g2)).round().clamp(0, 255).to(torch.uint8)
    assert torch.equal(out, expected) and out.dtype == torch.uint8
    assert torch.equal(perturb(a, m=0, n=1.0), a)
    assert PAPER_LEVELS["form1"] == [(1.0, 1.0), (1.0, 3.0), (1.0, 5.0), (1.0, 7.0), (1.0, 10.0)]
    assert [n for n, _ in PAPER_LEVELS["form2"]] == [0.5, 0.7, 0.9, 1.1, 1.3]


def test_robustness_clean_equals_accuracy_and_noise_hurts():
    data = _data(n=60)
    cfg = _cfg(epochs=2, analysis={"robustness": True, "robustness_levels": [(1.0, 150.0), (1.0, 0.0)]})
    out = run_trial(cfg, data=data)
    rows = {(r["form"], r["n"], r["m"]): r["accuracy"] for r in out.tables["robustness"]}
    assert len(out.tables["robustness"]) == 1 + 10 + 2
    clean = rows[("clean", 1.0, 0.0)]
    assert clean == pytest.approx(out.trial_row["test_acc"])
    assert rows[("custom", 1.0, 0.0)] == clean
    assert rows[("custom", 1.0, 150.0)] < clean, "heavy noise must cost accuracy on the bright/dark task"


def test_robustness_eval_is_deterministic_per_seed():
    model = build_model(TrialConfig(backbone="squeezenet1_0", variant="original", input_size=32), 2).eval()
    x = torch.randint(0, 256, (10, 3, 32, 32), dtype=torch.uint8)
    y = torch.randint(0, 2, (10,))
    args = (model, x, y, paper_levels(), lambda b: normalize_batch(b, "none"), torch.device("cpu"), 4)
    assert robustness_eval(*args, seed=1) == robustness_eval(*args, seed=1)


def test_first_eight_conv_layers_in_forward_order():
    model = build_model(TrialConfig(backbone="mobilenet_v3_small", variant="original", input_size=64), 5)
    layers = first_conv_layers(model, torch.rand(1, 3, 64, 64) * 255)
    assert [n for n, _ in layers][:2] == ["features.0.0", "features.1.block.0.0"]
    # torchvision's MobileNetV3-small has 4616 weights there (the paper's Gluon model: 7264)
    assert sum(c.weight.numel() for _, c in layers) == 4616
    mod = build_model(TrialConfig(backbone="mobilenet_v3_small", variant="modified", input_size=64), 5)
    names = [n for n, _ in first_conv_layers(mod, torch.rand(1, 3, 64, 64) * 255)]
    assert names[0] == "features.features.0.0" and not any(n.startswith(("pcbs", "gate")) for n in names)


@pytest.mark.parametrize("variant", ["original", "modified"])
def test_gradient_stats_positive_finite(variant):
    model = build_model(TrialConfig(backbone="mobilenet_v3_small", variant=variant, input_size=64), 5).train()
    x = torch.rand(4, 3, 64, 64) * 255
    stats = GradientStats(model, x)
    for _ in range(2):
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(x), torch.tensor([0, 1, 2, 3])).backward()
        stats()
    rows = stats.summary()
    assert len(rows) == 9 and rows[-1]["layer"] == "all" and rows[-1]["n_params"] == 4616
    for r in rows:
        assert r["abs_grad_mean"] > 0 and math.isfinite(r["abs_grad_mean"]) and math.isfinite(r["abs_grad_var"])
        assert r["abs_grad_var"] >= 0
    g = torch.cat([c.weight.grad.abs().flatten() for _, c in stats.layers])
    # the summary covers two steps; the last step's |g| mean is of the same order
    assert rows[-1]["abs_grad_mean"] == pytest.approx(float(g.mean()), rel=1.0)


def test_trial_writes_gradient_rows_per_epoch():
    out = run_trial(_cfg(epochs=2, analysis={"gradients": True}), data=_data())
    rows = out.tables["gradients"]
    assert {r["epoch"] for r in rows} == {1, 2}
    assert sum(r["layer"] == "all" for r in rows) == 2
    assert all(r["abs_grad_mean"] > 0 for r in rows)
