"""``data.hold_out_source: each``: which sources it holds out, one config each (``ablate trial``),
the grid axis ``ablate run`` makes of it, and the one-line errors when nothing can be held out."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ablate.config import TrialConfig, validate_sweep
from ablate.data import write_manifest
from ablate.data.samples import Sample
from ablate.errors import ConfigError, DataError
from ablate.study import expand_hold_out, hold_out_axis

# covid from A and B, normal from B and C, pneumonia from D alone: A, B, C can be held out, D cannot
ROWS = [("covid", "A"), ("covid", "B"), ("normal", "B"), ("normal", "C"), ("bacterial_pneumonia", "D")]


def _manifest(tmp_path, rows):
    tmp_path.joinpath("img").mkdir()
    samples = []
    for k, (label, src) in enumerate(rows):
        for i in range(2):
            p = tmp_path / "img" / f"{k}-{i}.png"
            Image.fromarray(np.zeros((8, 8), np.uint8)).save(p)
            samples.append(Sample(str(p), label, f"{src}-{k}-{i}", src))
    return str(write_manifest(samples, tmp_path / "manifest.csv"))


def _trial(path: str, held: str | None = "each") -> TrialConfig:
    return TrialConfig.model_validate({"data": {"path": path, "scenario": "none", "hold_out_source": held}})


def test_each_is_the_in_distribution_run_then_one_config_per_holdable_source(tmp_path):
    cfg = _trial(_manifest(tmp_path, ROWS))
    out = expand_hold_out(cfg)
    assert [c.data.hold_out_source for c in out] == [None, "A", "B", "C"]
    same = {c.model_dump_json(exclude={"data": {"hold_out_source"}}) for c in out}
    assert same == {cfg.model_dump_json(exclude={"data": {"hold_out_source"}})}  # nothing else changes
    assert expand_hold_out(_trial(cfg.data.path, "B")) == [_trial(cfg.data.path, "B")]  # a named source: as is


def test_run_makes_each_a_grid_axis_of_the_search(tmp_path):
    path = _manifest(tmp_path, ROWS)
    sweep = validate_sweep({"name": "s", "trial": _trial(path).model_dump(mode="json"),
                            "search": {"algorithm": "grid", "num_samples": 1}})
    axis = hold_out_axis(sweep)
    assert axis.trial.data.hold_out_source is None
    assert axis.search.space["data.hold_out_source"].model_dump()["grid"] == [None, "A", "B", "C"]
    assert hold_out_axis(axis) is axis  # no `each`: unchanged
    both = sweep.model_copy(update={"search": axis.search})
    with pytest.raises(ConfigError, match="each and also a search.space axis"):
        hold_out_axis(both)


@pytest.mark.parametrize(("rows", "message"), [
    ([("covid", "A"), ("normal", "B")], r"no source can be held out \(every class has a single source: A, B\)"),
    ([("covid", ""), ("normal", "")], "names no image sources"),
])
def test_nothing_to_hold_out_is_one_line(tmp_path, rows, message):
    with pytest.raises(DataError, match=message) as e:
        expand_hold_out(_trial(_manifest(tmp_path, rows)))
    assert "\n" not in str(e.value)


def test_ablate_run_resolves_each_before_ray_starts(tmp_path, monkeypatch):
    import yaml

    import ablate.runners.ray as ray_runner
    from ablate import api

    path = _manifest(tmp_path, ROWS)
    sweep = tmp_path / "loso.yaml"
    sweep.write_text(yaml.safe_dump({"name": "loso", "trial": {"data": {"path": path, "scenario": "none",
                                                                        "hold_out_source": "each"}},
                                     "search": {"algorithm": "grid", "num_samples": 1}}))
    given = {}
    monkeypatch.setattr(ray_runner, "run_sweep", lambda s, **kw: given.setdefault("sweep", s))
    api.run_sweep(str(sweep), results=tmp_path / "res", local=True)
    assert given["sweep"].search.space["data.hold_out_source"].model_dump()["grid"] == [None, "A", "B", "C"]
    assert given["sweep"].trial.data.hold_out_source is None


def test_each_in_an_ablation_variant_becomes_one_variant_per_source(tmp_path):
    path = _manifest(tmp_path, ROWS)
    sweep = validate_sweep({"name": "s", "trial": _trial(path, None).model_dump(mode="json"),
                            "search": {"algorithm": "grid", "num_samples": 1},
                            "ablation": {"variants": {"no-dropout": {"fusion.dropout": 0.0},
                                                      "held-out": {"data.hold_out_source": "each"},
                                                      "pcb-16": {"fusion.pcb_channels": 16}}}})
    out = hold_out_axis(sweep)
    assert list(out.ablation.variants) == ["no-dropout", "held-out-A", "held-out-B", "held-out-C", "pcb-16"]
    assert out.ablation.variants["held-out-B"] == {"data.hold_out_source": "B"}
    assert out.trial.data.hold_out_source is None and "data.hold_out_source" not in out.search.space
    assert hold_out_axis(out) is out  # resolved: unchanged


def test_variant_held_out_names_every_source_it_became(tmp_path):
    from ablate.study.plan import _held_out_variants

    sweep = validate_sweep({"name": "s", "trial": _trial(_manifest(tmp_path, ROWS), None).model_dump(mode="json"),
                            "ablation": {"variants": {"held-out": {"data.hold_out_source": "each"},
                                                      "no-dropout": {"fusion.dropout": 0.0}}}})
    out = hold_out_axis(sweep)
    assert _held_out_variants(out, ["held-out", "no-dropout"]) == ["held-out-A", "held-out-B", "held-out-C", "no-dropout"]
