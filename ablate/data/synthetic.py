"""A synthetic chest-X-ray-like dataset: five classes with learnable, not trivial, patterns.

Each image has a body outline, two dark lung fields with rib texture and a bright
mediastinum, jittered in position, scale, contrast and noise. The classes differ by lung
opacities: covid = bilateral peripheral ground-glass blobs, tuberculosis = upper-lobe nodules
(sometimes a cavity), bacterial pneumonia = one dense lobar consolidation, viral pneumonia =
diffuse bilateral interstitial streaks, normal = clear lungs with faint distractor blobs.
Pattern strength varies, so some images are hard. Deterministic from the seed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from ablate.data.samples import Sample, write_manifest
from ablate.data.scenarios import CXR5

__all__ = ["GENERATOR_VERSION", "generate_synthetic", "synthetic_image"]

GENERATOR_VERSION = 1


def _blob(xx, yy, cx, cy, sx, sy, amp):  # noqa: ANN001, ANN202
    return amp * np.exp(-(((xx - cx) / sx) ** 2 + ((yy - cy) / sy) ** 2) / 2)


def synthetic_image(label: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """One uint8 (size, size) image of class `label` (a cxr5 label)."""
    lin = np.linspace(-1, 1, size)
    yy, xx = np.meshgrid(lin, lin, indexing="ij")
    sc = rng.uniform(0.9, 1.1)
    xx, yy = (xx - rng.uniform(-0.06, 0.06)) / sc, (yy - rng.uniform(-0.06, 0.06)) / sc
    img = np.full((size, size), 15.0)
    img += 115 * (((xx / 0.92) ** 2 + (yy / 1.05) ** 2) < 1)  # body
    lungs = np.zeros_like(img, dtype=bool)
    for side in (-1, 1):
        lungs |= (((xx - side * 0.38) / 0.27) ** 2 + ((yy + 0.02) / 0.58) ** 2) < 1
    img[lungs] -= 85  # air is dark
    ribs = 18 * np.clip(np.sin(yy * rng.uniform(17, 21) + 3 * xx**2 + rng.uniform(0, 6.3)), 0, None)
    img += ribs * lungs
    img += _blob(xx, yy, 0, 0.1, 0.09, 0.7, 40)  # mediastinum
    op = np.zeros_like(img)
    side = rng.choice([-1, 1])
    if label == "covid":
        for s in (-1, 1):
            for _ in range(rng.integers(2, 4)):
                op += _blob(xx, yy, s * rng.uniform(0.5, 0.6), rng.uniform(-0.1, 0.45), rng.uniform(0.07, 0.12),
                            rng.uniform(0.08, 0.15), rng.uniform(18, 38))
    elif label == "tuberculosis":
        for _ in range(rng.integers(3, 7)):
            op += _blob(xx, yy, rng.choice([-1, 1]) * rng.uniform(0.25, 0.5), rng.uniform(-0.5, -0.2),
                        0.035, 0.035, rng.uniform(35, 65))
        if rng.random() < 0.5:
            r = np.hypot(xx - side * 0.38, yy + 0.35)
            op += 45 * np.exp(-(((r - 0.08) / 0.025) ** 2))
    elif label == "bacterial_pneumonia":
        op += _blob(xx, yy, side * rng.uniform(0.3, 0.45), rng.uniform(0.05, 0.35), rng.uniform(0.12, 0.18),
                    rng.uniform(0.14, 0.22), rng.uniform(45, 80))
    elif label == "viral_pneumonia":
        theta = rng.uniform(0, np.pi)
        streaks = np.sin((xx * np.cos(theta) + yy * np.sin(theta)) * rng.uniform(28, 36)) ** 8
        op += rng.uniform(18, 32) * streaks * _blob(xx, yy, 0, 0.1, 0.45, 0.5, 1.0)
    for _ in range(rng.integers(0, 3)):  # faint distractors in every class
        op += _blob(xx, yy, rng.uniform(-0.6, 0.6), rng.uniform(-0.5, 0.5), 0.06, 0.06, rng.uniform(5, 15))
    img += op * lungs
    img = (img - 60) * rng.uniform(0.85, 1.15) + 60 + rng.uniform(-12, 12)
    img += rng.normal(0, 7, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def generate_synthetic(out_dir: str | Path, n_per_class: int = 300, image_size: int = 96, seed: int = 0) -> Path:
    """Write ``n_per_class`` PNGs per cxr5 class and ``manifest.csv`` into `out_dir`.

    About a fifth of the patients have two images. Written to a temp folder and renamed, so
    an interrupted run leaves nothing half-made. Returns the manifest path.
    """
    out = Path(out_dir)
    if (out / "manifest.csv").is_file():
        return out / "manifest.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}-"))
    try:
        samples = []
        for ci, label in enumerate(CXR5):
            (tmp / label).mkdir()
            patient = 0
            for i in range(n_per_class):
                rng = np.random.default_rng([seed, ci, i])
                if i == 0 or rng.random() > 0.2:  # else: a second image of the previous patient
                    patient += 1
                path = tmp / label / f"{label}-{i:05d}.png"
                Image.fromarray(synthetic_image(label, image_size, rng), mode="L").save(path, compress_level=1)
                samples.append(Sample(str(out / label / path.name), label, f"syn-{label}-{patient}", "synthetic"))
        write_manifest(samples, tmp / "manifest.csv", relative_to=out)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out / "manifest.csv"
