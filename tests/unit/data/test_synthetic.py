"""The synthetic chest-X-ray-like set: deterministic, five classes, patients, safe to (re)write."""

from __future__ import annotations

import hashlib
import time
from collections import Counter

import numpy as np
import pytest
from conftest import LABELS
from PIL import Image

from ablate.data import generate_synthetic, read_manifest
from ablate.data.synthetic import _anatomy, _opacities
from ablate.errors import DataError


def _digests(root):
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.png"))
    }


def test_same_seed_same_bytes_other_seed_other_images(tmp_path):
    a = generate_synthetic(tmp_path / "a", n_per_class=6, image_size=32, seed=3)
    b = generate_synthetic(tmp_path / "b", n_per_class=6, image_size=32, seed=3)
    c = generate_synthetic(tmp_path / "c", n_per_class=6, image_size=32, seed=4)
    assert _digests(a.parent) == _digests(b.parent) and len(_digests(a.parent)) == 30
    assert set(_digests(a.parent).values()).isdisjoint(_digests(c.parent).values())


def test_five_classes_grey_images_and_patients_with_two_images(tmp_path):
    rows = read_manifest(generate_synthetic(tmp_path / "s", n_per_class=40, image_size=48, seed=0))
    assert Counter(r.label for r in rows) == dict.fromkeys(LABELS, 40)
    per_patient = Counter(r.patient_id for r in rows)
    assert 1 < max(per_patient.values()) and sum(n == 2 for n in per_patient.values()) >= 10
    assert all(r.patient_id.startswith(f"syn-{r.label}-") for r in rows), "a patient has one class"
    with Image.open(rows[0].path) as im:
        assert im.mode == "L" and im.size == (48, 48)
        a = np.asarray(im)
    assert a[:, :3].mean() < 40 < a[20:30, 20:28].mean(), "dark background around a brighter body"


def _mass(op, xx, yy, where):
    return float(op[where(xx, yy)].sum() / max(op.sum(), 1e-9))


def test_class_patterns_sit_where_the_docstring_says():
    lin = np.linspace(-1, 1, 64)
    yy, xx = np.meshgrid(lin, lin, indexing="ij")
    for seed in range(20):
        rng = np.random.default_rng(seed)
        a = _anatomy(rng)
        op = {lab: _opacities(lab, xx, yy, a, np.random.default_rng([seed, 1])) for lab in LABELS}
        assert op["normal"].max() == 0
        assert _mass(op["tuberculosis"], xx, yy, lambda x, y: y < -0.1) > 0.8, "tb: upper lobes"
        assert _mass(op["covid"], xx, yy, lambda x, y: np.abs(x) > 0.35) > 0.6, "covid: peripheral"
        assert (
            min(
                _mass(op["covid"], xx, yy, lambda x, y: x < 0),
                _mass(op["covid"], xx, yy, lambda x, y: x > 0),
            )
            > 0.2
        )
        left = _mass(op["bacterial_pneumonia"], xx, yy, lambda x, y: x < 0)
        assert max(left, 1 - left) > 0.9, "bacterial: one lung"
        assert 0.3 < _mass(op["viral_pneumonia"], xx, yy, lambda x, y: x < 0) < 0.7, (
            "viral: both lungs"
        )


def test_class_differences_show_in_the_images(tmp_path):
    rows = read_manifest(generate_synthetic(tmp_path / "s", n_per_class=30, image_size=64, seed=0))
    imgs = {
        lab: np.array([np.asarray(Image.open(r.path), float) for r in rows if r.label == lab])
        for lab in LABELS
    }
    lower = slice(34, 48)
    assert imgs["covid"][:, lower].mean() > imgs["normal"][:, lower].mean() + 2

    def asymmetry(x):
        return np.abs(x[:, 20:44, 10:26].mean((1, 2)) - x[:, 20:44, 38:54].mean((1, 2))).mean()

    assert asymmetry(imgs["bacterial_pneumonia"]) > 1.5 * asymmetry(imgs["normal"])


def test_reuse_and_refuse_to_overwrite(tmp_path):
    m = generate_synthetic(tmp_path / "s", n_per_class=2, image_size=16)
    before = m.stat().st_mtime_ns
    assert (
        generate_synthetic(tmp_path / "s", n_per_class=2, image_size=16) == m
        and m.stat().st_mtime_ns == before
    )
    with pytest.raises(DataError, match="made with .* choose another --out"):
        generate_synthetic(tmp_path / "s", n_per_class=3, image_size=16)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(DataError, match="not a synthetic set"):
        generate_synthetic(tmp_path / "mine", n_per_class=2, image_size=16)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    (tmp_path / "empty").mkdir()
    assert generate_synthetic(tmp_path / "empty", n_per_class=2, image_size=16).is_file()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], (
        "no temp folders left"
    )


def test_fast_enough(tmp_path):
    t0 = time.perf_counter()
    generate_synthetic(tmp_path / "s", n_per_class=60, image_size=96)
    assert time.perf_counter() - t0 < 10, "300 images should take about a second"
