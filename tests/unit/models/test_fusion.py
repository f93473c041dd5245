"""The modification behaves as the paper specifies."""

from __future__ import annotations

import torch

from ablate.config import TrialConfig
from ablate.models import build_model

K = 5


def _model(gate: str, taps: list[str] | None = None):
    cfg = TrialConfig(backbone="mobilenet_v3_small", variant="modified", input_size=32)
    cfg.fusion.gate = gate
    if taps:
        cfg.fusion.taps = taps
    torch.manual_seed(0)
    return build_model(cfg, K).eval()


def _pcb_outputs(model, x):
    feats = model.features(x)
    return [pcb(feats[f"tap{i}"]) for i, pcb in enumerate(model.pcbs)]


def test_uniform_is_the_plain_sum_of_pcb_outputs():
    model = _model("uniform")
    x = torch.rand(3, 3, 32, 32) * 255
    with torch.no_grad():
        fused = sum(_pcb_outputs(model, x))
        expected = model.head(fused)
        assert torch.allclose(model(x), expected, atol=1e-5)


def test_dynamic_weights_differ_per_input_and_gate_gets_gradient():
    model = _model("dynamic")
    model.train()
    x = torch.rand(4, 3, 32, 32) * 255
    x[2:] *= 0.1  # darker images
    w = model.gate_weights(x)
    assert w.shape == (4, 5)
    assert (w >= 0).all()
    assert not torch.allclose(w[0], w[2]), "per-sample weights should depend on the input"
    model(x).sum().backward()
    assert model.gate.conv.weight.grad is not None
    assert model.gate.conv.weight.grad.abs().sum() > 0


def test_dynamic_forward_is_weighted_sum():
    model = _model("dynamic")
    x = torch.rand(2, 3, 32, 32) * 255
    with torch.no_grad():
        w = model.gate_weights(x)
        outs = torch.stack(_pcb_outputs(model, x), dim=1)  # (B, T, P)
        fused = (w[:, :, None] * outs).sum(1)
        assert torch.allclose(model(x), model.head(fused), atol=1e-5)
        # sample 1's output must not depend on sample 0's weights (the scripts' quirk)
        assert torch.allclose(model(x[1:]), model(x)[1:], atol=1e-5)


def test_static_gate_one_weight_per_tap_shared_by_inputs():
    model = _model("static", taps=["features.1", "features.3", "features.12"])
    assert model.tap_weights.shape == (3,)
    x = torch.rand(2, 3, 32, 32) * 255
    w = model.gate_weights(x)
    assert torch.equal(w[0], w[1])
    model.train()
    model(x).sum().backward()
    assert model.tap_weights.grad is not None and model.tap_weights.grad.abs().sum() > 0


def test_gate_width_follows_taps():
    model = _model("dynamic", taps=["features.2", "features.12"])
    assert model.gate.conv.out_channels == 2
    assert len(model.pcbs) == 2
