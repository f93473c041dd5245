"""The paper's pixel-noise robustness (Tables 15, 16) on a toy model that learned something."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from ablate.engine import robustness as rb
from ablate.engine.robustness import PAPER_LEVELS, paper_levels, perturb, robustness_eval

CPU = torch.device("cpu")


pytestmark = pytest.mark.usefixtures("one_thread")


def _normalize(b: torch.Tensor) -> torch.Tensor:
    return (b.float() - 128) / 32


def _toy(
    n: int, g: torch.Generator, d: int = 8, size: int = 8
) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 0: left half darker than the right by 2d gray levels; class 1: the reverse."""
    labels = torch.arange(n) % 2
    img = torch.full((n, 3, size, size), 128.0)
    sign = (labels * 2 - 1).view(-1, 1, 1, 1).float()
    img[..., : size // 2] -= sign * d
    img[..., size // 2 :] += sign * d
    img += torch.randn(img.shape, generator=g) * 2
    return img.round().clamp(0, 255).to(torch.uint8), labels


def _tiny_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 64, 2)
    )


@pytest.fixture(scope="module")
def trained(fit_full_batch) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    x, y = _toy(256, g)
    model = fit_full_batch(_tiny_cnn(), x, y, _normalize, steps=40)
    xt, yt = _toy(400, g)
    return model, xt, yt


def _clean_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return int((model(_normalize(x)).argmax(1) == y).sum()) / len(y)


def test_perturb_is_the_papers_formula():
    a = torch.tensor([[0, 100, 250, 3, 5]], dtype=torch.uint8).view(1, 1, 1, 5)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    out = perturb(a, m=10, n=1.3, generator=g1)
    expected = (
        (1.3 * a.float() + 10 * torch.randn(a.shape, generator=g2))
        .round()
        .clamp(0, 255)
        .to(torch.uint8)
    )
    assert torch.equal(out, expected) and out.dtype == torch.uint8 and out.shape == a.shape
    assert torch.equal(perturb(a, m=0, n=1.0), a)
    # no noise: 1.3 * 250 = 325 clips to 255; 0.5 * 3 = 1.5 and 0.5 * 5 = 2.5 round half to even
    assert perturb(a, m=0, n=1.3).flatten().tolist() == [0, 130, 255, 4, 6]
    assert perturb(a, m=0, n=0.5).flatten().tolist() == [0, 50, 125, 2, 2]
    big = perturb(
        torch.full((2, 3, 8, 8), 128, dtype=torch.uint8),
        m=1000,
        generator=torch.Generator().manual_seed(0),
    )
    assert set(big.unique().tolist()) <= set(range(256)) and {0, 255} <= set(big.unique().tolist())


def test_paper_levels():
    assert PAPER_LEVELS["form1"] == [(1.0, 1.0), (1.0, 3.0), (1.0, 5.0), (1.0, 7.0), (1.0, 10.0)]
    assert PAPER_LEVELS["form2"] == [(0.5, 2.0), (0.7, 2.0), (0.9, 2.0), (1.1, 2.0), (1.3, 2.0)]
    lv = paper_levels()
    assert lv[0] == ("clean", 1.0, 0.0) and len(lv) == 11 and paper_levels(clean=False) == lv[1:]


def test_clean_level_equals_clean_accuracy_exactly():
    torch.manual_seed(1)
    model = _tiny_cnn().eval()  # random: about half right
    x = torch.randint(0, 256, (50, 3, 8, 8), dtype=torch.uint8)
    y = torch.randint(0, 2, (50,))
    rows = robustness_eval(
        model, x, y, [("clean", 1.0, 0.0)], _normalize, CPU, batch_size=7, seed=3
    )
    assert rows == [
        {
            "form": "clean",
            "n": 1.0,
            "m": 0.0,
            "seed": 3,
            "accuracy": _clean_accuracy(model, x, y),
            "n_images": 50,
        }
    ]


def test_accuracy_falls_as_noise_grows(trained):
    model, x, y = trained
    clean = _clean_accuracy(model, x, y)
    assert clean >= 0.95, "the toy model should have learned the task"
    levels = [("clean", 1.0, 0.0)] + [("form1", 1.0, m) for m in (10.0, 40.0, 120.0, 400.0)]
    acc = [r["accuracy"] for r in robustness_eval(model, x, y, levels, _normalize, CPU, 64, seed=0)]
    assert acc[0] == clean
    assert all(b <= a + 0.01 for a, b in itertools.pairwise(acc)), acc
    assert acc[-1] < clean - 0.25, acc


def test_deterministic_per_seed_and_independent_of_batching(trained):
    model, x, y = trained
    x, y = x[:60], y[:60]
    levels = [("form1", 1.0, 150.0), ("form2", 0.7, 60.0)]
    a = robustness_eval(model, x, y, levels, _normalize, CPU, batch_size=7, seed=1)
    assert a == robustness_eval(model, x, y, levels, _normalize, CPU, batch_size=7, seed=1)
    assert a == robustness_eval(model, x, y, levels, _normalize, CPU, batch_size=60, seed=1)
    # each image's noise field depends only on (seed, index): the same at any batch offset
    g = torch.Generator()
    z_all = rb._image_noise(torch.Size((6, 3, 4, 4)), 0, 1, g, CPU)
    assert torch.equal(z_all[4:], rb._image_noise(torch.Size((2, 3, 4, 4)), 4, 1, g, CPU))
    assert not torch.equal(z_all, rb._image_noise(torch.Size((6, 3, 4, 4)), 0, 2, g, CPU))
    assert not torch.equal(z_all[0], z_all[1])


def test_dict_levels_and_mode_restored(trained):
    model, x, y = trained
    model.train()
    rows = robustness_eval(model, x[:20], y[:20], PAPER_LEVELS, _normalize, CPU, 8)
    assert model.training
    model.eval()
    assert [(r["form"], r["n"], r["m"]) for r in rows] == paper_levels(clean=False)
    assert all(0 <= r["accuracy"] <= 1 and r["n_images"] == 20 and r["seed"] == 0 for r in rows)
