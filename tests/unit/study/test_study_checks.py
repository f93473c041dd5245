"""`ablate run` refuses bad input before Ray starts (a study's settings, the metric): one line,
exit 2, no files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

TRIAL = {"backbone": "mobilenet_v3_small", "variant": "modified", "input_size": 32, "epochs": 1,
         "data": {"path": "synthetic", "test_per_class": 2, "synthetic": {"n_per_class": 6, "image_size": 32}}}


def _run(tmp_path: Path, sections: dict, *extra: str) -> subprocess.CompletedProcess:
    f = tmp_path / "study.yaml"
    f.write_text(yaml.safe_dump({"name": "study", "trial": TRIAL, **sections}))
    return subprocess.run([sys.executable, "-m", "ablate.cli", "run", str(f), "--local",
                           "--results", str(tmp_path / "res"), *extra],
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(("sections", "extra", "message"), [
    ({"ablation": {"variants": {"a": {"fusion.dropout": 0.1}}}}, ("--variant", "b"),
     "unknown ablation variant 'b'; variants: base, a"),
    ({}, ("--variant", "a"), "has no `ablation:` section; drop --variant"),
    ({"search": {"num_samples": 2, "space": {"fusion.dropout": {"uniform": [0, 0.5]}}}, "confirm": {"top_k": 3, "seeds": [1]}},
     (), "confirm.top_k is 3 but the search tries 2 configuration(s)"),
    ({"confirm": {"top_k": 1, "seeds": [1], "bogus": 2}}, (), "confirm"),
    ({"ablation": {"variants": {"a": {"fusion.gate": "sideways"}}}}, (), "ablation.variants.a"),
    ({"ablation": {"variants": {}}}, ("--set", "data.folds=5"), "5-fold cross-validation needs at least 5 images"),
    ({"search": {"metric": "accuracy"}}, (), "search.metric 'accuracy' is not reported by a trial's epochs; choose one of"),
])
def test_bad_study_input_is_one_line_exit_2_and_writes_nothing(tmp_path, sections, extra, message):
    r = _run(tmp_path, sections, *extra)
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], r.stderr
    assert not (tmp_path / "res").exists()
    assert "ray" not in r.stderr.lower().replace("array", "")  # no Ray started or mentioned


def test_ablate_trial_says_in_one_line_that_ablate_run_would_refuse_the_file(tmp_path):
    f = tmp_path / "bad-space.yaml"
    f.write_text(yaml.safe_dump({"name": "bad-space", "trial": {**TRIAL, "data": {"path": str(tmp_path / "none")}},
                                 "search": {"space": {"fusion.taps": {"choice": [["features.99"]]}}}}))
    r = subprocess.run([sys.executable, "-m", "ablate.cli", "trial", str(f), "--results", str(tmp_path / "res")],
                       capture_output=True, text=True, timeout=120, check=False)
    lines = r.stderr.strip().splitlines()
    # the note comes first, then the base trial runs (and here stops at its missing data)
    assert lines[0].startswith("note: training the base trial; `ablate run` would refuse this file: ")
    assert "unknown tap 'features.99'" in lines[0]
    assert r.returncode == 2 and "does not exist" in lines[-1]


def test_data_that_cannot_be_read_is_refused_before_ray_starts(tmp_path):
    tree = tmp_path / "tree"
    for cls in ("covid", "normal"):
        (tree / cls).mkdir(parents=True)
    (tree / "covid" / "a.png").write_bytes(b"not a png at all")
    from PIL import Image

    Image.new("L", (40, 40)).save(tree / "normal" / "b.png")
    r = _run(tmp_path, {}, "--data", str(tree), "--set", "data.scenario=none")
    assert r.returncode == 2, r.stderr
    line = r.stderr.strip()
    assert "\n" not in line and "a.png (class covid) cannot be read" in line and "--skip-bad" in line
    assert not (tmp_path / "res").exists()
    r = _run(tmp_path, {}, "--data", str(tmp_path / "nowhere"))
    assert r.returncode == 2 and "does not exist" in r.stderr and not (tmp_path / "res").exists()


def test_a_phase_that_never_runs_is_said_in_one_line():
    from ablate.api import load_with_data, phase_note

    short = load_with_data("cxr5-sweep", ["epochs=2"], check_space=False).trial  # Adam 20 epochs, then SGD
    assert phase_note(short) == ("phase 1 (sgd) never runs in 2 epoch(s) (phase 0 (adam) takes 2); "
                                 "to hand over, set phases.0.epochs below epochs")
    assert phase_note(load_with_data("cxr5-sweep", ["epochs=3", "phases.0.epochs=1"], check_space=False).trial) is None
    assert phase_note(load_with_data("cxr5-sweep", check_space=False).trial) is None  # the paper's 20 + 20
