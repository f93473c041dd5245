"""A synthetic chest-X-ray-like dataset: five classes with learnable, not trivial, patterns.

Each grayscale image has a dark background, a bright body outline (shoulders, soft
tissue, mediastinum and heart shadow), two darker lung fields with rib texture and
diaphragm domes. Classes differ by what is inside the lungs (the paper's five labels):

- covid: bilateral, peripheral, lower-zone ground-glass haze (several soft blobs per lung)
- tuberculosis: small dense upper-lobe nodules, sometimes a cavity (a bright ring)
- bacterial_pneumonia: one dense lobar consolidation in one lung
- viral_pneumonia: diffuse bilateral interstitial streaks around the hila
- normal: clear lungs

Every class also gets faint distractor blobs; position, size, contrast, brightness and
noise are jittered, and the pattern strength varies from faint to clear, so some images are
hard. About a fifth of the patients have two images (same anatomy, new jitter), so patient
grouping matters. Deterministic: the same parameters give byte-identical PNGs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from ablate.atomic import atomic_dir
from ablate.data.samples import Sample, write_manifest
from ablate.data.scenarios import CXR5
from ablate.errors import DataError

__all__ = ["GENERATOR_VERSION", "generate_synthetic", "synthetic_image"]

GENERATOR_VERSION = 2
SECOND_IMAGE_P = 0.2  # chance that an image is a patient's second one
Anatomy = dict[str, float]


def _anatomy(rng: np.random.Generator) -> Anatomy:
    """A patient's body: fixed across that patient's images."""
    return {
        "body_w": rng.uniform(0.8, 0.95),
        "lung_w": rng.uniform(0.24, 0.3),
        "lung_h": rng.uniform(0.52, 0.62),
        "lung_gap": rng.uniform(0.34, 0.42),
        "heart": rng.uniform(0.14, 0.22),
        "rib_f": rng.uniform(15, 19),
        "rib_p": rng.uniform(0, 2 * np.pi),
    }


def _soft(inside: np.ndarray, width: float) -> np.ndarray:
    """Soft mask from a field that is > 0 inside (no aliased edges at small sizes)."""
    return 1.0 / (1.0 + np.exp(-np.clip(inside / width, -30, 30)))


def _blob(
    xx: np.ndarray, yy: np.ndarray, cx: float, cy: float, sx: float, sy: float, amp: float
) -> np.ndarray:
    return amp * np.exp(-(((xx - cx) / sx) ** 2 + ((yy - cy) / sy) ** 2) / 2)


def _lungs(xx: np.ndarray, yy: np.ndarray, a: Anatomy) -> np.ndarray:
    """Two pear-shaped lung fields (wider at the base) cut by diaphragm domes, soft-edged."""
    mask = np.zeros_like(xx)
    for side in (-1, 1):
        cx = side * a["lung_gap"]
        w = a["lung_w"] * (1 + 0.3 * yy / a["lung_h"])  # wider towards the base
        inside = 1 - ((xx - cx) / w) ** 2 - ((yy + 0.02) / a["lung_h"]) ** 2
        dome = (0.5 + 0.35 * ((xx - cx) / a["lung_w"]) ** 2) - yy  # the diaphragm
        mask = np.maximum(mask, _soft(inside, 0.08) * _soft(dome, 0.03))
    heart = _soft(1 - ((xx - 0.08) / a["heart"]) ** 2 - ((yy - 0.3) / 0.22) ** 2, 0.1)
    return mask * (1 - 0.8 * heart)


def _opacities(
    label: str, xx: np.ndarray, yy: np.ndarray, a: Anatomy, rng: np.random.Generator
) -> np.ndarray:
    """The class pattern, scaled by a random severity (faint to clear)."""
    op = np.zeros_like(xx)
    sev = rng.uniform(0.35, 1.0)
    side = rng.choice([-1, 1])
    if label == "covid":
        for s in (-1, 1):
            for _ in range(rng.integers(2, 4)):
                cx = s * (a["lung_gap"] + rng.uniform(0.08, 0.18))  # peripheral
                op += _blob(
                    xx,
                    yy,
                    cx,
                    rng.uniform(0.05, 0.45),
                    rng.uniform(0.07, 0.12),
                    rng.uniform(0.08, 0.15),
                    rng.uniform(22, 40),
                )
    elif label == "tuberculosis":
        for _ in range(rng.integers(3, 7)):
            cx = rng.choice([-1, 1]) * rng.uniform(0.25, 0.5)
            op += _blob(xx, yy, cx, rng.uniform(-0.5, -0.22), 0.04, 0.04, rng.uniform(40, 70))
        if rng.random() < 0.5:
            r = np.hypot(xx - side * a["lung_gap"], yy + 0.35)
            op += 50 * np.exp(-(((r - 0.08) / 0.03) ** 2))
    elif label == "bacterial_pneumonia":
        op += _blob(
            xx,
            yy,
            side * rng.uniform(0.3, 0.45),
            rng.uniform(0.0, 0.35),
            rng.uniform(0.12, 0.18),
            rng.uniform(0.14, 0.22),
            rng.uniform(50, 85),
        )
    elif label == "viral_pneumonia":
        theta = rng.uniform(0.3, 1.2) * rng.choice([-1, 1])
        streaks = (
            np.sin(
                (xx * np.cos(theta) + yy * np.sin(theta)) * rng.uniform(16, 22)
                + rng.uniform(0, 6.3)
            )
            ** 6
        )
        op += (
            rng.uniform(25, 40)
            * streaks
            * (
                _blob(xx, yy, -0.35, 0.1, 0.25, 0.45, 1.0)
                + _blob(xx, yy, 0.35, 0.1, 0.25, 0.45, 1.0)
            )
        )
    return sev * op


def synthetic_image(
    label: str, size: int, rng: np.random.Generator, anatomy: Anatomy | None = None
) -> np.ndarray:
    """One uint8 (size, size) image of class `label` (a cxr5 label)."""
    a = anatomy or _anatomy(rng)
    lin = np.linspace(-1, 1, size)
    yy, xx = np.meshgrid(lin, lin, indexing="ij")
    sc = rng.uniform(0.92, 1.08)
    xx, yy = (xx - rng.uniform(-0.06, 0.06)) / sc, (yy - rng.uniform(-0.05, 0.05)) / sc
    w = a["body_w"] * (1 - 0.12 * np.clip(-yy - 0.55, 0, None) / 0.45)  # narrower at the neck
    body = _soft(1 - (xx / w) ** 4 - ((yy - 0.1) / 1.05) ** 4, 0.05)
    img = 10 + 140 * body
    img += _blob(xx, yy, 0, 0.05, 0.1, 0.8, 35) + _blob(
        xx, yy, 0.08, 0.3, a["heart"], 0.2, 20
    )  # mediastinum, heart
    lungs = _lungs(xx, yy, a)
    ribs = 20 * np.clip(np.sin(yy * a["rib_f"] + 2.5 * xx**2 + a["rib_p"]), 0, None) ** 2
    img += lungs * (ribs - 95)
    op = _opacities(label, xx, yy, a, rng)
    for _ in range(rng.integers(0, 3)):  # faint distractors in every class
        op += _blob(
            xx, yy, rng.uniform(-0.6, 0.6), rng.uniform(-0.4, 0.4), 0.06, 0.06, rng.uniform(6, 16)
        )
    img += op * lungs
    img = (img - 70) * rng.uniform(0.85, 1.15) + 70 + rng.uniform(-12, 12)
    img += rng.normal(0, 6, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def _params(n_per_class: int, image_size: int, seed: int) -> dict[str, int]:
    return {
        "generator_version": GENERATOR_VERSION,
        "n_per_class": n_per_class,
        "image_size": image_size,
        "seed": seed,
    }


def _existing(out: Path, params: dict[str, int]) -> Path | None:
    """The manifest of a set already generated with `params` in `out`, None when `out` is free."""
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return None
    try:
        have = json.loads((out / "synthetic.json").read_text())
    except (OSError, ValueError):
        raise DataError(
            f"{out} exists and is not a synthetic set made by ablate; choose another --out folder"
        ) from None
    if have != params or not (out / "manifest.csv").is_file():
        raise DataError(
            f"{out} holds a synthetic set made with {have}, not {params}; "
            "choose another --out or delete it"
        )
    return out / "manifest.csv"


def generate_synthetic(
    out_dir: str | Path, n_per_class: int = 60, image_size: int = 96, seed: int = 0
) -> Path:
    """Write `n_per_class` PNGs per cxr5 class, manifest.csv and synthetic.json into `out_dir`.

    A folder that already holds the same set is reused. Written to a temp folder and renamed,
    so an interrupted run leaves nothing half-made. Returns the manifest path.

    Raises:
        DataError: `out_dir` holds something else (it is never overwritten).
    """
    if n_per_class < 1 or image_size < 8:
        raise DataError(
            "synthetic set needs n_per_class >= 1 and image_size >= 8, "
            f"got {n_per_class}, {image_size}"
        )
    out = Path(out_dir).expanduser().absolute()
    params = _params(n_per_class, image_size, seed)
    found = _existing(out, params)
    if found is not None:
        return found
    with atomic_dir(out) as tmp:  # first writer wins: a racing process made the same set
        samples = _write_images(tmp, out, n_per_class, image_size, seed)
        write_manifest(samples, tmp / "manifest.csv", relative_to=out)
        (tmp / "synthetic.json").write_text(json.dumps(params))
    return _existing(out, params) or out / "manifest.csv"


def _write_images(tmp: Path, out: Path, n_per_class: int, size: int, seed: int) -> list[Sample]:
    samples = []
    for ci, label in enumerate(CXR5):
        (tmp / label).mkdir()
        patient, anatomy = 0, None
        for i in range(n_per_class):
            rng = np.random.default_rng([seed, ci, i])
            if (
                anatomy is None or rng.random() >= SECOND_IMAGE_P
            ):  # else: the previous patient again
                patient, anatomy = patient + 1, _anatomy(rng)
            name = f"{label}-{i:05d}.png"
            Image.fromarray(synthetic_image(label, size, rng, anatomy)).save(
                tmp / label / name, compress_level=1
            )
            samples.append(
                Sample(str(out / label / name), label, f"syn-{label}-{patient:05d}", "synthetic")
            )
    return samples
