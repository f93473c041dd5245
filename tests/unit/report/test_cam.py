"""Grad-CAM maps, overlays and the Fig. 7 grid."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from ablate.config import TrialConfig
from ablate.models import build_model
from ablate.report.cam import (
    capture_activations,
    class_cams,
    default_layer,
    grad_cam,
    overlay,
    save_cam_grid,
)

SIZE = 16


pytestmark = pytest.mark.usefixtures("one_thread")


def _normalize(b: torch.Tensor) -> torch.Tensor:
    return b.float() / 255


def _squares(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Class 1: a bright 4x4 square somewhere on a dark image; class 0: no square."""
    labels = torch.arange(n) % 2
    img = (torch.rand(n, 3, SIZE, SIZE, generator=g) * 40).to(torch.uint8)
    corners = torch.randint(0, SIZE - 4, (n, 2), generator=g)
    for i in range(n):
        if labels[i]:
            r, c = corners[i].tolist()
            img[i, :, r : r + 4, c : c + 4] = 230
    return img, labels, corners


def _cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 2),
    )


@pytest.fixture(scope="module")
def trained(fit_full_batch) -> tuple[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    x, y, _ = _squares(128, g)
    model = fit_full_batch(_cnn(), x, y, _normalize, steps=60)
    return (model, *_squares(8, g))


def test_map_highlights_the_square_and_leaves_no_trace(trained):
    model, x, y, corners = trained
    i = int((y == 1).nonzero()[0])
    cam = grad_cam(model, _normalize(x[i : i + 1]), 1)  # default layer: the last conv, "2"
    assert cam.shape == (SIZE, SIZE) and cam.dtype == np.float32
    assert cam.min() == 0.0 and cam.max() == pytest.approx(1.0) and cam.std() > 0.05
    peak = np.unravel_index(cam.argmax(), cam.shape)
    r, c = corners[i].tolist()
    assert r - 2 <= peak[0] <= r + 5 and c - 2 <= peak[1] <= c + 5, (peak, (r, c))
    assert all(not m._forward_hooks and not m._backward_hooks for m in model.modules()), (
        "hooks removed"
    )
    assert all(p.grad is None for p in model.parameters()), "parameter gradients untouched"
    assert not model.training


def test_hooks_removed_on_error_and_layer_checks(trained):
    model = trained[0]
    x = torch.rand(1, 3, SIZE, SIZE)
    with pytest.raises(IndexError):
        grad_cam(model, x, target_class=7, layer="2")  # only 2 classes
    assert not model[2]._forward_hooks
    with pytest.raises(ValueError, match="unknown layer"):
        grad_cam(model, x, 0, layer="nope")
    with capture_activations(model[0]) as store:
        model(x)
    assert store["act"].shape == (1, 8, SIZE, SIZE) and not model[0]._forward_hooks
    assert grad_cam(model, x, 0, layer=model[0]).shape == (SIZE, SIZE)  # a module works too


@pytest.mark.parametrize("backbone", ["mobilenet_v3_small", "resnet18"])
def test_default_layer_of_the_modified_model_is_its_last_tap(backbone):
    mod = build_model(
        TrialConfig(backbone=backbone, variant="modified", input_size=64), num_classes=5
    ).eval()
    assert default_layer(mod) == "features"
    x = torch.rand(1, 3, 64, 64) * 255
    with torch.no_grad():
        with capture_activations(mod.features) as store:
            mod(x)
        last_tap = mod.features(x)[f"tap{len(mod.taps) - 1}"]  # (1, C, h, w): features.12 / layer4
    assert store["act"].shape[1] == {"mobilenet_v3_small": 576, "resnet18": 512}[backbone]
    assert torch.equal(store["act"], last_tap)
    cam = grad_cam(mod, x, 2)
    assert cam.shape == (64, 64) and 0 <= cam.min() and cam.max() <= 1
    orig = build_model(TrialConfig(backbone=backbone, variant="original", input_size=64), 5)
    assert (
        default_layer(orig)
        == {"mobilenet_v3_small": "features.12.0", "resnet18": "layer4.1.conv2"}[backbone]
    )


def test_overlay_and_grid_files(trained, tmp_path):
    model, x, y, _ = trained
    img = x[0].permute(1, 2, 0).numpy()
    cam = np.linspace(0, 1, SIZE * SIZE, dtype=np.float32).reshape(SIZE, SIZE)
    im = overlay(img, cam)
    assert isinstance(im, Image.Image) and im.size == (SIZE, SIZE) and im.mode == "RGB"
    assert np.array_equal(np.asarray(overlay(img, cam, alpha=0.0)), img)
    assert overlay(img, cam[::2, ::2]).size == (SIZE, SIZE), "a smaller map is resized to the image"
    cams = class_cams(model, x, y, ["no square", "COVID/19"], _normalize)
    assert list(cams) == ["no square", "COVID/19"]
    paths = save_cam_grid(cams, tmp_path / "cam")
    assert [p.name for p in paths] == ["no_square.png", "COVID_19.png", "grid.png"]
    for p in paths[:2]:
        assert Image.open(p).size == (SIZE, SIZE)
    grid = Image.open(paths[-1])
    assert grid.size[0] > grid.size[1] > 0
