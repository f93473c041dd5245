"""The decode cache: same pixels as PIL, reused, invalidated, atomic, read-only."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import write_tree
from PIL import Image

import ablate.data.cache as cache_mod
from ablate.data import Sample, load_image, prepare_data
from ablate.data.cache import cache_key, cache_root, decode_all
from ablate.errors import DataError


@pytest.fixture
def builds(monkeypatch):
    """Count the stores built (not read back)."""
    calls: list[int] = []
    real = cache_mod._build_store

    def counting(*args, **kw):
        calls.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(cache_mod, "_build_store", counting)
    return calls


def _samples(root):
    return [Sample(str(p), p.parent.name) for p in sorted(root.rglob("*.png"))]


def _stores(cache_dir):
    return sorted(p for p in (cache_dir / "decoded").iterdir() if not p.name.startswith("."))


def test_cache_equals_pil_and_is_reused(tree, tmp_path, builds):
    samples = _samples(tree)
    first = decode_all(samples, 20, cache_dir=str(tmp_path / "c"))
    assert not first.hit and len(builds) == 1 and first.images.shape == (40, 3, 20, 20)
    for row, s in zip(first.images, samples, strict=True):
        assert np.array_equal(row.transpose(1, 2, 0), load_image(s.path, 20))
    mtime = (first.path / "images.npy").stat().st_mtime_ns
    again = decode_all(samples, 20, cache_dir=str(tmp_path / "c"))
    assert (
        again.hit and len(builds) == 1 and (again.path / "images.npy").stat().st_mtime_ns == mtime
    )
    assert np.array_equal(first.images, again.images)
    assert not again.images.flags.writeable and isinstance(again.images, np.memmap)


def test_prepare_data_reuses_then_invalidates_on_change_and_size(tree, data_cfg, tmp_path, builds):
    cfg = data_cfg(tree)
    a = prepare_data(cfg, 16)
    b = prepare_data(cfg, 16)
    assert len(builds) == 1 and len(_stores(tmp_path / "cache")) == 1
    assert all(
        np.array_equal(x.numpy(), y.numpy())
        for x, y in ((a.train.images, b.train.images), (a.test.images, b.test.images))
    )
    prepare_data(cfg, 20)
    assert len(builds) == 2, "another size: another store"
    changed = tree / "covid" / "0.png"
    Image.fromarray(np.zeros((24, 28), np.uint8)).save(changed)
    os.utime(changed, ns=(1, 1))  # even with an old mtime, the byte size changed
    c = prepare_data(cfg, 16)
    assert len(builds) == 3 and len(_stores(tmp_path / "cache")) == 3
    i = [s.path for s in c.train.samples + c.val.samples + c.test.samples].index(str(changed))
    allimgs = np.concatenate([c.train.images, c.val.images, c.test.images])
    assert allimgs[i].max() == 0


def test_key_depends_on_size_mtime_box_and_order(tree):
    samples = _samples(tree)
    key = cache_key(samples, 16)
    assert cache_key(samples, 16) == key and cache_key(samples, 17) != key
    assert cache_key(samples[::-1], 16) != key
    assert cache_key([Sample(samples[0].path, "x", box=(0, 0, 4, 4)), *samples[1:]], 16) != key
    st = os.stat(samples[0].path)
    os.utime(samples[0].path, ns=(st.st_atime_ns, st.st_mtime_ns + 1000))
    assert cache_key(samples, 16) != key


def test_unreadable_images_are_recorded_in_the_store(tmp_path):
    good, bad = tmp_path / "g.png", tmp_path / "b.png"
    Image.new("L", (8, 8), 7).save(good)
    bad.write_bytes(b"not an image")
    samples = [Sample(str(good), "normal"), Sample(str(bad), "normal")]
    d = decode_all(samples, 8, cache_dir=str(tmp_path / "c"))
    assert d.images[0].max() == 7 and d.images[1].max() == 0 and list(d.bad) == [1]
    assert str(bad) in d.bad[1]
    meta = json.loads((d.path / "meta.json").read_text())
    assert meta["bad"] == {"1": d.bad[1]} and meta["n"] == 2 and meta["size"] == 8
    assert decode_all(samples, 8, cache_dir=str(tmp_path / "c")).bad == d.bad


def test_an_interrupted_build_leaves_no_store(tree, tmp_path, monkeypatch):
    calls = []

    def dies(path, size, box=None):
        calls.append(path)
        if len(calls) > 5:
            raise KeyboardInterrupt
        return np.zeros((size, size), np.uint8)

    monkeypatch.setattr(cache_mod, "decode", dies)
    with pytest.raises(KeyboardInterrupt):
        decode_all(_samples(tree), 16, cache_dir=str(tmp_path / "c"), workers=1)
    assert [
        p.name for p in (tmp_path / "c" / "decoded").iterdir() if not p.name.endswith(".lock")
    ] == []
    monkeypatch.undo()
    d = decode_all(_samples(tree), 16, cache_dir=str(tmp_path / "c"))
    assert not d.hit and d.images.max() > 0


def test_a_damaged_store_is_rebuilt(tree, tmp_path, builds):
    samples = _samples(tree)
    d = decode_all(samples, 16, cache_dir=str(tmp_path / "c"))
    (d.path / "images.npy").write_bytes(b"\x93NUMPY garbage")
    again = decode_all(samples, 16, cache_dir=str(tmp_path / "c"))
    assert len(builds) == 2 and not again.hit and again.images.shape == (40, 3, 16, 16)


def test_grey_and_colour_images_share_a_three_channel_store(tmp_path):
    root = write_tree(tmp_path / "d", n=2, labels=["a"])
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[..., 2] = 200
    Image.fromarray(rgb).save(root / "a" / "blue.png")
    samples = _samples(root)
    d = decode_all(samples, 8, cache_dir=str(tmp_path / "c"))
    assert d.images.shape == (3, 3, 8, 8)
    blue = [s.path for s in samples].index(str(root / "a" / "blue.png"))
    assert d.images[blue, 2].min() == 200 and d.images[blue, :2].max() == 0
    grey = 1 - blue if blue < 2 else 0
    assert np.array_equal(d.images[grey, 0], d.images[grey, 1])


def test_cache_root_order(monkeypatch, tmp_path):
    monkeypatch.setenv("ABLATE_CACHE_DIR", str(tmp_path / "env"))
    assert (
        cache_root() == tmp_path / "env" and cache_root(str(tmp_path / "cfg")) == tmp_path / "cfg"
    )
    monkeypatch.delenv("ABLATE_CACHE_DIR")
    assert cache_root() == Path.home() / ".cache" / "ablate"


def test_store_that_cannot_be_read_back_is_an_error(tree, tmp_path, monkeypatch):
    monkeypatch.setattr(cache_mod, "_read_store", lambda *a: None)
    with pytest.raises(DataError, match="could not be read back"):
        decode_all(_samples(tree), 8, cache_dir=str(tmp_path / "c"))


def _build_in_child(args):
    paths, cache, log = args
    samples = [Sample(p, "a") for p in paths]
    with open(log, "a") as f:
        d = decode_all(samples, 16, cache_dir=cache, progress=lambda m: f.write(m + "\n"))
    return str(d.path), int(d.images.sum())


def test_concurrent_builders_of_one_store_decode_once(tree, tmp_path):
    import multiprocessing

    paths = [s.path for s in _samples(tree)]
    log = tmp_path / "log.txt"
    jobs = [(paths, str(tmp_path / "c"), str(log))] * 2
    with multiprocessing.get_context("fork").Pool(2) as pool:
        results = pool.map(_build_in_child, jobs)
    assert results[0] == results[1]
    assert sum(line.startswith("decoding") for line in log.read_text().splitlines()) == 1
    assert len(_stores(tmp_path / "c")) == 1
