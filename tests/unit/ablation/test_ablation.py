"""Ablation files: variants expand to validated configs, bad variants fail at load."""

from __future__ import annotations

import pytest

from ablate.errors import ConfigError
from ablate.search.ablation import expand_ablation
from ablate.search.sweep import load_sweep


def test_shipped_ablation_expands():
    sweep = load_sweep("cxr5-ablation")
    named = dict(expand_ablation(sweep))
    assert list(named) == ["base", "gate-uniform", "gate-static", "no-dropout", "taps-last-only", "pcb-16", "original",
                           "lungs-masked"]
    assert named["gate-uniform"].fusion.gate == "uniform" and named["base"].fusion.gate == "dynamic"
    assert named["taps-last-only"].resolved_taps() == ["features.12"]
    assert named["original"].variant == "original"
    assert all(c.seeds == [0, 1, 2] for c in named.values())
    assert len({c.trial_id() for c in named.values()}) == 8


def test_unknown_variant_and_bad_override(tmp_path):
    with pytest.raises(ConfigError, match="unknown ablation variant 'nope'"):
        expand_ablation(load_sweep("cxr5-ablation"), ["nope"])
    p = tmp_path / "a.yaml"
    p.write_text("name: a\ntrial: {input_size: 64}\nablation:\n  variants:\n    bad: {fusion.taps: [features.99]}\n")
    with pytest.raises(ConfigError, match="ablation.variants.bad: unknown tap 'features.99'"):
        load_sweep(p)
