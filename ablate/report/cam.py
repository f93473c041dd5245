"""Grad-CAM class activation maps (the paper's Fig. 7), with hooks removed afterwards.

Grad-CAM (Selvaraju et al. 2017) on one layer: the layer's activations A (C, h, w) are
weighted by the spatial mean of d logit_target / dA per channel, summed over channels,
passed through ReLU, upsampled bilinearly to the input size and scaled to [0, 1].
The gradient is taken with `torch.autograd.grad`, so the model's parameter ``.grad`` fields
are left as they were.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from PIL import Image
from torch import nn

__all__ = [
    "capture_activations",
    "class_cams",
    "default_layer",
    "grad_cam",
    "overlay",
    "save_cam_grid",
]


def default_layer(model: nn.Module) -> str:
    """The layer Grad-CAM uses by default.

    For a modified (fused) model: ``features``, its feature extractor, whose hooked output is
    the last tap (e.g. MobileNetV3-small ``features.12``, ResNet18 ``layer4``): the pruned graph
    need not call the tap's own module. For any other model: its last Conv2d outside a
    ``classifier`` (SqueezeNet's head is a conv).
    """
    from ablate.models.fusion import FusedModel

    if isinstance(model, FusedModel):
        return "features"
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    trunk = [n for n in convs if not n.startswith(("classifier", "pcbs", "gate"))]
    if not convs:
        raise ValueError("the model has no Conv2d layer; name a layer for Grad-CAM explicitly")
    return (trunk or convs)[-1]


def _module(model: nn.Module, layer: str | nn.Module | None) -> nn.Module:
    if isinstance(layer, nn.Module):
        return layer
    name = layer if layer is not None else default_layer(model)
    modules = dict(model.named_modules())
    if name not in modules:
        raise ValueError(
            f"unknown layer {name!r}; e.g. {default_layer(model)!r} (any name from model.named_modules())"
        )
    return modules[name]


@contextmanager
def capture_activations(module: nn.Module) -> Iterator[dict[str, torch.Tensor]]:
    """Record the module's forward output in ``store['act']``; the hook goes on exit.

    A dict output (a feature extractor's taps) gives its last value, a tuple its first.
    """
    store: dict[str, torch.Tensor] = {}

    def hook(_m: nn.Module, _inputs: tuple, out: Any) -> None:
        if isinstance(out, Mapping):
            out = list(out.values())[-1]
        elif isinstance(out, (tuple, list)):
            out = out[0]
        store["act"] = out

    handle = module.register_forward_hook(hook)
    try:
        yield store
    finally:
        handle.remove()


def grad_cam(
    model: nn.Module, image: torch.Tensor, target_class: int, layer: str | nn.Module | None = None
) -> np.ndarray:
    """Grad-CAM map of one image for one class.

    Args:
        model: the classifier (run in eval mode; its mode is restored afterwards).
        image: float model input (1, 3, H, W), already normalised.
        target_class: the class whose logit is explained.
        layer: module name or module (default: `default_layer`).

    Returns:
        float32 (H, W) in [0, 1]; all zeros when the map is constant.
    """
    module = _module(model, layer)
    device = next(model.parameters()).device
    x = image.detach().to(device).requires_grad_(True)  # (1, 3, H, W)
    was_training = model.training
    model.eval()
    try:
        with capture_activations(module) as store, torch.enable_grad():
            out = model(x)
            logits = out[0] if isinstance(out, tuple) else out  # (1, K)
            if "act" not in store:
                raise ValueError("the chosen layer did not run in the forward pass")
            act = store["act"]  # (1, C, h, w)
            (grad,) = torch.autograd.grad(logits[0, target_class], act)
    finally:
        model.train(was_training)
    act, grad = act.detach().float(), grad.detach().float()
    if act.dim() != 4:
        raise ValueError(f"Grad-CAM needs a (1, C, h, w) activation; layer gave {tuple(act.shape)}")
    weights = grad.mean(dim=(2, 3), keepdim=True)  # (1, C, 1, 1)
    cam = F.relu((weights * act).sum(1, keepdim=True))  # (1, 1, h, w)
    size = tuple(image.shape[-2:])
    cam = F.interpolate(cam, size=size, mode="bilinear", align_corners=False)[0, 0]  # (H, W)
    lo, hi = float(cam.min()), float(cam.max())
    if not hi > lo:
        return np.zeros(cam.shape, dtype=np.float32)
    return ((cam - lo) / (hi - lo)).cpu().numpy().astype(np.float32)


def overlay(image: np.ndarray, cam: np.ndarray, alpha: float = 0.45) -> Image.Image:
    """The map in matplotlib's jet colormap alpha-blended over the image.

    Args:
        image: uint8 (H, W, 3) or (H, W).
        cam: (h, w) in [0, 1]; resized to (H, W) when it differs.
        alpha: weight of the heat map.
    """
    img = np.asarray(image)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    cam = np.clip(np.asarray(cam, dtype=np.float32), 0, 1)
    if cam.shape != img.shape[:2]:
        pil = Image.fromarray(cam).resize((img.shape[1], img.shape[0]), Image.BILINEAR)
        cam = np.clip(np.asarray(pil, dtype=np.float32), 0, 1)
    heat = matplotlib.colormaps["jet"](cam)[..., :3] * 255.0  # (H, W, 3)
    out = (1 - alpha) * img.astype(np.float32) + alpha * heat
    return Image.fromarray(np.clip(out, 0, 255).round().astype(np.uint8))


def class_cams(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    class_names: Sequence[str],
    normalize: Callable[[torch.Tensor], torch.Tensor],
    layer: str | nn.Module | None = None,
) -> dict[str, Image.Image]:
    """Grad-CAM overlays of the first image of each class, for its true class (Fig. 7).

    Args:
        model: the classifier.
        images: uint8 (N, 3, H, W) test images.
        labels: (N,) class indices.
        class_names: name of each class index.
        normalize: uint8 batch -> float model input.
        layer: as in `grad_cam`.

    Returns:
        ``{class name: overlay}`` for the classes that have an image.
    """
    out = {}
    for c, name in enumerate(class_names):
        idx = (labels == c).nonzero().flatten()
        if len(idx) == 0:
            continue
        img = images[int(idx[0])]  # (3, H, W) uint8
        heat = grad_cam(model, normalize(img.unsqueeze(0)), c, layer)
        out[name] = overlay(img.permute(1, 2, 0).cpu().numpy(), heat)
    return out


def _filename(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "class"


def save_cam_grid(
    images: Mapping[str, Image.Image], out_dir: str | Path, grid_name: str = "grid.png"
) -> list[Path]:
    """One PNG per class (``<class>.png``, at the image's size) and a grid with class titles.

    Args:
        images: ``{class name: overlay}`` (e.g. from `class_cams`).
        out_dir: folder, created if missing.
        grid_name: file name of the grid.

    Returns:
        The per-class files, then the grid.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not images:
        raise ValueError("no class activation maps to save")
    paths = []
    for name, im in images.items():
        p = out_dir / f"{_filename(name)}.png"
        im.save(p)
        paths.append(p)
    fig = Figure(figsize=(2.6 * len(images), 2.9))  # no pyplot: no global figure state
    axes = fig.subplots(1, len(images), squeeze=False)
    for ax, (name, im) in zip(axes[0], images.items(), strict=True):
        ax.imshow(im)
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out_dir / grid_name, dpi=120)
    return [*paths, out_dir / grid_name]
