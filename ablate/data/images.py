"""Decoding any image file to an 8-bit array at a fixed size.

Every PIL mode is accepted: ``1``, ``L``, ``P``, ``RGB``, ``CMYK``, ``YCbCr``, 16-bit and
32-bit grey (``I;16*``, ``I``, ``F``) and the alpha modes (``LA``, ``RGBA``, ``PA``, and ``P``
with transparency), which are composited on black. Wide grey images are scaled to 8 bits
by their value range, never clipped: ``v * 255 / max(max_value, 255)`` (values below zero
first shifted up), so 8-bit data stored in a wide container keeps its values and a 12- or
16-bit image uses the full 0-255 range. Images are resized straight to ``size x size``
(bilinear with antialiasing, as the paper resizes to 299 x 299; aspect ratio not kept).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ablate.errors import DataError

__all__ = ["GREY_MODES", "IMAGE_EXTS", "check_image", "decode", "load_image", "to_rgb"]

# file suffixes read as images everywhere (class folders, source trees, caches)
IMAGE_EXTS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp", ".pgm", ".ppm"}
)
GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
_WIDE_GREY = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N", "F"})


def _wide_to_8bit(im: Image.Image) -> Image.Image:
    """16/32-bit grey -> ``L`` scaled by the value range (no clipping, 8-bit data unchanged)."""
    a = np.asarray(im, dtype=np.float64)
    if a.size == 0:
        return Image.new("L", im.size)
    lo, hi = float(a.min()), float(a.max())
    shift = min(lo, 0.0)
    span = hi - shift
    if im.mode == "F" and lo >= 0.0 and hi <= 1.0:
        span = 1.0  # float images in [0, 1]
    else:
        span = max(span, 255.0)
    out = np.round((a - shift) * (255.0 / span))
    return Image.fromarray(out.astype(np.uint8))


def _flatten_alpha(im: Image.Image) -> Image.Image:
    """``LA``/``RGBA``/``PA``/``P`` with transparency -> ``L`` or ``RGB`` composited on black."""
    if im.mode in ("LA", "La"):
        grey, alpha = im.convert("LA").split()
        return Image.composite(grey, Image.new("L", im.size, 0), alpha)
    rgba = im.convert("RGBA")
    black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
    return Image.alpha_composite(black, rgba).convert("RGB")


def _to_l_or_rgb(im: Image.Image) -> Image.Image:
    """Any mode -> ``L`` (grey modes) or ``RGB`` (everything else)."""
    if im.mode in _WIDE_GREY:
        return _wide_to_8bit(im)
    if im.mode in ("LA", "La", "RGBA", "RGBa", "PA") or (
        im.mode == "P" and "transparency" in im.info
    ):
        return _flatten_alpha(im)
    if im.mode in ("L", "RGB"):
        return im
    return im.convert("L" if im.mode in GREY_MODES else "RGB")


def to_rgb(im: Image.Image) -> Image.Image:
    """Any PIL mode -> ``RGB`` (the rules in the module docstring)."""
    return _to_l_or_rgb(im).convert("RGB")


def _check_box(box: tuple[int, int, int, int], im: Image.Image, path: str) -> None:
    x0, y0, x1, y1 = box
    w, h = im.size
    if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
        raise DataError(
            f"crop box {tuple(box)} of image {path} is outside its {w}x{h} pixels; "
            "fix the box in the label file"
        )


def decode(path: str, size: int, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Decode fully, crop to `box`, resize: uint8 (size, size) for grey modes, else (size, size, 3).

    Raises:
        DataError: the file is missing, truncated, not an image, or the box is outside it.
    """
    try:
        with Image.open(path) as im:
            im.load()  # decodes everything: truncated files fail here
            if box is not None:
                _check_box(box, im, path)
                im = im.crop(tuple(box))
            im = _to_l_or_rgb(im)
            if im.size != (size, size):
                im = im.resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(im, dtype=np.uint8)
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"image {path} not found") from None
    except MemoryError:
        raise
    except Exception as e:  # noqa: BLE001 - PIL plugins raise many types on corrupt files
        raise DataError(f"cannot decode image {path}: {str(e) or type(e).__name__}") from None


def load_image(path: str, size: int, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Decode `path` to uint8 (size, size, 3): crop to `box` (xmin, ymin, xmax, ymax), then resize.

    Raises:
        DataError: the file is missing, truncated or not an image.
    """
    a = decode(path, size, box)
    return np.repeat(a[:, :, None], 3, axis=2) if a.ndim == 2 else a


def check_image(path: str | Path) -> str | None:
    """None when `path` passes PIL's ``verify`` and decodes completely, else the reason."""
    try:
        with Image.open(path) as im:
            im.verify()  # checksums and structure (a PNG CRC error that load() may miss)
        with Image.open(path) as im:
            im.load()
    except FileNotFoundError:
        return "file not found"
    except MemoryError:
        raise
    except Exception as e:  # noqa: BLE001
        return str(e) or type(e).__name__
    return None
