"""Decoding any image mode to an 8-bit, 3-channel array at a fixed size."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFile

from ablate.errors import DataError

__all__ = ["check_image", "load_image", "to_rgb"]

ImageFile.LOAD_TRUNCATED_IMAGES = False


def to_rgb(im: Image.Image) -> Image.Image:
    """Any PIL mode -> RGB; 16/32-bit grey is scaled by its own range, alpha is composited on black."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        scaled = np.zeros_like(a) if hi <= lo else (a - lo) * (255.0 / (hi - lo))
        im = Image.fromarray(np.round(scaled).astype(np.uint8), mode="L")
    if im.mode == "P":
        im = im.convert("RGBA") if "transparency" in im.info else im.convert("RGB")
    if im.mode in ("LA", "RGBA", "PA"):
        rgba = im.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        im = Image.alpha_composite(black, rgba)
    return im.convert("RGB") if im.mode != "RGB" else im


def load_image(path: str, size: int, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Decode `path` to uint8 (size, size, 3): crop to `box` first, then resize (bilinear).

    Raises:
        DataError: the file is missing, truncated or not an image.
    """
    try:
        with Image.open(path) as im:
            im.load()
            if box is not None:
                im = im.crop(box)
            rgb = to_rgb(im)
    except FileNotFoundError:
        raise DataError(f"image {path} not found") from None
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise DataError(f"cannot decode image {path}: {e}") from None
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=None)
    return np.asarray(rgb, dtype=np.uint8)


def check_image(path: str) -> str | None:
    """None when `path` decodes completely, else the reason."""
    try:
        with Image.open(path) as im:
            im.load()
    except FileNotFoundError:
        return "file not found"
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        return str(e) or type(e).__name__
    return None
