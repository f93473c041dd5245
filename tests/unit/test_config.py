"""Config loading, overrides and one-line validation errors."""

from __future__ import annotations

import pytest

from ablate.config import TrialConfig, config_hash, flatten, load_sweep, parse_set
from ablate.errors import ConfigError


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
        ("phases.0.lr: {loguniform: [0, 1]}", "loguniform bounds must be > 0"),
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
    assert sweep.trial.backbone == "resnet18" and sweep.trial.resolved_taps()[-1] == "layer4"
    with pytest.raises(ConfigError, match="unknown backbone"):  # the trial itself is still checked
        load_sweep("cxr5-sweep", ["backbone=resnet99"], check_space=False)


def test_set_addresses_a_dotted_search_space_axis():
    sweep = load_sweep("cxr5-sweep", ["epochs=8", "search.space.phases.0.epochs={int: [2, 6]}",
                                      "search.space.phases.1.lr.loguniform=[0.001, 0.01]",
                                      "search.space.fusion.gate=null"])
    space = sweep.search.space
    assert space["phases.0.epochs"] == {"int": [2, 6]}
    assert space["phases.1.lr"] == {"loguniform": [0.001, 0.01]}
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
    f = flatten(TrialConfig(input_size=64))
    assert f["cfg.fusion.pcb_channels"] == 64
    assert f["cfg.fusion.taps"].startswith("[") and f["cfg.phases"].startswith("[")
    assert f["cfg.weights_path"] is None
