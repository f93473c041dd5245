"""Audit: planted near-duplicates and patient leaks are found; single-source classes flagged."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageEnhance

from ablate.data.audit import audit, leave_one_source_out
from ablate.data.phash import dhash, hamming, near_pairs
from ablate.data.samples import Sample, write_manifest


def _real(real: Path) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    with (real / "manifest.csv").open(newline="") as f:
        for r in csv.DictReader(f):
            out.setdefault(f"{r['source_dataset']}:{r['label']}", []).append(r)
    return out


@pytest.fixture
def planted(tmp_path: Path, real_data: Path) -> tuple[list[Sample], dict[str, str]]:
    """A small train/test set from real images with a copy, a modified copy, a shared patient, a bad file."""
    rows = _real(real_data)
    s = lambda r, split, source=None: Sample(
        str(real_data / r["path"]), r["label"], r["patient_id"], source or r["source_dataset"], split=split)
    ds4, ds1, tb = rows["DS4:covid"], rows["DS1:covid"], rows["TBX11K:tuberculosis"]
    bact = rows["DS7:bacterial_pneumonia"]
    person = next(r["patient_id"] for r in bact if sum(x["patient_id"] == r["patient_id"] for x in bact) == 2)
    two = [r for r in bact if r["patient_id"] == person]
    copy = tmp_path / "test" / "renamed.png"
    copy.parent.mkdir()
    shutil.copy(real_data / ds4[0]["path"], copy)
    with Image.open(real_data / tb[1]["path"]) as im:
        small = im.resize((im.width * 3 // 4, im.height * 3 // 4), Image.Resampling.BILINEAR)
        ImageEnhance.Brightness(small).enhance(1.08).save(tmp_path / "test" / "tb-modified.png")
    broken = tmp_path / "test" / "broken.png"
    broken.write_bytes((real_data / tb[4]["path"]).read_bytes()[:500])
    samples = [
        *(s(r, "train") for r in ds4[:4]), *(s(r, "train") for r in ds1[:2]), *(s(r, "train") for r in tb[:3]),
        s(two[0], "train"), s(bact[-1], "train"),
        s(ds4[4], "test"), Sample(str(copy), "covid", "", "DS4", split="test"),
        Sample(str(tmp_path / "test" / "tb-modified.png"), "tuberculosis", "", "DS6", split="test"),
        s(tb[3], "test"), s(two[1], "test"), Sample(str(broken), "tuberculosis", "", "TBX11K", split="test"),
    ]
    return samples, {"original": str(real_data / ds4[0]["path"]), "copy": str(copy), "person": person,
                     "tb": str(real_data / tb[1]["path"]), "modified": str(tmp_path / "test" / "tb-modified.png"),
                     "broken": str(broken)}


@pytest.mark.real_data
def test_audit_finds_planted_leaks(planted, tmp_path: Path) -> None:
    samples, p = planted
    report = audit(samples, threshold=10)
    pairs = {(x.path_a, x.path_b): x for x in report.cross_split_pairs}
    exact = pairs[(p["original"], p["copy"])]
    assert exact.distance == 0 and exact.split_a == "train" and exact.split_b == "test" and not exact.cross_source
    mod = pairs[(p["tb"], p["modified"])]
    assert mod.distance <= 10 and mod.cross_source and (mod.source_a, mod.source_b) == ("TBX11K", "DS6")
    assert [x["patient_id"] for x in report.patient_leaks] == [p["person"]]
    assert report.patient_leaks[0]["splits"] == {"train": 1, "test": 1}
    assert report.shortcut_risks == ["bacterial_pneumonia"]  # covid: DS4 + DS1, tuberculosis: TBX11K + DS6
    assert report.class_source["covid"] == {"DS4": 6, "DS1": 2}
    assert [u[0] for u in report.unreadable] == [p["broken"]]
    stats = {r["source"]: r for r in report.image_stats}
    assert stats["DS4"]["modes"] == {"L": 6} and stats["DS6"]["width"][0] < stats["TBX11K"]["width"][0]
    assert not report.ok
    written = report.write(tmp_path / "rep" / "audit.md")
    md = written[0].read_text()
    assert "Near-duplicates across splits: 2" in md and "single source" in md and p["person"] in md
    data = json.loads(written[1].read_text())
    assert data["shortcut_risks"] == ["bacterial_pneumonia"] and len(data["pairs"]) == len(report.pairs)
    assert len(pd.read_parquet(written[2])) == len(report.pairs)


@pytest.mark.real_data
def test_audit_from_manifest_with_explicit_splits(planted, tmp_path: Path) -> None:
    samples, p = planted
    samples = [x for x in samples if x.path != p["broken"]]
    manifest = write_manifest([Sample(x.path, x.label, x.patient_id, x.source) for x in samples], tmp_path / "m.csv")
    test = [i for i, x in enumerate(samples) if x.split == "test"]
    train = [i for i, x in enumerate(samples) if x.split == "train"]
    report = audit(manifest, splits={"train": train, "test": test})
    real = lambda a, b: (str(Path(a).resolve()), str(Path(b).resolve()))
    assert real(p["original"], p["copy"]) in {real(x.path_a, x.path_b) for x in report.cross_split_pairs}
    no_splits = audit(manifest)  # no splits: only cross-source pairs remain
    assert not no_splits.cross_split_pairs and not no_splits.patient_leaks
    assert {real(x.path_a, x.path_b) for x in no_splits.pairs} == {real(p["tb"], p["modified"])}


@pytest.mark.real_data
def test_cli_audit(planted, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ablate.cli import app

    samples, p = planted
    write_manifest([x for x in samples if x.path != p["broken"]], tmp_path / "ds" / "manifest.csv")
    res = CliRunner().invoke(app, ["data", "audit", str(tmp_path / "ds"), "--out", str(tmp_path / "r.md"), "--threshold", "8"])
    assert res.exit_code == 0, res.output
    assert "near-duplicate pairs across splits: 2" in res.output
    assert (tmp_path / "r.json").is_file() and (tmp_path / "r-pairs.parquet").is_file()


def test_dhash_is_robust_to_brightness_and_size() -> None:
    rng = np.random.default_rng(0)
    base = (rng.random((8, 8)) * 200).astype(np.uint8)
    im = Image.fromarray(base).resize((256, 256), Image.Resampling.BICUBIC)
    other = Image.fromarray((rng.random((8, 8)) * 200).astype(np.uint8)).resize((256, 256), Image.Resampling.BICUBIC)
    tweaked = ImageEnhance.Brightness(im.resize((200, 200))).enhance(1.1)
    assert hamming(dhash(im), dhash(tweaked)) <= 10 < hamming(dhash(im), dhash(other))
    assert dhash(im).shape == (32,) and dhash(im, 64).shape == (8,)


def test_near_pairs_brute_equals_buckets() -> None:
    rng = np.random.default_rng(1)
    base = rng.integers(0, 2, 256, dtype=np.uint8)
    bits = base ^ (rng.random((600, 256)) < 0.02)  # correlated hashes: many near pairs
    hashes = np.packbits(bits.astype(np.uint8), axis=1)
    brute = near_pairs(hashes, 6, "brute")
    buckets = near_pairs(hashes, 6, "buckets")
    assert len(brute[0]) > 100
    for a, b in zip(brute, buckets):
        np.testing.assert_array_equal(a, b)
    assert (brute[0] < brute[1]).all() and (brute[2] <= 6).all()


def test_leave_one_source_out() -> None:
    samples = [
        Sample("a", "covid", "p1", "DS1"), Sample("b", "covid", "p1", "DS4"), Sample("c", "normal", "", "DS4"),
        Sample("d", "covid", "p2", "DS2"), Sample("e", "normal", "", "DS4"),
    ]
    folds = {f.held_out: f for f in leave_one_source_out(samples)}
    assert set(folds) == {"DS1", "DS2", "DS4"}
    assert folds["DS1"].test_idx.tolist() == [0]
    assert folds["DS1"].train_idx.tolist() == [2, 3, 4]  # b shares patient p1 with the held-out source
    assert folds["DS4"].test_idx.tolist() == [1, 2, 4] and folds["DS4"].train_idx.tolist() == [3]
    for f in folds.values():
        assert not set(f.train_idx) & set(f.test_idx)
    assert leave_one_source_out(samples[:1]) == []
