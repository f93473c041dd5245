"""Shortcut checks on the synthetic set, where the answer is known: a planted source marker is
found by the source probe (and only then), and blacking out the lungs removes the synthetic
set's class patterns, so accuracy falls to chance; the report's section says both."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ablate import api
from ablate.data import write_manifest
from ablate.data.samples import Sample
from ablate.data.synthetic import synthetic_image
from ablate.report import make_report
from ablate.runners.local_probes import run_source_probe

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]

PROBE = ["input_size=32", "batch_size=16", "bn_momentum=0.1", "epochs=3", "phases=[{optimizer: adam, lr: 0.001}]",
         "data.scenario=none", "device=cpu"]


def _two_sources(root, marker: bool, n: int = 80):
    """`n` synthetic COVID images, alternately from source A and B; B's with a white corner patch."""
    (root / "img").mkdir(parents=True)
    samples = []
    for i in range(n):
        img = synthetic_image("covid", 32, np.random.default_rng([7, i]))
        src = "AB"[i % 2]
        if marker and src == "B":
            img[1:5, 1:5] = 255  # the planted marker: a 4x4 patch in the top-left corner
        Image.fromarray(img).save(root / "img" / f"{i}.png")
        samples.append(Sample(str(root / "img" / f"{i}.png"), "covid", f"p{i}", src))
    return write_manifest(samples, root / "manifest.csv")


def test_the_probe_finds_a_planted_marker_and_stays_at_chance_without(tmp_path):
    found = {}
    for marker in (True, False):
        data = _two_sources(tmp_path / f"data-{marker}", marker)
        res = tmp_path / f"res-{marker}"
        df = run_source_probe(str(data), overrides=PROBE, results=res)
        (row,) = df.to_dict("records")
        assert row["probe_task"] == "covid" and row["chance"] == 0.5 and row["n_test"] == 24
        make_report(res, "csv", res / "csv")
        found[marker] = pd.read_csv(res / "csv" / "shortcuts.csv").iloc[0]
    hit, miss = found[True], found[False]
    assert hit["check"] == "source probe" and hit["what"] == "covid: A vs B" and hit["reference_%"] == 50.0
    assert hit["result_%"] >= 90.0 and float(hit["ci_%"].strip("[]").split(",")[0]) > 50.0
    assert hit["p"] < 0.001 and hit["meaning"].startswith("above chance: the images carry their source")
    assert 30.0 <= miss["result_%"] <= 70.0 and float(miss["ci_%"].strip("[]").split(",")[0]) <= 50.0
    assert miss["meaning"].startswith("not distinguishable from chance")


def test_probe_of_a_class_with_one_source_is_one_line_exit_2(tmp_path):
    data = _two_sources(tmp_path / "d", marker=False, n=12)
    r = subprocess.run([sys.executable, "-m", "ablate.cli", "probe", "source", str(data), "--within", "normal",
                        "--set", "data.scenario=none"], capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "error: class 'normal' is not in the data; classes: covid"], r.stderr


def test_masking_the_lungs_takes_accuracy_to_chance(tmp_path):
    """Two synthetic classes (lobar consolidation vs clear lungs): learnable, until the mask hides the lungs."""
    (tmp_path / "img").mkdir()
    samples = []
    for ci, label in enumerate(("bacterial_pneumonia", "normal")):
        for i in range(120):
            path = tmp_path / "img" / f"{label}-{i}.png"
            Image.fromarray(synthetic_image(label, 32, np.random.default_rng([0, ci, i]))).save(path)
            samples.append(Sample(str(path), label, f"{label}-{i}", "synthetic"))
    data = write_manifest(samples, tmp_path / "two.csv")
    small = ["backbone=resnet18", "variant=original", "input_size=32", "batch_size=16", "bn_momentum=0.1", "epochs=6",
             "phases=[{optimizer: adam, lr: 0.0005}]", "data.normalize=imagenet", "data.scenario=none",
             "data.test_per_class=30", "seeds=[0]", "device=cpu"]
    api.run_trials("cxr5-ablation", overrides=small, data=str(data), results=tmp_path / "res",
                   variants=["base", "lungs-masked"])
    make_report(tmp_path / "res", "csv", tmp_path / "csv")
    (row,) = pd.read_csv(tmp_path / "csv" / "shortcuts.csv").to_dict("records")
    assert row["check"] == "masked lungs" and row["what"] == "data.mask lungs" and row["test_images"] == 60
    assert row["reference_%"] >= 70.0  # unmasked: the consolidation is learnt
    assert row["result_%"] <= 60.0 and float(row["ci_%"].strip("[]").split(",")[0]) <= 50.0  # masked: chance (50 %)
    assert row["gap_%"] == pytest.approx(row["reference_%"] - row["result_%"], abs=0.02) and row["gap_%"] >= 20.0
    assert row["reference"] == "unmasked; chance 50.0 %" and row["meaning"].startswith("falls to chance")
    ablation = pd.read_csv(tmp_path / "csv" / "ablation.csv").set_index("variant")
    assert ablation.loc["lungs-masked", "test_acc_%"] == row["result_%"]  # the ablation table shows it too
