"""Search-space translation: grid points, the Optuna define-by-run sampler, trial configs."""

from __future__ import annotations

import json
import time

import optuna
import pytest

from ablate.config import Choice, validate_sweep
from ablate.errors import ConfigError
from ablate.search.space import expand_values, is_combined_axis
from ablate.search.sweep import load_sweep, resolve_sweep
from ablate.search.translate import (
    SpaceSampler,
    grid_axes,
    grid_points,
    make_sampler,
    sampled_axes,
    space_columns,
    trial_config,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)
MOBILENET_TAPS = [f"features.{i}" for i in range(13)]


def _sweep(space: dict, algorithm: str = "optuna", **trial):
    return resolve_sweep(validate_sweep({
        "name": "t",
        "trial": {"backbone": "resnet18", "input_size": 64, "epochs": 6, **trial},
        "search": {"algorithm": algorithm, "num_samples": 3, "space": space},
    }))


def _study(sampler=None) -> optuna.Study:
    return optuna.create_study(direction="maximize", sampler=sampler or optuna.samplers.RandomSampler(seed=0))


def test_grid_points_are_the_outer_product_in_file_order():
    sweep = _sweep({
        "phases.0.lr": {"grid": [1e-3, 1e-2]},
        "fusion.dropout": {"uniform": [0.1, 0.5]},
        "fusion.gate": {"grid": ["dynamic", "uniform", "static"]},
    })
    points = grid_points(sweep)
    assert len(points) == 6
    assert points[0] == {"phases.0.lr": 1e-3, "fusion.gate": "dynamic"}
    assert points[-1] == {"phases.0.lr": 1e-2, "fusion.gate": "static"}
    assert list(sampled_axes(sweep.search)) == ["fusion.dropout"]


def test_no_grid_is_one_empty_point_and_seeds_become_an_axis():
    assert grid_points(_sweep({"fusion.dropout": {"uniform": [0.1, 0.5]}})) == [{}]
    sweep = _sweep({"backbone": {"grid": ["resnet18", "squeezenet1_0"]}}, seeds=[0, 1])
    assert grid_axes(sweep) == {"seed": [0, 1], "backbone": ["resnet18", "squeezenet1_0"]}
    assert len(grid_points(sweep)) == 4
    assert trial_config(sweep, grid_points(sweep)[1]).seed == 0 and trial_config(sweep, {"seed": 1}).seeds is None


def test_algorithm_grid_enumerates_choices_and_samples_the_rest():
    sweep = _sweep({"fusion.gate": {"choice": ["dynamic", "static"]}, "fusion.dropout": {"uniform": [0.0, 0.5]}},
                   algorithm="grid")
    assert grid_axes(sweep) == {"fusion.gate": ["dynamic", "static"]}
    assert list(sampled_axes(sweep.search)) == ["fusion.dropout"]
    assert isinstance(make_sampler("grid", 0, 4), optuna.samplers.RandomSampler)
    assert isinstance(make_sampler("random", 0, 4), optuna.samplers.RandomSampler)
    assert isinstance(make_sampler("optuna", 0, 4), optuna.samplers.TPESampler)


def test_every_distribution_kind_samples_within_its_bounds():
    axes = {
        "fusion.pcb_channels": {"choice": [16, 32, 64]},
        "fusion.dropout": {"uniform": [0.1, 0.4]},
        "phases.0.lr": {"loguniform": [1e-5, 1e-2]},
        "phases.0.epochs": {"int": [1, 5]},
        "phases": {"choice": [[{"optimizer": "adam"}], [{"optimizer": "sgd", "momentum": 0.9}]]},
    }
    study = _study()
    for _ in range(30):
        trial = study.ask()
        v = SpaceSampler(axes)(trial)
        assert v["fusion.pcb_channels"] in (16, 32, 64)
        assert 0.1 <= v["fusion.dropout"] <= 0.4 and 1e-5 <= v["phases.0.lr"] <= 1e-2
        assert isinstance(v["phases.0.epochs"], int) and 1 <= v["phases.0.epochs"] <= 5
        assert v["phases"] in axes["phases"]["choice"]  # non-scalar choices go through their index
        assert "phases[index]" in trial.params
        study.tell(trial, 0.0)


