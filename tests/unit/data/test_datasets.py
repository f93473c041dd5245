"""prepare_data: readers, up-front checks of bad input, skip_bad, tensors, normalize_batch."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
import torch
from conftest import LABELS, write_tree
from PIL import Image

from ablate.data import (
    PreparedData,
    Sample,
    load_image,
    normalize_batch,
    prepare_data,
    write_manifest,
)
from ablate.errors import ConfigError, DataError


def _all_paths(d: PreparedData) -> list[str]:
    return [s.path for part in (d.train, d.val, d.test) for s in part.samples]


def _manifest(root, samples, name="manifest.csv"):
    return write_manifest(samples, root / name)


def test_folder_tree_gives_uint8_splits_with_exact_test_counts(tree, data_cfg):
    d = prepare_data(data_cfg(tree), 16)
    assert d.class_names == LABELS and d.source_desc == str(tree)
    for part in (d.train, d.val, d.test):
        assert part.images.dtype == torch.uint8 and part.images.shape[1:] == (3, 16, 16)
        assert part.labels.dtype == torch.int64 and len(part.labels) == len(part.samples) == len(
            part.images
        )
    assert d.test.labels.bincount().tolist() == [2] * 5
    assert sorted(_all_paths(d)) == sorted(str(p) for p in tree.rglob("*.png"))
    assert d.skipped == [] and len(d.dataset_hash) == 16
    # labels agree with the folder of each sample, images with decoding the file
    for part in (d.train, d.test):
        for img, lab, s in zip(part.images, part.labels, part.samples, strict=True):
            assert LABELS[lab] == os.path.basename(os.path.dirname(s.path))
            assert np.array_equal(img.permute(1, 2, 0).numpy(), load_image(s.path, 16))


def test_manifest_folder_and_csv_give_the_same_data(tree, data_cfg):
    samples = [
        Sample(str(p), p.parent.name.upper().replace("_", " "), f"pt{i // 2}")
        for i, p in enumerate(sorted(tree.rglob("*.png")))
    ]
    _manifest(tree, samples)
    by_dir, by_csv = (
        prepare_data(data_cfg(tree), 16),
        prepare_data(data_cfg(tree / "manifest.csv"), 16),
    )
    assert by_dir.source_desc == by_csv.source_desc == str(tree / "manifest.csv")
    assert by_dir.dataset_hash == by_csv.dataset_hash and _all_paths(by_dir) == _all_paths(by_csv)
    assert {s.patient_id for s in by_dir.test.samples} <= {s.patient_id for s in samples}
    folder = prepare_data(data_cfg(tree, format="folder"), 16)  # forced: ignores the manifest
    assert folder.source_desc == str(tree)


def test_missing_folder_and_empty_class_folder(tmp_path, data_cfg):
    with pytest.raises(DataError, match="data path .*nope does not exist"):
        prepare_data(data_cfg(tmp_path / "nope"), 16)
    root = write_tree(tmp_path / "d", n=4)
    (root / "extra_class").mkdir()
    with pytest.raises(DataError, match="class folder .*extra_class has no images"):
        prepare_data(data_cfg(root, scenario="none"), 16)


def test_missing_manifest_row_names_the_file_and_counts_the_rest(tree, data_cfg):
    samples = [Sample(str(p), p.parent.name) for p in sorted(tree.rglob("*.png"))]
    gone = [Sample(str(tree / "covid" / f"gone{i}.png"), "covid") for i in range(5)]
    manifest = _manifest(tree, samples + gone)
    with pytest.raises(DataError) as err:
        prepare_data(data_cfg(manifest), 16)
    msg = str(err.value)
    assert (
        msg.startswith("5 image file(s) not found") and "gone0.png" in msg and "(and 2 more)" in msg
    )
    assert "--skip-bad" in msg and "\n" not in msg
    d = prepare_data(data_cfg(manifest, skip_bad=True), 16)
    assert d.skipped == sorted(s.path for s in gone) and len(_all_paths(d)) == 40


def test_corrupt_image_fails_before_training_or_is_skipped(tree, data_cfg):
    bad = tree / "normal" / "3.png"
    bad.write_bytes(bad.read_bytes()[:60])  # truncated
    with pytest.raises(DataError) as err:
        prepare_data(data_cfg(tree), 16)
    assert str(bad) in str(err.value) and "pass --skip-bad / data.skip_bad: true" in str(err.value)
    ok = prepare_data(data_cfg(tree, skip_bad=True), 16)
    assert ok.skipped == [str(bad)] and str(bad) not in _all_paths(ok)
    assert len(_all_paths(ok)) == 5 * 8 - 1
    for img, s in zip(
        ok.train.images, ok.train.samples, strict=True
    ):  # rows stay aligned after the drop
        assert np.array_equal(img.permute(1, 2, 0).numpy(), load_image(s.path, 16))


def test_unknown_label_and_class_emptied_by_skipping(tree, data_cfg):
    samples = [Sample(str(p), p.parent.name) for p in sorted(tree.rglob("*.png"))]
    manifest = _manifest(
        tree, [*samples[:-1], dataclasses.replace(samples[-1], label="fracture")], "m.csv"
    )
    with pytest.raises(DataError, match="label 'fracture' .*scenario cxr5.*data.scenario: none"):
        prepare_data(data_cfg(manifest), 16)
    for p in (tree / "covid").glob("*.png"):
        p.write_bytes(b"junk")
    with pytest.raises(DataError, match="every image of class.* covid is missing or unreadable"):
        prepare_data(data_cfg(tree, skip_bad=True), 16)


def test_split_tensors_are_dense_and_batches_index_cleanly(tmp_path, data_cfg):
    d = prepare_data(data_cfg(write_tree(tmp_path / "g", n=4)), 8)
    for part in (d.train, d.val, d.test):
        assert part.images.is_contiguous() and part.images.stride() == (192, 64, 8, 1)
    batch = d.train.images[torch.tensor([0, 2])]
    assert batch.shape == (2, 3, 8, 8) and torch.equal(batch[:, 0], batch[:, 2])
    assert torch.equal(d.train.images[1:3].clone(), d.train.images[[1, 2]])


def test_official_splits_are_kept_and_read_as_memmap_views(tree, data_cfg):
    samples = [
        Sample(str(p), p.parent.name, split=["train", "test", "val", "train"][i % 4])
        for i, p in enumerate(sorted(tree.rglob("*.png")))
    ]
    d = prepare_data(data_cfg(_manifest(tree, samples[::-1])), 16)  # rows not grouped by split
    want = {name: {s.path for s in samples if s.split == name} for name in ("train", "val", "test")}
    assert {s.path for s in d.train.samples} == want["train"] and {
        s.path for s in d.test.samples
    } == want["test"]
    row = 3 * 16 * 16  # bytes per image in the store
    gap = d.val.images.data_ptr() - d.train.images.data_ptr()
    assert gap == len(d.train) * row, "train then val: views of one memory map, not copies"
    for img, s in zip(d.val.images, d.val.samples, strict=True):
        assert np.array_equal(img.permute(1, 2, 0).numpy(), load_image(s.path, 16))


def test_folds_select_the_validation_part(tree, data_cfg):
    a, b = (prepare_data(data_cfg(tree, folds=2), 16, fold=f) for f in (0, 1))
    assert {s.path for s in a.test.samples} == {s.path for s in b.test.samples}
    assert not ({s.path for s in a.val.samples} & {s.path for s in b.val.samples})
    with pytest.raises(ConfigError, match="fold 2 does not exist"):
        prepare_data(data_cfg(tree, folds=2), 16, fold=2)


def test_synthetic_path_is_generated_once_and_described(data_cfg):
    cfg = data_cfg("synthetic", synthetic={"n_per_class": 6, "image_size": 32, "seed": 1})
    d = prepare_data(cfg, 16)
    assert d.source_desc == "synthetic(n=6,size=32,seed=1)" and d.class_names == LABELS
    assert len(_all_paths(d)) == 30 and prepare_data(cfg, 16).dataset_hash == d.dataset_hash


def test_progress_reports_decoding(tree, data_cfg):
    lines: list[str] = []
    prepare_data(data_cfg(tree, decode_workers=2), 16, progress=lines.append)
    assert any(line.startswith("decoding 40 images at 16 px (2 threads)") for line in lines)
    assert lines[-1].startswith("splits: train")


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_normalize_batch(dtype):
    x = torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8).to(dtype)
    keep = x.clone()
    raw = normalize_batch(x, "none")
    assert raw.dtype == torch.float32 and torch.equal(raw, keep.float())
    mean, std = (
        torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1),
        torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1),
    )
    net = normalize_batch(x, "imagenet")
    assert torch.allclose(net, (keep.float() / 255 - mean) / std, atol=1e-5)
    assert torch.equal(x, keep), "the input is never modified"
    expanded = torch.full((2, 1, 4, 4), 255, dtype=torch.uint8).expand(-1, 3, -1, -1)
    assert torch.allclose(
        normalize_batch(expanded, "imagenet")[0, :, 0, 0], (1 - mean.flatten()) / std.flatten()
    )
    with pytest.raises(ConfigError, match="data.normalize"):
        normalize_batch(x, "minmax")


def test_images_in_any_mode_mix_in_one_dataset(tmp_path, data_cfg):
    root = write_tree(tmp_path / "d", n=4)
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 128
    Image.fromarray(rgba).save(root / "covid" / "rgba.png")
    d = prepare_data(data_cfg(root), 8)
    i = [s.path for s in d.train.samples + d.val.samples + d.test.samples].index(
        str(root / "covid" / "rgba.png")
    )
    img = torch.cat([d.train.images, d.val.images, d.test.images])[i]
    assert img.shape == (3, 8, 8) and int(img[0].min()) == 128 and int(img[1].max()) == 0
