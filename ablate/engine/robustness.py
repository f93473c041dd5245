"""Robustness to pixel noise, exactly as the paper (Tables 15, 16). No Ray imports.

On raw 0-255 pixels: ``a' = n * a + m * randn(shape)``, clipped to [0, 255] and rounded to
integers; form 1 is n = 1 with m in {1, 3, 5, 7, 10}, form 2 is m = 2 with n in
{0.5, 0.7, 0.9, 1.1, 1.3}. The perturbed uint8 images then go through the model's usual
normalisation.

`robustness_eval` draws one standard-normal field per image from a generator seeded by
``(seed, image index)`` (`_image_seed`) on the evaluation device and uses it at every level
(common random numbers): the perturbed test set of a level is the same for every model and
every batch size evaluated with that seed on the same device type (CPU and CUDA generators
differ), so differences between models and between levels are not differences between noise
draws.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["PAPER_LEVELS", "Level", "paper_levels", "perturb", "robustness_eval"]

Level = tuple[str, float, float]  # (form, n, m)

PAPER_LEVELS: dict[str, list[tuple[float, float]]] = {  # form -> [(n, m), ...]
    "form1": [(1.0, float(m)) for m in (1, 3, 5, 7, 10)],
    "form2": [(n, 2.0) for n in (0.5, 0.7, 0.9, 1.1, 1.3)],
}


def paper_levels(clean: bool = True) -> list[Level]:
    """(form, n, m) of both of the paper's noise forms, after ``("clean", 1, 0)`` if `clean`."""
    head: list[Level] = [("clean", 1.0, 0.0)] if clean else []
    return head + [(form, float(n), float(m)) for form, lv in PAPER_LEVELS.items() for n, m in lv]


def _apply(images: torch.Tensor, m: float, n: float, noise: torch.Tensor | None) -> torch.Tensor:
    """``clip(round(n * a + m * noise), 0, 255)`` as uint8; the identity for n = 1, m = 0."""
    if m == 0 and n == 1:
        return images.clone()
    a = images.float()  # (B, 3, H, W)
    if n != 1:
        a = a * n
    if m != 0:
        a = a + m * noise
    return a.round_().clamp_(0, 255).to(torch.uint8)


def perturb(
    images: torch.Tensor, m: float, n: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """The paper's perturbation of uint8 images: ``clip(round(n * a + m * randn), 0, 255)``.

    Args:
        images: uint8 (N, 3, H, W) with 0-255 values; not modified.
        m: noise amplitude (standard deviation in gray levels).
        n: contrast factor.
        generator: source of the noise; it is drawn on the generator's device (default: the
            global generator of the images' device) and moved to the images' device.

    Returns:
        uint8 tensor of the same shape, on the images' device.
    """
    noise = None
    if m != 0:
        dev = generator.device if generator is not None else images.device
        noise = torch.randn(images.shape, generator=generator, device=dev).to(images.device)
    return _apply(images, m, n, noise)


def _levels(levels: Mapping[str, Sequence[tuple[float, float]]] | Sequence[Level]) -> list[Level]:
    if isinstance(levels, Mapping):
        return [(str(form), float(n), float(m)) for form, lv in levels.items() for n, m in lv]
    return [(str(form), float(n), float(m)) for form, n, m in levels]


def _generator(device: torch.device) -> torch.Generator:
    try:
        return torch.Generator(device=device)
    except RuntimeError:  # a backend without device generators: draw on the CPU
        return torch.Generator()


def _image_seed(seed: int, index: int) -> int:
    """32-bit seed of one image's noise (the CPU generator keeps only 32 bits of a seed).

    Distinct for every image of one seed; the golden-ratio multiplier sets different seeds'
    ranges about 2.6e9 apart (mod 2^32), so they do not overlap for realistic test sets.
    """
    return (seed * 0x9E3779B1 + index) & 0xFFFFFFFF


def _image_noise(
    shape: torch.Size, first: int, seed: int, g: torch.Generator, device: torch.device
) -> torch.Tensor:
    """(B, ...) standard normals; image i's field depends only on (seed, first + i)."""
    z = torch.empty(shape, device=g.device)
    for i in range(shape[0]):
        g.manual_seed(_image_seed(seed, first + i))  # host-side seeding: no device sync
        z[i].normal_(generator=g)
    return z.to(device)


@torch.no_grad()
def robustness_eval(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    levels: Mapping[str, Sequence[tuple[float, float]]] | Sequence[Level],
    normalize: Callable[[torch.Tensor], torch.Tensor],
    device: torch.device,
    batch_size: int = 128,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Accuracy of a model on perturbed copies of a test set, one row per level.

    Batches are moved to the device once; the noise is drawn and applied there. The clean
    level (n = 1, m = 0) leaves the images untouched, so it equals the clean accuracy.

    Args:
        model: the classifier (evaluated in eval mode, its mode restored afterwards).
        images: uint8 (N, 3, H, W) test images with 0-255 values.
        labels: (N,) class indices.
        levels: ``[(form, n, m), ...]`` (e.g. `paper_levels()`) or ``{form: [(n, m), ...]}``
            (e.g. `PAPER_LEVELS`).
        normalize: uint8 batch on the device -> float model input.
        device: where the model runs.
        batch_size: images per forward pass.
        seed: seed of the noise.

    Returns:
        One dict per level, in order: ``form, n, m, seed, accuracy, n_images``.
    """
    lv = _levels(levels)
    device = torch.device(device)
    was_training = model.training
    model.eval()
    g = _generator(device)
    correct = torch.zeros(len(lv), dtype=torch.int64, device=device)
    try:
        for lo in range(0, len(labels), batch_size):
            x = images[lo : lo + batch_size].to(device)  # (B, 3, H, W) uint8
            y = labels[lo : lo + batch_size].to(device)  # (B,)
            z = (
                _image_noise(x.shape, lo, seed, g, device)
                if any(m != 0 for _, _, m in lv)
                else None
            )
            for j, (_, n, m) in enumerate(lv):
                out = model(normalize(_apply(x, m, n, z)))
                logits = out[0] if isinstance(out, tuple) else out  # (B, K)
                correct[j] += (logits.argmax(1) == y).sum()
    finally:
        model.train(was_training)
    total = len(labels)
    counts = correct.cpu().tolist()
    return [
        {
            "form": form,
            "n": n,
            "m": m,
            "seed": seed,
            "accuracy": c / total if total else float("nan"),
            "n_images": total,
        }
        for (form, n, m), c in zip(lv, counts, strict=True)
    ]
