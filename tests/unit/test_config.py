"""Config loading, overrides, the typed search space, set_path and one-line validation errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ablate.config import (
    IntRange,
    LogUniform,
    SweepConfig,
    TrialConfig,
    config_hash,
    flatten,
    parse_set,
    read_sweep,
    set_path,
    set_paths,
    validate_sweep,
)
from ablate.errors import ConfigError
from ablate.models.resolve import resolve
from ablate.search.sweep import load_sweep


def _write(tmp_path, text: str):
    p = tmp_path / "exp.yaml"
    p.write_text(text)
    return p


def test_shipped_sweep_loads_with_paper_defaults():
    sweep = load_sweep("cxr5-sweep")
    t = sweep.trial
    assert (t.backbone, t.variant, t.input_size, t.batch_size) == ("mobilenet_v3_small", "modified", 299, 128)
    assert t.fusion.pcb_channels == 64 and t.fusion.gate == "dynamic"
    assert [p.optimizer for p in t.phases] == ["adam", "sgd"]
    assert t.phase_plan() == [0] * 20 + [1] * 20


def test_overrides_apply_to_trial_and_sections():
    sweep = load_sweep(
        "cxr5-sweep",
        ["epochs=2", "fusion.pcb_channels=32", "phases.1.lr=1e-3", "seeds=[0,1]", "search.num_samples=3"],
    )
    assert sweep.trial.epochs == 2 and sweep.trial.fusion.pcb_channels == 32
    assert sweep.trial.phases[1].lr == pytest.approx(1e-3)
    assert sweep.trial.seeds == [0, 1]
    assert sweep.search.num_samples == 3
    assert sweep.trial.phase_plan() == [0, 0]  # phases consumed in order within the budget


def test_phase_plan_handover_and_rest():
    t = TrialConfig(epochs=5, phases=[{"optimizer": "adam", "epochs": 2}, {"optimizer": "sgd"}])
    assert t.phase_plan() == [0, 0, 1, 1, 1]
    t = TrialConfig(epochs=4, phases=[{"optimizer": "adam", "epochs": 1}, {"optimizer": "sgd", "epochs": 1}])
    assert t.phase_plan() == [0, 1, 1, 1]  # the last phase runs on


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["fusion.pcb_channel=3"], "unknown key 'trial.fusion.pcb_channel' (did you mean 'pcb_channels'?)"),
        (["backbone=resnet19"], "unknown backbone 'resnet19' (did you mean 'resnet18'?)"),
        (["variant=big"], "trial.variant: must be 'original' or 'modified'"),
        (["fusion.taps=[features.0, nope]"], "unknown tap 'nope' for mobilenet_v3_small"),
        (["epochs=0"], "trial.epochs"),
        (["nonsense"], "must look like key=value"),
        (["phases.5.lr=1"], "index '5' out of range"),
    ],
)
def test_bad_overrides_give_one_line_errors(sets, message):
    with pytest.raises(ConfigError) as err:
        load_sweep("cxr5-sweep", sets)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_sweep_name_suggests():
    with pytest.raises(ConfigError, match="did you mean 'cxr5-sweep'"):
        load_sweep("cxr5-swep")


def test_malformed_yaml_names_the_line(tmp_path):
    p = _write(tmp_path, "name: x\ntrial:\n  backbone: [resnet18\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_sweep(p)


def test_bare_trial_file_is_accepted(tmp_path):
    p = _write(tmp_path, "backbone: resnet18\nvariant: original\ninput_size: 64\n")
    sweep = load_sweep(p)
    assert sweep.name == "exp" and sweep.trial.backbone == "resnet18"


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ("fusion.pcb_channel: {choice: [16]}", "unknown key"),
        ("fusion.pcb_channels: {normal: [1, 2]}", "unknown distribution 'normal'"),
        ("phases.0.lr: {loguniform: [0, 1]}", "search.space.phases.0.lr.loguniform: bounds must be > 0"),
        ("phases.0.lr: {uniform: [2, 1]}", "low < high"),
        ("backbone: {grid: [resnet18, resnet99]}", "unknown backbone 'resnet99'"),
        ("fusion.taps: {subset: {of: [features.0, features.77], min: 1}}", "unknown tap 'features.77'"),
        ("fusion.pcb_channels: {choice: [0]}", "fusion.pcb_channels"),
    ],
)
def test_bad_search_space_fails_at_load(tmp_path, space, message):
    p = _write(tmp_path, f"name: s\ntrial: {{input_size: 64}}\nsearch:\n  space:\n    {space}\n")
    with pytest.raises(ConfigError) as err:
        load_sweep(p)
    assert message in str(err.value)


def test_base_trial_override_is_checked_against_the_space_only_for_a_search():
    """`ablate trial` runs the base config alone; `ablate run` must reject a space it breaks."""
    with pytest.raises(ConfigError, match="search.space.fusion.taps=.*unknown tap 'features.0' for resnet18"):
        load_sweep("cxr5-sweep", ["backbone=resnet18"])
    sweep = load_sweep("cxr5-sweep", ["backbone=resnet18"], check_space=False)
    assert sweep.trial.backbone == "resnet18" and resolve(sweep.trial).resolved_taps()[-1] == "layer4"
    with pytest.raises(ConfigError, match="unknown backbone"):  # the trial itself is still checked
        load_sweep("cxr5-sweep", ["backbone=resnet99"], check_space=False)


def test_set_addresses_a_dotted_search_space_axis():
    sweep = load_sweep("cxr5-sweep", ["epochs=8", "search.space.phases.0.epochs={int: [2, 6]}",
                                      "search.space.phases.1.lr.loguniform=[0.001, 0.01]",
                                      "search.space.fusion.gate=null"])
    space = sweep.search.space
    assert space["phases.0.epochs"] == IntRange(int=[2, 6]) and space["phases.0.epochs"].model_dump() == {"int": [2, 6]}
    assert isinstance(space["phases.1.lr"], LogUniform) and space["phases.1.lr"].bounds == [0.001, 0.01]
    assert "fusion.gate" not in space and "fusion.pcb_channels" in space
    with pytest.raises(ConfigError, match="unknown distribution 'normal'"):
        load_sweep("cxr5-sweep", ["search.space.phases.0.epochs={normal: [2, 6]}"])


def test_config_hash_and_trial_id_are_stable_and_sensitive():
    a, b = TrialConfig(input_size=64), TrialConfig(input_size=64, name="other")
    assert config_hash(a) == config_hash(b) and a.trial_id() == b.trial_id()
    c = TrialConfig(input_size=64, seed=1)
    assert c.trial_id() != a.trial_id()


def test_parse_set_types():
    assert parse_set("a=2") == ("a", 2)
    assert parse_set("a=1e-3") == ("a", 1e-3)
    assert parse_set("a=[0, 1]") == ("a", [0, 1])
    assert parse_set("a=adam") == ("a", "adam")


def test_flatten_has_fixed_columns():
    f = flatten(resolve(TrialConfig(input_size=64)))
    assert f["cfg.fusion.pcb_channels"] == 64
    assert f["cfg.fusion.taps"].startswith("[") and f["cfg.phases"].startswith("[")
    assert f["cfg.weights_path"] is None


# --------------------------------------------------------------------------- a leaf, resolved once

# config_hash of the default TrialConfig (modified MobileNetV3-small, default taps) as computed
# before the config became a leaf (when resolved_dump() filled the taps): resolving now must
# give the same hash, so trial ids and result rows of earlier runs still match. Changed once on
# purpose (issue 16): `min_steps_per_epoch` was added and `bn_momentum: null` now follows the steps
# an epoch, so the same YAML trains differently on a small set and must not share old ids.
DEFAULT_HASH = "48cb35f3fa5a4b316269326536f4c49e9bac438e203e167d4f2c879c70de7f66"
ORIGINAL_HASH = "474f58252f9ab07650db86f6d7df604d994811703bfa31bfcaf533aafa9f73e2"


def test_importing_config_loads_no_torch():
    code = ("import sys; import ablate.config, ablate.search.sweep; "
            "from ablate.search.sweep import load_sweep; load_sweep('cxr5-sweep'); "
            "bad = [m for m in ('torch', 'torchvision', 'ray', 'pandas', 'optuna') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_config_hash_of_a_resolved_config_is_unchanged():
    cfg = resolve(TrialConfig())
    assert cfg.fusion.taps == ["features.0", "features.1", "features.2", "features.3", "features.12"]
    assert config_hash(cfg) == DEFAULT_HASH and cfg.trial_id() == f"mobilenet_v3_small-modified-s0-{DEFAULT_HASH[:10]}"
    assert config_hash(resolve(TrialConfig(variant="original"))) == ORIGINAL_HASH
    assert resolve(cfg) == cfg  # idempotent


def test_validation_needs_no_model_and_resolve_does_the_model_checks():
    cfg = TrialConfig(backbone="resnet99", fusion={"taps": ["nope"]})  # data: valid
    with pytest.raises(ConfigError, match="unknown backbone 'resnet99'"):
        resolve(cfg)
    with pytest.raises(ConfigError, match="input_size 40 is too small for inception_v3"):
        resolve(TrialConfig(backbone="inception_v3", variant="original", input_size=40))
    with pytest.raises(ConfigError, match="weights_path .* does not exist"):
        resolve(TrialConfig(weights_path="/nonexistent/w.pt"))


def test_set_path_list_index_nested_default_and_unknown_key():
    t = TrialConfig()
    t2 = set_path(t, "phases.1.lr", 0.05)
    assert t2.phases[1].lr == 0.05 and t.phases[1].lr is None  # a new, validated model
    assert set_path(t, "data.synthetic.n_per_class", 10).data.synthetic.n_per_class == 10
    sweep = SweepConfig(name="x")
    assert sweep.ablation is None
    s2 = set_path(sweep, "ablation.include_base", False)  # an unset section gets its defaults
    assert s2.ablation is not None and s2.ablation.include_base is False and s2.ablation.variants == {}
    with pytest.raises(ConfigError) as e:
        set_path(t, "fusion.pcb_channel", 3)
    assert "unknown key 'fusion.pcb_channel' (did you mean 'pcb_channels'?)" in str(e.value)
    assert "allowed here: taps, pcb_channels" in str(e.value)
    with pytest.raises(ConfigError, match="index '2' out of range"):
        set_path(t, "phases.2.lr", 1.0)
    with pytest.raises(ConfigError, match="epochs"):
        set_path(t, "epochs", "x")
    both = set_paths(t, {"data.test_per_class": None, "data.test_fraction": 0.2})  # validated once, at the end
    assert both.data.test_fraction == 0.2


def test_set_path_on_a_search_space_axis():
    sweep = read_sweep("cxr5-sweep")
    s = set_path(sweep, "search.space.phases.0.epochs.int", [2, 6])
    assert s.search.space["phases.0.epochs"].model_dump() == {"int": [2, 6]}
    assert "fusion.gate" not in set_path(sweep, "search.space.fusion.gate", None).search.space


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({"loguniform": [0, 1]}, "search.space.a.loguniform: bounds must be > 0 (a log scale), got [0, 1]"),
        ({"uniform": [2, 1]}, "search.space.a.uniform: needs low < high, got [2, 1]"),
        ({"uniform": ["a", 1]}, "search.space.a.uniform: needs two numbers [low, high], got ['a', 1]"),
        ({"int": [1.5, 3]}, "search.space.a.int: bounds must be integers"),
        ({"normal": [1, 2]}, "search.space.a: unknown distribution 'normal'; allowed: choice, grid, uniform"),
        ("dynamic", "search.space.a must be one mapping {choice | grid | uniform | loguniform | int | subset: ...}"),
        ({"choice": []}, "search.space.a.choice: needs a non-empty list of values"),
        ({"subset": {"of": ["x"], "mn": 1}}, "unknown key 'search.space.a.subset.mn' (did you mean 'min'?); allowed here: of, min"),
        ({"subset": {"of": ["x"], "min": 2}}, "search.space.a.subset: min must be between 1 and 1, got 2"),
    ],
)
def test_typed_space_rejects_bad_distributions_with_one_line(space, message):
    with pytest.raises(ConfigError) as e:
        validate_sweep({"name": "x", "search": {"space": {"a": space}}})
    assert message in str(e.value) and "\n" not in str(e.value)
    assert "  " not in str(e.value)  # no empty list spliced into the text


def test_typed_space_round_trips_as_the_sweep_file_writes_it():
    sweep = load_sweep("covidx-ct")
    again = SweepConfig.model_validate_json(sweep.model_dump_json())
    assert again == sweep
    assert sweep.model_dump(mode="json")["search"]["space"]["model"]["grid"][0] == {"backbone": "vgg16", "variant": "original"}


def test_parse_set_folds_yaml_errors_into_one_line():
    with pytest.raises(ConfigError) as e:
        parse_set("seeds=[0,1")
    assert "\n" not in str(e.value) and "--set seeds: cannot parse value '[0,1'" in str(e.value)


def test_cli_errors_are_one_line_and_keep_brackets(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("name: s\ntrial: {input_size: 64}\nsearch:\n  space:\n    phases.0.lr: {uniform: [2]}\n")
    r = subprocess.run([sys.executable, "-m", "ablate.cli", "run", str(p)], check=False, capture_output=True, text=True, timeout=120)
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert r.returncode == 2 and len(errors) == 1, r.stderr
    assert "needs two numbers [low, high], got [2]" in errors[0]  # rich markup must not eat [low, high]
