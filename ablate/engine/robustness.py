"""Robustness to pixel noise, exactly as the paper (Tables 15, 16).

On raw 0-255 pixels: ``a' = n * a + m * randn(shape)``, clipped to [0, 255] and rounded to
integers; form 1 is n = 1 with m in {1, 3, 5, 7, 10}, form 2 is m = 2 with n in
{0.5, 0.7, 0.9, 1.1, 1.3}. The perturbed uint8 images then go through the model's usual
preprocessing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

__all__ = ["PAPER_LEVELS", "paper_levels", "perturb", "robustness_eval"]

PAPER_LEVELS: dict[str, list[tuple[float, float]]] = {
    "form1": [(1.0, float(m)) for m in (1, 3, 5, 7, 10)],
    "form2": [(n, 2.0) for n in (0.5, 0.7, 0.9, 1.1, 1.3)],
}


def paper_levels() -> list[tuple[str, float, float]]:
    """(form, n, m) for the clean images and both of the paper's noise forms."""
    return [("clean", 1.0, 0.0)] + [(form, n, m) for form, lv in PAPER_LEVELS.items() for n, m in lv]


def perturb(images: torch.Tensor, m: float, n: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """``clip(round(n * a + m * randn), 0, 255)`` of uint8 images, as uint8."""
    a = images.float()
    if m:
        noise = torch.randn(a.shape, generator=generator, device="cpu").to(a.device)
        a = n * a + m * noise
    elif n != 1.0:
        a = n * a
    return a.round_().clamp_(0, 255).to(torch.uint8)


@torch.no_grad()
def robustness_eval(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    levels: list[tuple[str, float, float]],
    preprocess: Callable[[torch.Tensor], torch.Tensor],
    device: torch.device,
    batch_size: int = 128,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Accuracy at each (form, n, m) level; rows with form, n, m, seed, accuracy, n_images.

    The noise of each level is drawn from a generator seeded by `seed`, batch by batch in
    order, so a level's perturbed set is the same for every model evaluated with the seed.
    """
    model.eval()
    rows = []
    for form, n, m in levels:
        g = torch.Generator().manual_seed(seed)
        correct = 0
        for lo in range(0, len(labels), batch_size):
            x = perturb(images[lo : lo + batch_size], m, n, g).to(device)
            y = labels[lo : lo + batch_size].to(device)
            out = model(preprocess(x))
            correct += int((out.argmax(1) == y).sum())
        rows.append({"form": form, "n": float(n), "m": float(m), "seed": seed,
                     "accuracy": correct / max(len(labels), 1), "n_images": len(labels)})
    return rows
