"""The shipped sweep files load and validate; bad sweep files fail at load, before Ray starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ablate.errors import ConfigError
from ablate.search.sweep import load_sweep
from ablate.search.translate import grid_points

REPO = Path(__file__).resolve().parents[3]
SWEEPS = sorted((REPO / "search_spaces").glob("*.yaml"))


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.stem)
def test_every_shipped_sweep_loads_with_a_one_line_description(path):
    sweep = load_sweep(path)
    assert sweep.name == path.stem
    assert sweep.description and "\n" not in sweep.description.strip()
    assert len(grid_points(sweep)) * sweep.search.num_samples >= 1


@pytest.mark.parametrize(
    ("name", "backbones", "trials"),
    [
        ("cxr5-backbones", {"vgg16", "inception_v3", "resnet18", "densenet121", "squeezenet1_0", "mobilenet_v3_small"}, 6),
        ("cxr-scenarios", {"mobilenet_v3_small"}, 6),
        ("covidx-ct", {"vgg16", "inception_v3", "resnet18", "densenet121", "squeezenet1_0", "mobilenet_v3_small"}, 7),
        ("covidx", {"mobilenet_v3_small"}, 1),
    ],
)
def test_paper_sweeps_cover_their_tables(name, backbones, trials):
    from ablate.search.translate import trial_config

    sweep = load_sweep(name)
    cfgs = [trial_config(sweep, p) for p in grid_points(sweep)]
    assert len(cfgs) * sweep.search.num_samples == trials
    assert {c.backbone for c in cfgs} == backbones
    assert sweep.scheduler.kind == "none"  # comparison tables: every run trains to the end
    assert all(c.pretrained == "imagenet" for c in cfgs)


def test_paper_settings_of_the_table_sweeps():
    sc = load_sweep("cxr-scenarios")
    assert {(c["data.scenario"], c["variant"]) for c in grid_points(sc)} == {
        (s, v) for s in ("cxr3", "cxr4", "cxr5") for v in ("original", "modified")}
    ct = load_sweep("covidx-ct").trial
    assert (ct.input_size, ct.epochs, ct.stop_at_val_acc, ct.data.format, ct.data.scenario) == (256, 20, 0.993, "covidx-ct", "none")
    assert [(p.optimizer, p.learning_rate) for p in ct.phases] == [("adam", 1e-3)]
    cx = load_sweep("covidx").trial
    assert (cx.data.format, cx.data.scenario, cx.variant, cx.backbone) == ("covidx", "none", "modified", "mobilenet_v3_small")
    bb = load_sweep("cxr5-backbones").trial
    assert (bb.input_size, bb.batch_size, bb.variant) == (299, 128, "original")
    assert bb.phase_plan() == [0] * 20 + [1] * 20


def test_cxr5_sweep_searches_the_modification_and_the_schedule():
    sweep = load_sweep("cxr5-sweep")
    space = sweep.search.space
    assert space["fusion.pcb_channels"].model_dump() == {"choice": [16, 32, 64, 128]}
    assert space["fusion.taps"].kind == "subset" and space["fusion.taps"].spec.min == 2
    assert set(space["fusion.taps"].spec.of) == {f"features.{i}" for i in range(13)}
    assert {"fusion.gate", "fusion.dropout", "phases.0.lr", "phases.1.lr", "phases.0.epochs",
            "phases.1.momentum"} <= set(space)
    assert sweep.search.algorithm == "optuna" and sweep.scheduler.kind == "asha"


BAD = {
    "unknown key": ("trial: {backbone: resnet18, fusoin: {gate: static}}", "unknown key 'trial.fusoin'"),
    "bad distribution": ("search: {space: {fusion.dropout: {normal: [0, 1]}}}", "unknown distribution 'normal'"),
    "bad bounds": ("search: {space: {fusion.dropout: {uniform: [0.5, 0.1]}}}", "low < high"),
    "unknown backbone": ("trial: {backbone: resnet99}", "resnet99"),
    "unknown backbone in the space": ("search: {space: {backbone: {grid: [resnet18, resnet99]}}}", "resnet99"),
    "tap that does not exist": (
        ("trial: {backbone: mobilenet_v3_small, input_size: 64}\n"
         "search: {space: {fusion.taps: {subset: {of: [features.1, features.99], min: 1}}}}"), "features.99"),
    "unknown space key": ("search: {space: {fusion.gait: {choice: [dynamic]}}}", "fusion.gait"),
}


def _bad_file(tmp_path: Path, body: str) -> Path:
    raw = yaml.safe_load(body)
    raw.setdefault("trial", {})
    raw = {"name": "bad", "description": "a broken sweep", **raw}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_sweep_files_fail_at_load_with_one_line(tmp_path, case):
    body, message = BAD[case]
    with pytest.raises(ConfigError) as e:
        load_sweep(_bad_file(tmp_path, body))
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("case", ["unknown key", "tap that does not exist"])
def test_cli_run_rejects_a_bad_sweep_before_ray_starts(tmp_path, case):
    body, message = BAD[case]
    path = _bad_file(tmp_path, body)
    r = subprocess.run([sys.executable, "-m", "ablate.cli", "run", str(path), "--local", "--results", str(tmp_path / "r")],
                       check=False, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and message in errors[0]
    assert not (tmp_path / "r" / "ray").exists()  # no Tune experiment: nothing started


def test_cli_run_fails_fast_on_an_address_nobody_answers(tmp_path):
    """A mistyped head address is one line within seconds, not minutes of Ray retrying."""
    import socket

    with socket.socket() as sock:  # a port that was free a moment ago
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        r = subprocess.run([sys.executable, "-m", "ablate.cli", "run", "cxr5-sweep", "--address", address,
                            "--storage", str(tmp_path / "s"), "--results", str(tmp_path / "r")],
                           check=False, capture_output=True, text=True, timeout=120)
        errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
        assert r.returncode == 2 and len(errors) == 1, r.stderr[-2000:]
        assert f"cannot join a Ray cluster at {address}: nothing answers" in errors[0]
    assert not (tmp_path / "r").exists()
