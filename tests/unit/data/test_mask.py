"""The masked-lung control (data.mask) and leave-one-source-out's one-line errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from ablate.config import DataConfig
from ablate.data import prepare_data
from ablate.data.mask import apply_mask, lung_field
from ablate.data.samples import Sample
from ablate.data.splits import holdable_sources, make_splits
from ablate.data.synthetic import _anatomy, _lungs
from ablate.errors import DataError


def _synthetic_lungs(seed: int, size: int) -> np.ndarray:
    """The synthetic set's lung fields of one image, with its position and scale jitter."""
    rng = np.random.default_rng(seed)
    a = _anatomy(rng)
    lin = np.linspace(-1, 1, size)
    yy, xx = np.meshgrid(lin, lin, indexing="ij")
    sc = rng.uniform(0.92, 1.08)
    xx, yy = (xx - rng.uniform(-0.06, 0.06)) / sc, (yy - rng.uniform(-0.05, 0.05)) / sc
    return _lungs(xx, yy, a)


def test_the_field_covers_the_synthetic_lungs_and_about_half_the_image():
    field = lung_field(64)
    assert 0.45 < field.mean() < 0.52
    cover = [(_synthetic_lungs(s, 64) * field).sum() / _synthetic_lungs(s, 64).sum() for s in range(60)]
    assert min(cover) > 0.95 and np.mean(cover) > 0.99  # where every class pattern lies (op * lungs)
    assert not field[:3].any() and not field[:, :1].any()  # corners and edges (text markers) stay outside


def test_apply_mask_blacks_out_one_side_and_never_writes_the_input():
    x = torch.full((2, 3, 32, 32), 200, dtype=torch.uint8)
    field = torch.from_numpy(lung_field(32))
    lungs, outside = apply_mask(x, "lungs"), apply_mask(x, "outside")
    assert (lungs[..., field] == 0).all() and (lungs[..., ~field] == 200).all()
    assert (outside[..., ~field] == 0).all() and (outside[..., field] == 200).all()
    assert apply_mask(x, "none") is x and (x == 200).all()
    with pytest.raises(ValueError, match="data.mask must be one of"):
        apply_mask(x, "eyes")


def test_prepare_data_applies_the_mask_to_every_split(tmp_path):
    cfg = DataConfig(test_per_class=4, mask="lungs", cache_dir=str(tmp_path),
                     synthetic={"n_per_class": 12, "image_size": 32})
    d = prepare_data(cfg, 32)
    field = torch.from_numpy(lung_field(32))
    for split in (d.train, d.val, d.test):
        assert (split.images[..., field] == 0).all() and split.images[..., ~field].float().mean() > 5


def _samples() -> tuple[list[Sample], list[int], list[str]]:
    rows = [("covid", "A"), ("covid", "B"), ("normal", "B"), ("tb", "C")]
    samples = [Sample(f"/x/{lab}-{src}-{i}.png", lab, f"{src}{i}", src) for lab, src in rows for i in range(6)]
    names = ["covid", "normal", "tb"]
    return samples, [names.index(s.label) for s in samples], names


def test_holding_out_a_class_s_only_source_is_one_line_naming_what_can_be_held_out():
    samples, labels, names = _samples()
    assert holdable_sources(samples, labels) == ["A"]  # B is normal's only source, C tb's
    with pytest.raises(DataError, match=r"'C' holds every image of class\(es\) tb.*can be held out: A$"):
        make_splits(samples, DataConfig(hold_out_source="C"), labels=labels, class_names=names)
    train, val, test = make_splits(samples, DataConfig(hold_out_source="A", val_fraction=0.3), labels=labels,
                                   class_names=names)
    assert {samples[i].source for i in test} == {"A"} and "A" not in {samples[i].source for i in [*train, *val]}


def test_unknown_mask_value_is_one_line_exit_2():
    r = subprocess.run([sys.executable, "-m", "ablate.cli", "trial", "cxr5-sweep", "--set", "data.mask=eyes"],
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "data.mask" in lines[0] and "lungs" in lines[0], r.stderr
