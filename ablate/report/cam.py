"""Grad-CAM class activation maps (the paper's Fig. 7), with hooks removed afterwards."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402
from torch import nn  # noqa: E402

__all__ = ["default_layer", "grad_cam", "overlay", "save_cam_grid"]


def default_layer(model: nn.Module) -> str:
    """The last Conv2d of the backbone (for the modified model: not a PCB or the gate)."""
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d) and not n.startswith(("pcbs", "gate"))]
    return convs[-1]


@contextmanager
def _capture(module: nn.Module):  # noqa: ANN202
    store: dict[str, torch.Tensor] = {}

    def fwd(_m, _i, out):  # noqa: ANN001, ANN202
        store["act"] = out
        out.register_hook(lambda g: store.__setitem__("grad", g))

    h = module.register_forward_hook(fwd)
    try:
        yield store
    finally:
        h.remove()


def grad_cam(model: nn.Module, x: torch.Tensor, target: int, layer: str) -> np.ndarray:
    """Grad-CAM map (H, W) in [0, 1] of class `target` for one input (1, 3, H, W)."""
    module = dict(model.named_modules())[layer]
    model.eval()
    with _capture(module) as store, torch.enable_grad():
        x = x.detach().requires_grad_(True)
        logits = model(x)
        model.zero_grad(set_to_none=True)
        logits[0, target].backward()
    act, grad = store["act"].detach(), store["grad"].detach()  # (1, C, h, w)
    weights = grad.mean(dim=(2, 3), keepdim=True)  # (1, C, 1, 1)
    cam = F.relu((weights * act).sum(1, keepdim=True))  # (1, 1, h, w)
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    lo, hi = float(cam.min()), float(cam.max())
    return ((cam - lo) / (hi - lo)).numpy() if hi > lo else np.zeros(cam.shape, dtype=np.float32)


def overlay(image: np.ndarray, cam: np.ndarray, alpha: float = 0.45) -> Image.Image:
    """The map in the jet colormap blended over a uint8 (H, W, 3) image."""
    heat = (plt.get_cmap("jet")(cam)[..., :3] * 255).astype(np.float32)
    out = (1 - alpha) * image.astype(np.float32) + alpha * heat
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))


def save_cam_grid(images: dict[str, Image.Image], out_dir: Path) -> list[Path]:
    """One PNG per class plus ``grid.png`` with the class names as titles."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, im in images.items():
        p = out_dir / f"{name}.png"
        im.save(p)
        paths.append(p)
    fig, axes = plt.subplots(1, len(images), figsize=(2.6 * len(images), 2.9), squeeze=False)
    for ax, (name, im) in zip(axes[0], images.items(), strict=True):
        ax.imshow(im)
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out_dir / "grid.png", dpi=120)
    plt.close(fig)
    return [*paths, out_dir / "grid.png"]
