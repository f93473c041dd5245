"""Image decoding: every PIL mode, 16-bit scaling, alpha, crop boxes, corrupt files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ablate.data import load_image
from ablate.data.images import IMAGE_EXTS, check_image, decode
from ablate.errors import DataError

RAMP = np.tile(np.arange(0, 256, 8, dtype=np.uint8), (32, 1))  # dark left, bright right


def _save(tmp_path, im: Image.Image, ext: str = "png"):
    path = tmp_path / f"x.{ext}"
    im.save(path)
    return str(path)


@pytest.mark.parametrize(
    ("mode", "ext"),
    [
        ("L", "png"),
        ("LA", "png"),
        ("RGB", "png"),
        ("RGBA", "png"),
        ("P", "png"),
        ("CMYK", "jpg"),
        ("CMYK", "tif"),
        ("1", "png"),
        ("I", "tif"),
        ("I;16", "png"),
        ("F", "tif"),
        ("RGB", "jpg"),
    ],
)
def test_every_mode_loads_to_rgb_uint8(tmp_path, mode, ext):
    im = Image.fromarray(RAMP).convert(mode if mode not in ("I;16", "F") else "I")
    if mode == "I;16":
        im = Image.fromarray(RAMP.astype(np.uint16) * 250)  # 0 .. 62000
    if mode == "F":
        im = Image.fromarray(RAMP.astype(np.float32))
    path = _save(tmp_path, im, ext)
    with Image.open(path) as check:
        assert check.mode == mode, "the file must really be in the mode under test"
    arr = load_image(path, 16)
    assert arr.shape == (16, 16, 3) and arr.dtype == np.uint8
    left, right = arr[:, :3].mean(), arr[:, -3:].mean()
    assert right > 150 and left < 60, f"{mode}: the ramp must survive (left {left}, right {right})"


def test_16bit_is_scaled_by_its_range_not_clipped(tmp_path):
    a = np.tile(np.linspace(0, 4095, 32).astype(np.uint16), (32, 1))  # 12-bit data in 16 bits
    path = _save(tmp_path, Image.fromarray(a))
    arr = load_image(path, 32)[..., 0].astype(int)
    assert arr.max() == 255 and arr.min() == 0
    assert len(np.unique(arr[0])) > 25, "clipping at 255 would flatten most of the ramp"
    assert np.all(np.diff(arr[0]) >= 0)


def test_wide_container_with_8bit_values_keeps_them(tmp_path):
    path = _save(tmp_path, Image.fromarray(RAMP).convert("I"), "tif")
    assert np.array_equal(load_image(path, 32)[..., 0], RAMP)


def test_alpha_is_composited_on_black(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., :3] = 200
    rgba[:, 4:, 3] = 255  # right half opaque, left half transparent
    arr = load_image(_save(tmp_path, Image.fromarray(rgba)), 8)
    assert arr[:, :3].max() == 0 and arr[:, 5:].min() == 200


def test_grey_decodes_like_its_rgb_copy(tmp_path):
    rng = np.random.default_rng(0)
    grey = Image.fromarray(rng.integers(0, 256, (50, 70), dtype=np.uint8))
    a = load_image(_save(tmp_path, grey), 20)
    (tmp_path / "c").mkdir()
    b = load_image(_save(tmp_path / "c", grey.convert("RGB")), 20)
    assert decode(str(tmp_path / "x.png"), 20).shape == (20, 20), (
        "grey stays one channel internally"
    )
    assert np.array_equal(a, b)


def test_resize_is_direct_and_antialiased(tmp_path):
    checker = (np.indices((64, 128)).sum(0) % 2 * 255).astype(
        np.uint8
    )  # 1-px checkerboard, 2:1 aspect
    arr = load_image(_save(tmp_path, Image.fromarray(checker)), 16)
    assert arr.shape == (16, 16, 3)
    assert abs(float(arr.mean()) - 127.5) < 10 and arr.std() < 20, (
        "antialiasing averages the checkerboard"
    )


def test_box_crops_before_resizing(tmp_path):
    a = np.zeros((40, 40), np.uint8)
    a[10:20, 20:30] = 255
    path = _save(tmp_path, Image.fromarray(a))
    assert load_image(path, 8, box=(20, 10, 30, 20)).min() == 255
    with pytest.raises(DataError, match=r"crop box .* outside its 40x40"):
        load_image(path, 8, box=(20, 10, 50, 20))


def test_truncated_corrupt_and_missing_files_raise_dataerror(tmp_path):
    good = tmp_path / "g.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)).save(good)
    trunc = tmp_path / "t.png"
    trunc.write_bytes(good.read_bytes()[:-200])
    junk = tmp_path / "j.jpg"
    junk.write_bytes(b"\xff\xd8\xff" + b"garbage" * 10)
    for path in (trunc, junk):
        with pytest.raises(DataError, match=f"cannot decode image {path}"):
            load_image(str(path), 8)
    with pytest.raises(DataError, match="not found"):
        load_image(str(tmp_path / "nope.png"), 8)


def test_check_image_names_what_is_wrong(tmp_path) -> None:
    good = _save(tmp_path, Image.fromarray(RAMP))
    assert check_image(good) is None
    cut = tmp_path / "cut.png"
    cut.write_bytes(Path(good).read_bytes()[:60])
    assert check_image(cut)  # truncated: a reason, not an exception
    assert check_image(tmp_path / "none.png") == "file not found"
    assert {".png", ".jpg", ".jpeg", ".tif", ".webp"} <= IMAGE_EXTS
    assert all(e == e.lower() and e.startswith(".") for e in IMAGE_EXTS)