def test_subset_is_one_boolean_per_candidate_and_respects_min():
    axes = {"fusion.taps": {"subset": {"of": MOBILENET_TAPS[:5], "min": 3}}}
    study = _study()
    sizes = set()
    for _ in range(200):
        trial = study.ask()
        taps = SpaceSampler(axes)(trial)["fusion.taps"]
        assert len(taps) >= 3 and taps == sorted(taps, key=MOBILENET_TAPS.index)  # candidate order
        assert set(trial.params) <= {f"fusion.taps[{t}]" for t in MOBILENET_TAPS[:5]}
        sizes.add(len(taps))
        study.tell(trial, 0.0)
    assert sizes == {3, 4, 5}


def test_tpe_learns_which_taps_help():
    """Optuna sees the taps as parameters: rewarding one tap makes TPE choose it more often."""
    axes = {"fusion.taps": {"subset": {"of": MOBILENET_TAPS[:6], "min": 2}}}
    study = _study(make_sampler("optuna", 0, 9))
    chosen = []
    for _ in range(60):
        trial = study.ask()
        taps = SpaceSampler(axes)(trial)["fusion.taps"]
        chosen.append("features.3" in taps)
        study.tell(trial, 1.0 if "features.3" in taps else 0.0)
    assert sum(chosen[-20:]) > sum(chosen[:20])


def test_define_by_run_does_no_computation():
    sweep = load_sweep("cxr5-sweep")
    sampler, study = SpaceSampler(sampled_axes(sweep.search)), _study()
    t0 = time.perf_counter()
    for _ in range(20):
        trial = study.ask()
        sampler(trial)
        study.tell(trial, 0.0)
    assert time.perf_counter() - t0 < 2.0


def test_every_sample_of_the_shipped_sweep_is_a_valid_trial():
    sweep = load_sweep("cxr5-sweep")
    sampler, study = SpaceSampler(sampled_axes(sweep.search)), _study()
    for _ in range(15):
        trial = study.ask()
        values = sampler(trial)
        cfg = trial_config(sweep, values)
        assert cfg.fusion.taps == values["fusion.taps"] and len(cfg.fusion.taps) >= 2
        assert cfg.phases[0].epochs == values["phases.0.epochs"] and cfg.epochs == 40  # handover moves, total fixed
        assert cfg.phase_plan().count(0) == values["phases.0.epochs"]
        study.tell(trial, 0.0)


def test_an_invalid_combination_raises_config_error_naming_the_values():
    # each value is valid alone (validated at load), the combination is not: inception needs >= 75 px
    sweep = _sweep({"backbone": {"grid": ["resnet18", "inception_v3"]}, "input_size": {"choice": [40, 299]}},
                   variant="original", input_size=299)
    assert trial_config(sweep, {"backbone": "inception_v3", "input_size": 299}).input_size == 299
    with pytest.raises(ConfigError, match="input_size 40 is too small for inception_v3.*") as e:
        trial_config(sweep, {"backbone": "inception_v3", "input_size": 40})
    assert "backbone='inception_v3'" in str(e.value) and "\n" not in str(e.value)


def test_space_columns_are_flat_and_typed():
    cols = space_columns({"fusion.taps": ["features.0", "features.3"], "phases.0.lr": 1e-3, "fusion.gate": "static"})
    assert cols == {"space.fusion.taps": json.dumps(["features.0", "features.3"]), "space.phases.0.lr": 1e-3,
                    "space.fusion.gate": "static"}


def test_combined_axis_sets_several_keys_at_once():
    sweep = load_sweep("covidx-ct")
    space = sweep.search.space
    assert is_combined_axis("model", space["model"]) and not is_combined_axis("fusion.gate", Choice(choice=["a"]))
    points = grid_points(sweep)
    assert len(points) == 7  # six originals + one modified, not 6 x 2
    cfgs = [trial_config(sweep, p) for p in points]
    assert [(c.backbone, c.variant) for c in cfgs][-2:] == [("mobilenet_v3_small", "original"), ("resnet18", "modified")]
    assert cfgs[-1].fusion.pcb_channels == 32 and cfgs[-1].stop_at_val_acc == 0.993
    assert expand_values(space, points[-1]) == {"backbone": "resnet18", "variant": "modified", "fusion.pcb_channels": 32}
    assert space_columns(points[0])["space.model"] == json.dumps({"backbone": "vgg16", "variant": "original"})


def test_combined_axis_values_are_validated_at_load():
    with pytest.raises(ConfigError, match="unknown backbone|resnet99"):
        _sweep({"model": {"grid": [{"backbone": "resnet18"}, {"backbone": "resnet99"}]}})
    with pytest.raises(ConfigError, match="unknown key"):
        _sweep({"model": {"grid": [{"backbone": "resnet18", "fusoin.gate": "static"}]}})
