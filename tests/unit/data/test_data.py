"""Data: image modes, scenarios, grouped splits, bad input, the cache, the synthetic set."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest
from PIL import Image

from ablate.config import DataConfig
from ablate.data import Sample, apply_scenario, generate_synthetic, load_image, make_splits, prepare_data, write_manifest
from ablate.data.cache import decode_all
from ablate.errors import DataError

LABELS = ["covid", "tuberculosis", "normal", "bacterial_pneumonia", "viral_pneumonia"]


def _tree(tmp_path, n=8, size=24):
    """A class-per-folder tree of small grey images with distinct content."""
    rng = np.random.default_rng(0)
    for label in LABELS:
        (tmp_path / label).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8)).save(tmp_path / label / f"{i}.png")
    return tmp_path


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "P", "I;16", "CMYK", "1", "I"])
def test_every_image_mode_loads_to_rgb_uint8(tmp_path, mode):
    base = Image.fromarray(np.tile(np.arange(0, 256, 8, dtype=np.uint8), (32, 1)))
    if mode == "I;16":
        im = Image.fromarray((np.tile(np.arange(32, dtype=np.uint16), (32, 1)) * 2000).astype(np.uint16))
    elif mode == "I":
        im = base.convert("I")
    else:
        im = base.convert(mode)
    path = tmp_path / f"x.{'tif' if mode in ('CMYK', 'I;16', 'I') else 'png'}"
    im.save(path)
    arr = load_image(str(path), 16)
    assert arr.shape == (16, 16, 3) and arr.dtype == np.uint8
    assert arr.max() > 100, "16-bit and other modes must be scaled, not saturated or blacked out"
    assert arr[:, 0].mean() < arr[:, -1].mean() or mode == "1"


def test_scenarios_map_labels():
    samples = [Sample(f"{i}", lab) for i, lab in enumerate(["COVID-19", "TB", "Normal", "bacterial pneumonia", "virus"])]
    assert apply_scenario(samples, "cxr5") == (LABELS, [0, 1, 2, 3, 4])
    assert apply_scenario(samples, "cxr4") == (["covid", "pneumonia", "tuberculosis", "normal"], [0, 2, 3, 1, 1])
    assert apply_scenario(samples, "cxr3") == (["covid", "non_covid_infection", "normal"], [0, 1, 2, 1, 1])
    with pytest.raises(DataError, match="label 'fracture'.*data.scenario: none"):
        apply_scenario([*samples, Sample("x", "fracture")], "cxr5")
    with pytest.raises(DataError, match="class 'viral_pneumonia' .* has no images"):
        apply_scenario(samples[:4], "cxr5")


def _grouped_samples(n_per_class=30):
    out = []
    for c, label in enumerate(LABELS):
        for i in range(n_per_class):
            patient = f"{label}-p{i // 3}" if c % 2 == 0 else ""  # groups of 3, or no id
            out.append(Sample(f"/{label}/{i}.png", label, patient))
    return out


def test_splits_exact_grouped_deterministic():
    samples = _grouped_samples()
    names, labels = apply_scenario(samples, "cxr5")
    cfg = DataConfig(test_per_class=9, val_fraction=0.25)
    tr, va, te = make_splits(samples, labels, cfg, names)
    assert sorted(np.concatenate([tr, va, te]).tolist()) == list(range(len(samples)))
    assert np.bincount(np.array(labels)[te]).tolist() == [9] * 5
    groups = [{samples[i].group for i in part} for part in (tr, va, te)]
    assert not (groups[0] & groups[1]) and not (groups[0] & groups[2]) and not (groups[1] & groups[2])
    again = make_splits(samples, labels, cfg, names)
    assert all(np.array_equal(a, b) for a, b in zip((tr, va, te), again, strict=True))
    other = make_splits(samples, labels, cfg.model_copy(update={"split_seed": 1}), names)
    assert not np.array_equal(te, other[2])


def test_kfold_partitions_the_train_val_part():
    samples = _grouped_samples()
    names, labels = apply_scenario(samples, "cxr5")
    cfg = DataConfig(test_per_class=6, folds=3)
    folds = [make_splits(samples, labels, cfg, names, fold=f) for f in range(3)]
    vals = [set(v.tolist()) for _, v, _ in folds]
    assert not (vals[0] & vals[1]) and not (vals[1] & vals[2])
    test = set(folds[0][2].tolist())
    assert set().union(*vals) == set(range(len(samples))) - test
    for tr, va, _ in folds:
        assert not ({samples[i].group for i in tr} & {samples[i].group for i in va})


def test_too_few_images_for_the_test_count():
    samples = _grouped_samples(5)
    names, labels = apply_scenario(samples, "cxr5")
    with pytest.raises(DataError, match="class 'covid' has 5 images, too few for 200 test"):
        make_splits(samples, labels, DataConfig(), names)


def test_prepare_data_from_folder_and_cache_reuse(tmp_path):
    root = _tree(tmp_path / "d")
    cfg = DataConfig(path=str(root), test_per_class=2, cache_dir=str(tmp_path / "cache"))
    a = prepare_data(cfg, 16)
    assert a.class_names == LABELS and a.test.images.shape == (10, 3, 16, 16) and a.test.images.dtype.is_floating_point is False
    # the cached tensors equal decoding with PIL directly
    for img, s in zip(a.train.images, a.train.samples, strict=True):
        assert np.array_equal(img.numpy().transpose(1, 2, 0), load_image(s.path, 16))
    stores = list((tmp_path / "cache" / "decoded").iterdir())
    assert len(stores) == 1
    mtime = (stores[0] / "images.npy").stat().st_mtime_ns
    b = prepare_data(cfg, 16)
    assert (stores[0] / "images.npy").stat().st_mtime_ns == mtime, "second run must reuse the cache"
    assert all(np.array_equal(x.numpy(), y.numpy()) for x, y in ((a.train.images, b.train.images), (a.test.labels, b.test.labels)))
    prepare_data(cfg, 20)  # another size: another store
    changed = root / "covid" / "0.png"
    Image.fromarray(np.zeros((24, 24), np.uint8)).save(changed)
    os.utime(changed, ns=(1, 1))
    c = prepare_data(cfg, 16)
    assert len(list((tmp_path / "cache" / "decoded").iterdir())) == 3, "a changed image invalidates the cache"
    i = [s.path for s in c.train.samples + c.val.samples + c.test.samples].index(str(changed))
    allimgs = np.concatenate([c.train.images, c.val.images, c.test.images])
    assert allimgs[i].max() == 0


def test_corrupt_image_fails_up_front_or_is_skipped(tmp_path):
    root = _tree(tmp_path / "d")
    bad = root / "normal" / "3.png"
    bad.write_bytes(bad.read_bytes()[:60])  # truncated
    cfg = DataConfig(path=str(root), test_per_class=2, cache_dir=str(tmp_path / "cache"))
    with pytest.raises(DataError) as err:
        prepare_data(cfg, 16)
    assert str(bad) in str(err.value) and "--skip-bad" in str(err.value)
    ok = prepare_data(cfg.model_copy(update={"skip_bad": True}), 16)
    assert ok.skipped == [str(bad)]
    assert len(ok.train.labels) + len(ok.val.labels) + len(ok.test.labels) == 5 * 8 - 1


def test_manifest_missing_file_and_missing_folder(tmp_path):
    root = _tree(tmp_path / "d")
    samples = [Sample(str(p), p.parent.name) for p in sorted(root.rglob("*.png"))]
    samples.append(Sample(str(root / "covid" / "gone.png"), "covid"))
    write_manifest(samples, root / "manifest.csv")
    cfg = DataConfig(path=str(root / "manifest.csv"), test_per_class=2, cache_dir=str(tmp_path / "c"))
    with pytest.raises(DataError, match="gone.png: file not found"):
        prepare_data(cfg, 16)
    assert len(prepare_data(cfg.model_copy(update={"skip_bad": True}), 16).skipped) == 1
    with pytest.raises(DataError, match="does not exist"):
        prepare_data(DataConfig(path=str(tmp_path / "nope")), 16)


def test_synthetic_is_deterministic_and_has_five_classes(tmp_path):
    a = generate_synthetic(tmp_path / "a", n_per_class=6, image_size=32, seed=3)
    b = generate_synthetic(tmp_path / "b", n_per_class=6, image_size=32, seed=3)
    digest = lambda root: sorted(hashlib.sha256(p.read_bytes()).hexdigest() for p in root.parent.rglob("*.png"))  # noqa: E731
    assert digest(a) == digest(b)
    c = generate_synthetic(tmp_path / "c", n_per_class=6, image_size=32, seed=4)
    assert digest(a) != digest(c)
    from ablate.data import read_manifest

    rows = read_manifest(a)
    assert sorted({r.label for r in rows}) == sorted(LABELS) and len(rows) == 30
    assert len({r.patient_id for r in rows}) < 30, "some patients have two images"


def test_decode_all_reports_bad_indices(tmp_path):
    good = tmp_path / "g.png"
    Image.new("L", (8, 8), 7).save(good)
    bad = tmp_path / "b.png"
    bad.write_bytes(b"not an image")
    arr, badmap, cached = decode_all([Sample(str(good), "normal"), Sample(str(bad), "normal")], 8, cache_dir=str(tmp_path / "c"))
    assert arr.shape == (2, 3, 8, 8) and arr[0].max() == 7 and list(badmap) == [1] and not cached
    assert decode_all([Sample(str(good), "normal"), Sample(str(bad), "normal")], 8, cache_dir=str(tmp_path / "c"))[2]
