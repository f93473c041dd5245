"""Split invariants: exact grouped test counts, no patient across splits, seeds, k-fold."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter

import numpy as np
import pytest
from conftest import grouped_samples

from ablate.config import DataConfig
from ablate.data import Sample, apply_scenario, kfold_indices, make_splits
from ablate.data.splits import grouped_pick
from ablate.errors import ConfigError, DataError


def _groups(samples, idx):
    return {samples[i].group for i in idx}


def _assert_partition_and_grouped(samples, parts):
    allidx = np.concatenate(parts)
    assert sorted(allidx.tolist()) == list(range(len(samples))), "splits must partition the samples"
    for a in range(3):
        for b in range(a + 1, 3):
            assert not (_groups(samples, parts[a]) & _groups(samples, parts[b])), (
                "a patient crosses a split"
            )


def test_exact_test_counts_grouped_and_deterministic():
    samples = grouped_samples(30)
    assert max(Counter(s.group for s in samples).values()) == 3
    cfg = DataConfig(test_per_class=8, val_fraction=0.25)
    parts = make_splits(samples, cfg)
    _assert_partition_and_grouped(samples, parts)
    labels = np.array(apply_scenario(samples, "cxr5")[1])
    assert np.bincount(labels[parts[2]]).tolist() == [8] * 5
    assert all(np.array_equal(a, b) for a, b in zip(parts, make_splits(samples, cfg), strict=True))
    other = make_splits(samples, cfg.model_copy(update={"split_seed": 1}))
    assert not np.array_equal(parts[2], other[2]) and not np.array_equal(parts[1], other[1])


def test_exact_counts_with_mixed_group_sizes_and_no_bias_to_big_groups():
    # like cxr5-real's bacterial class: 45 patients with two images and 30 with one
    samples = [
        Sample(f"/b/{p}-{k}.png", "bacterial_pneumonia", f"p{p}")
        for p in range(75)
        for k in range(1 + (p < 45))
    ]
    samples += [Sample(f"/c/{i}.png", "covid") for i in range(60)]
    for seed in range(5):
        _, _, test = make_splits(
            samples, DataConfig(scenario="none", test_per_class=21, split_seed=seed)
        )
        counts = Counter(samples[i].label for i in test)
        assert counts == {"bacterial_pneumonia": 21, "covid": 21}
    sizes = Counter(
        len([s for s in samples if s.group == g])
        for g in _groups(samples, test)
        if g.startswith("p")
    )
    assert sizes[1] >= 1 and sizes[2] >= 1, "test patients come from both group sizes"


def test_split_does_not_depend_on_row_order():
    samples = grouped_samples(20)
    cfg = DataConfig(test_per_class=4)
    shuffled = samples[:]
    random.Random(0).shuffle(shuffled)
    for a, b in zip(make_splits(samples, cfg), make_splits(shuffled, cfg), strict=True):
        assert sorted(samples[i].path for i in a) == sorted(shuffled[i].path for i in b)


def test_repair_reaches_an_exact_count_when_greedy_alone_would_not():
    # need 5 from groups of 2, 2, 2, 3, 2: greedy may take 2 + 2 and then find only 2s
    samples = [
        Sample(f"/{g}-{k}.png", "a", f"g{g}")
        for g, size in enumerate([2, 2, 2, 3, 2])
        for k in range(size)
    ]
    samples += [Sample(f"/x{i}.png", "b") for i in range(10)]
    labels = [0 if s.label == "a" else 1 for s in samples]
    for seed in range(10):
        picked = grouped_pick(
            samples, labels, np.arange(len(samples)), {0: 5, 1: 3}, seed, "test", ["a", "b"]
        )
        assert Counter(labels[i] for i in picked) == {0: 5, 1: 3}


def test_impossible_exact_count_with_whole_patients_is_an_error():
    samples = grouped_samples(30, sizes=(3,))
    with pytest.raises(
        DataError, match=r"cannot pick exactly the test images.*'covid': 1.*data.test_fraction"
    ):
        make_splits(samples, DataConfig(test_per_class=7))


def test_too_few_images_names_the_class_and_the_fix():
    samples = grouped_samples(5)
    with pytest.raises(
        DataError,
        match="class 'covid' has 5 images, too few for 200 test.*test_per_class.*test_fraction",
    ):
        make_splits(samples, DataConfig())


def test_test_fraction_is_stratified_and_grouped():
    samples = grouped_samples(30)
    parts = make_splits(samples, DataConfig(test_per_class=None, test_fraction=0.2))
    _assert_partition_and_grouped(samples, parts)
    counts = Counter(samples[i].label for i in parts[2])
    assert all(5 <= n <= 6 for n in counts.values()) and len(counts) == 5


def test_kfold_partitions_train_val_and_is_grouped():
    samples = grouped_samples(30)
    cfg = DataConfig(test_per_class=6, folds=3)
    folds = [make_splits(samples, cfg, fold=f) for f in range(3)]
    test = folds[0][2]
    assert all(np.array_equal(test, f[2]) for f in folds), (
        "the test set does not depend on the fold"
    )
    vals = [set(v.tolist()) for _, v, _ in folds]
    assert not (vals[0] & vals[1]) and not (vals[1] & vals[2]) and not (vals[0] & vals[2])
    assert set().union(*vals) == set(range(len(samples))) - set(test.tolist())
    for parts in folds:
        _assert_partition_and_grouped(samples, parts)
    assert np.array_equal(make_splits(samples, cfg)[1], folds[0][1]), "fold None is fold 0"
    with pytest.raises(ConfigError, match="fold 3 does not exist"):
        make_splits(samples, cfg, fold=3)


def test_kfold_indices_direct_and_too_many_folds():
    samples = grouped_samples(12)
    labels = apply_scenario(samples, "cxr5")[1]
    idx = np.arange(len(samples))
    pairs = kfold_indices(samples, labels, idx, 4, seed=0)
    assert (
        len(pairs) == 4 and sorted(np.concatenate([v for _, v in pairs]).tolist()) == idx.tolist()
    )
    with pytest.raises(DataError, match="lower data.folds"):
        kfold_indices(samples, labels, idx[:30], 20, seed=0)


def test_official_splits_are_used_and_val_carved_when_missing():
    samples = grouped_samples(10)
    tagged = [
        dataclasses.replace(s, split=("test" if i % 10 < 2 else "val" if i % 10 < 4 else "train"))
        for i, s in enumerate(samples)
    ]
    train, val, test = make_splits(tagged, DataConfig())  # test_per_class=200 is ignored
    assert {tagged[i].split for i in test} == {"test"} and {tagged[i].split for i in val} == {"val"}
    assert len(test) == 10 and len(train) == 30
    no_val = [
        dataclasses.replace(s, split="train" if s.split == "val" else s.split) for s in tagged
    ]
    train, val, test = make_splits(no_val, DataConfig(val_fraction=0.25))
    assert len(test) == 10 and len(val) > 0 and {no_val[i].split for i in val} == {"train"}
    bad = [dataclasses.replace(tagged[0], split="holdout"), *tagged[1:]]
    with pytest.raises(DataError, match="split 'holdout'"):
        make_splits(bad, DataConfig())
