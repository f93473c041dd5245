"""Shortcut checks through `ablate run`: a sweep's ``probe:`` stage (run first, through the same
Tune machinery as every stage) writes its ``probes`` row exactly once, finds a planted source
marker, survives a resume of the finished run, and the report's Shortcut checks show it."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from rich.console import Console

from ablate import api
from ablate.data import write_manifest
from ablate.data.samples import Sample
from ablate.data.synthetic import synthetic_image
from ablate.report import make_report
from ablate.results import load

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]


def _covid_two_sources_and_normal(root):
    """60 synthetic COVID images alternately from A and B (B's with a white corner patch, the
    planted marker) and 30 normal images from C: the probe tells A from B within COVID."""
    (root / "img").mkdir(parents=True)
    samples = []
    for i in range(90):
        label, src = ("covid", "AB"[i % 2]) if i < 60 else ("normal", "C")
        img = synthetic_image(label, 32, np.random.default_rng([7, i]))
        if src == "B":
            img[1:5, 1:5] = 255
        Image.fromarray(img).save(root / "img" / f"{i}.png")
        samples.append(Sample(str(root / "img" / f"{i}.png"), label, f"p{i}", src))
    return write_manifest(samples, root / "manifest.csv")


def test_a_probe_stage_writes_its_row_once_and_the_report_shows_it(tmp_path):
    data = _covid_two_sources_and_normal(tmp_path / "data")
    sweep = {"name": "probe-study", "description": "a probe stage, then a one-trial search",
             "trial": {"name": "probe-study", "backbone": "resnet18", "variant": "original", "input_size": 32,
                       "batch_size": 16, "bn_momentum": 0.1, "epochs": 1, "device": "cpu",
                       "phases": [{"optimizer": "adam", "lr": 0.001}],
                       "data": {"path": str(data), "scenario": "none", "normalize": "imagenet",
                                "test_per_class": None, "test_fraction": 0.3}},
             "search": {"algorithm": "grid", "num_samples": 1}, "scheduler": {"kind": "none"},
             "probe": {"kind": "source", "overrides": ["epochs=3"]}}
    path = tmp_path / "probe-study.yaml"
    path.write_text(yaml.safe_dump(sweep, sort_keys=False))
    res, out = tmp_path / "res", io.StringIO()
    trials = api.run_sweep(str(path), results=res, local=True, console=Console(file=out, width=200))
    log = out.getvalue()
    assert "stage probe (1 of 2): 1 trial(s) (source probe of covid x 1 seed(s))" in log, log
    assert log.index("stage probe") < log.index("stage search")  # the probe runs first
    assert "probe covid: accuracy" in log and "ABOVE chance" in log, log

    probes = load(res).probes
    assert len(probes) == 1, probes  # exactly once
    row = probes.iloc[0]
    assert (row.status, row.stage, row.sweep, row.probe_task) == ("ok", "probe", "probe-study", "covid")
    assert row.chance == 0.5 and row.n_test == 18 and row.test_acc >= 0.9  # chance 50 %: far above it
    assert set(trials.stage) == {"search"} and len(load(res).trials) == 1  # a probe writes no trials row

    api.run_sweep(str(path), results=res, local=True, resume=True, console=Console(file=io.StringIO()))
    again = load(res).probes
    assert len(again) == 1 and again.trial_id.iloc[0] == row.trial_id  # resuming adds no second row

    make_report(res, "csv", tmp_path / "csv")
    shown = pd.read_csv(tmp_path / "csv" / "shortcuts.csv")
    probe = shown[shown.check == "source probe"].iloc[0]
    assert probe.what == "covid: A vs B" and probe["reference_%"] == 50.0 and probe["result_%"] >= 90.0
    assert probe.meaning.startswith("above chance: the images carry their source")


def _four_sources(root, n: int = 12):
    """covid from A and B, normal from B and C (`n` synthetic images each): A, B and C can each be
    held out and leave both classes in training."""
    (root / "img").mkdir(parents=True)
    samples = []
    for k, (label, src) in enumerate([("covid", "A"), ("covid", "B"), ("normal", "B"), ("normal", "C")]):
        for i in range(n):
            p = root / "img" / f"{k}-{i}.png"
            Image.fromarray(synthetic_image(label, 32, np.random.default_rng([3, k, i]))).save(p)
            samples.append(Sample(str(p), label, f"{src}-{k}-{i}", src))
    return write_manifest(samples, root / "manifest.csv")


SMALL = ["backbone=resnet18", "variant=original", "input_size=32", "batch_size=16", "bn_momentum=0.1", "epochs=1",
         "phases=[{optimizer: adam, lr: 0.001}]", "data.scenario=none", "data.normalize=imagenet",
         "data.test_per_class=null", "data.test_fraction=0.3", "seeds=[0]", "device=cpu"]


def test_trial_with_hold_out_source_each_writes_a_row_per_holdable_source(tmp_path):
    data, res = _four_sources(tmp_path / "data"), tmp_path / "res"
    outcomes = api.run_trials("source-probe", overrides=[*SMALL, "data.hold_out_source=each"], data=str(data),
                              results=res)
    t = load(res).trials
    assert len(outcomes) == len(t) == 4 and set(t.status) == {"ok"}
    held = t["cfg.data.hold_out_source"]
    assert sorted(held.dropna()) == ["A", "B", "C"] and held.isna().sum() == 1  # and the in-distribution run
    for src in "ABC":  # each held-out source is the whole test set of its run
        assert t.n_test[held == src].iloc[0] == 12 * (2 if src == "B" else 1)

    make_report(res, "csv", tmp_path / "csv")
    shown = pd.read_csv(tmp_path / "csv" / "shortcuts.csv")
    loso = shown[shown.check == "leave-one-source-out"]
    assert sorted(w.split(" (")[0] for w in loso.what) == ["held out A", "held out B", "held out C"]
    assert loso.reference.str.startswith("in distribution, same classes").all()  # beside the same config's run
    assert loso["reference_%"].notna().all() and loso["gap_%"].notna().all()


def test_hold_out_source_each_without_a_holdable_source_is_one_line_exit_2(tmp_path):
    import subprocess
    import sys

    (tmp_path / "img").mkdir()
    samples = []  # every class from one source (covid A, normal D): nothing can be held out
    for i, (label, src) in enumerate([("covid", "A"), ("normal", "D")] * 3):
        Image.fromarray(synthetic_image(label, 32, np.random.default_rng(i))).save(tmp_path / "img" / f"{i}.png")
        samples.append(Sample(str(tmp_path / "img" / f"{i}.png"), label, f"p{i}", src))
    single = write_manifest(samples, tmp_path / "single.csv")
    r = subprocess.run([sys.executable, "-m", "ablate.cli", "trial", "source-probe", "--data", str(single),
                        "--results", str(tmp_path / "res"), "--set", "data.scenario=none",
                        "--set", "data.hold_out_source=each"], capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1] == (
        "error: data.hold_out_source each: no source can be held out (every class has a single source: A, D)"), r.stderr
    assert not (tmp_path / "res").exists()  # nothing written
