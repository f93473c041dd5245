"""The masked-lung control: a fixed geometric lung field, blacked out or kept alone.

``data.mask: lungs`` sets the pixels inside the field to 0 (the model sees everything but the
lungs); ``outside`` sets everything else to 0 (only the lungs). No segmentation model: the field
is two ellipses at fixed fractions of the image, where the lungs of a centred, upright
posteroanterior chest X-ray lie. Each ellipse is centred 22.5 % of the width left and right of
the middle, 47 % down from the top, with half-axes of 22 % of the width and 35 % of the height;
together they span about 0.5-94.5 % of the width and 12-82 % of the height (about 48 % of the
image). It covers the lungs of the built-in synthetic set (tested) and of typical centred PA
films; it fails on rotated, off-centre, lateral, AP bedside or tightly cropped films, on
children (smaller lungs) and on images with wide borders, where it cuts lung or keeps some
outside it. Text markers at the edges and corners always lie outside it.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["MASKS", "apply_mask", "lung_field"]

MASKS = ("none", "lungs", "outside")
# (centre x, centre y, half-width, half-height) of each lung ellipse, as fractions of the image
_ELLIPSES = ((0.275, 0.47, 0.22, 0.35), (0.725, 0.47, 0.22, 0.35))


def lung_field(size: int) -> np.ndarray:
    """A (size, size) bool array, True inside the geometric lung field (pixel centres)."""
    c = (np.arange(size) + 0.5) / size
    yy, xx = np.meshgrid(c, c, indexing="ij")
    inside = np.zeros((size, size), dtype=bool)
    for cx, cy, ax, ay in _ELLIPSES:
        inside |= ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2 <= 1.0
    return inside


def apply_mask(images: torch.Tensor, kind: str) -> torch.Tensor:
    """Images (N, C, S, S) with the lung field (``lungs``) or the rest (``outside``) set to 0.

    ``none`` returns `images` itself; otherwise a new tensor (the input, possibly a read-only
    memory map of the decode cache, is never written).

    Raises:
        ValueError: an unknown kind (the config refuses one before this).
    """
    if kind == "none":
        return images
    if kind not in MASKS:
        raise ValueError(f"data.mask must be one of {', '.join(MASKS)}, got {kind!r}")
    field = torch.from_numpy(lung_field(images.shape[-1]))
    keep = ~field if kind == "lungs" else field
    return images * keep.to(images.dtype)
