"""COVIDx and COVIDx-CT label files."""

from __future__ import annotations

from pathlib import Path

import pytest

from ablate.data.covidx import ct_patient_id, read_covidx, read_covidx_ct
from ablate.errors import DataError


def _touch(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        (folder / n).write_bytes(b"")


@pytest.fixture
def covidx(tmp_path: Path) -> Path:
    root = tmp_path / "covidx"
    (root / "train.txt").parent.mkdir()
    (root / "train.txt").write_text(
        "1 a.png COVID-19 cohen\n"
        "2 b.jpeg normal rsna\n\n"
        "3 c.png pneumonia rsna\n"
    )
    (root / "test.txt").write_text("9 t.png COVID-19\n8 u.png normal\n")  # older 3-column lines
    (root / "val.txt").write_text("7 v.png pneumonia sirm\n")  # val images kept in train/
    _touch(root / "train", "a.png", "b.jpeg", "c.png", "v.png")
    _touch(root / "test", "t.png", "u.png")
    return root


def test_read_covidx(covidx: Path) -> None:
    samples = read_covidx(covidx)
    got = [(Path(s.path).relative_to(covidx).as_posix(), s.label, s.patient_id, s.source, s.split) for s in samples]
    assert got == [
        ("train/a.png", "covid", "1", "cohen", "train"),
        ("train/b.jpeg", "normal", "2", "rsna", "train"),
        ("train/c.png", "pneumonia", "3", "rsna", "train"),
        ("train/v.png", "pneumonia", "7", "sirm", "val"),
        ("test/t.png", "covid", "9", "", "test"),
        ("test/u.png", "normal", "8", "", "test"),
    ]


def test_covidx_release_names(tmp_path: Path) -> None:
    (tmp_path / "train_COVIDx9A.txt").write_text("1 a.png COVID-19 cohen\n")
    (tmp_path / "test_COVIDx9A.txt").write_text("2 b.png normal rsna\n")
    _touch(tmp_path / "train", "a.png")
    _touch(tmp_path / "test", "b.png")
    assert [s.split for s in read_covidx(tmp_path)] == ["train", "test"]
    (tmp_path / "train_COVIDx8A.txt").write_text("1 a.png COVID-19 cohen\n")
    with pytest.raises(DataError, match="several train label files"):
        read_covidx(tmp_path)


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("1 a.png", r"train.txt line 2: expected 3 or 4 .* got 2"),
        ("1 a.png COVID-19 cohen extra", r"train.txt line 2: expected 3 or 4 .* got 5"),
        ("1 a.png flu cohen", r"train.txt line 2: unknown label 'flu'"),
    ],
)
def test_covidx_bad_lines(covidx: Path, line: str, match: str) -> None:
    (covidx / "train.txt").write_text(f"0 a.png normal rsna\n{line}\n")
    with pytest.raises(DataError, match=match):
        read_covidx(covidx)


def test_covidx_missing_images(covidx: Path) -> None:
    for n in ("a.png", "b.jpeg", "c.png", "v.png"):
        (covidx / "train" / n).unlink()
    with pytest.raises(DataError, match=r"4 COVIDx image\(s\) .* missing: .*a.png, .*b.jpeg, .*c.png and 1 more") as e:
        read_covidx(covidx)
    assert "\n" not in str(e.value)


def test_covidx_no_label_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no COVIDx label files"):
        read_covidx(tmp_path)


@pytest.fixture
def covidx_ct(tmp_path: Path) -> Path:
    root = tmp_path / "ct"
    root.mkdir()
    (root / "train_COVIDx_CT-3A.txt").write_text(
        "NCP_96_1328_0032.png 2 10 20 200 220\n"
        "NCP_96_1328_0033.png 2 11 21 201 221\n"
        "CP_1_3134_0000.png 1 0 0 512 512\n"
    )
    (root / "val_COVIDx_CT-3A.txt").write_text("Normal_2_5_0010.png 0 5 6 100 120\n")
    (root / "test_COVIDx_CT-3A.txt").write_text("radiopaedia-2311-34534-0-0012.png 2 1 2 3 4\n")
    _touch(root / "3A_images", "NCP_96_1328_0032.png", "NCP_96_1328_0033.png", "CP_1_3134_0000.png",
           "Normal_2_5_0010.png", "radiopaedia-2311-34534-0-0012.png")
    return root


def test_read_covidx_ct(covidx_ct: Path) -> None:
    samples = read_covidx_ct(covidx_ct)
    got = [(Path(s.path).name, s.label, s.patient_id, s.source, s.box, s.split) for s in samples]
    assert got == [
        ("NCP_96_1328_0032.png", "covid", "NCP_96", "cncb", (10, 20, 200, 220), "train"),
        ("NCP_96_1328_0033.png", "covid", "NCP_96", "cncb", (11, 21, 201, 221), "train"),
        ("CP_1_3134_0000.png", "pneumonia", "CP_1", "cncb", (0, 0, 512, 512), "train"),
        ("Normal_2_5_0010.png", "normal", "Normal_2", "cncb", (5, 6, 100, 120), "val"),
        ("radiopaedia-2311-34534-0-0012.png", "covid", "radiopaedia-2311", "radiopaedia", (1, 2, 3, 4), "test"),
    ]
    assert all(Path(s.path).parent.name == "3A_images" for s in samples)


def test_covidx_ct_plain_names_and_root_images(tmp_path: Path) -> None:
    (tmp_path / "train.txt").write_text("CP_1_3134_0000.png 1 0 0 9 9\n")
    (tmp_path / "test.txt").write_text("CP_2_3135_0001.png 1 0 0 9 9\n")
    _touch(tmp_path, "CP_1_3134_0000.png", "CP_2_3135_0001.png")
    assert [s.split for s in read_covidx_ct(tmp_path)] == ["train", "test"]


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("CP_1_3134_0000.png 1 0 0 9", r"train_COVIDx_CT-3A.txt line 2: expected 6 .* got 5"),
        ("CP_1_3134_0000.png 3 0 0 9 9", r"line 2: class 3 is not 0, 1 or 2"),
        ("CP_1_3134_0000.png 1 0 0 x 9", r"line 2: class and box must be integers"),
        ("CP_1_3134_0000.png 1 9 0 9 9", r"line 2: box 9 0 9 9 is empty"),
    ],
)
def test_covidx_ct_bad_lines(covidx_ct: Path, line: str, match: str) -> None:
    (covidx_ct / "train_COVIDx_CT-3A.txt").write_text(f"CP_1_3134_0000.png 1 0 0 9 9\n{line}\n")
    with pytest.raises(DataError, match=match):
        read_covidx_ct(covidx_ct)


def test_covidx_ct_missing_image(covidx_ct: Path) -> None:
    (covidx_ct / "3A_images" / "CP_1_3134_0000.png").unlink()
    with pytest.raises(DataError, match=r"1 COVIDx-CT image\(s\) .* missing: .*3A_images/CP_1_3134_0000.png;"):
        read_covidx_ct(covidx_ct)


@pytest.mark.parametrize(
    ("name", "patient"),
    [
        ("NCP_96_1328_0032.png", "NCP_96"),
        ("CP_1_3134_0000.png", "CP_1"),
        ("Normal_2712_123_0042.png", "Normal_2712"),
        ("radiopaedia-2311-34534-0-0012.png", "radiopaedia-2311"),
        ("LIDC-IDRI-0001-1.3.6.1.4.1.14519.5.2.1.6279.6001.1790-0042.png", "LIDC-IDRI-0001"),
        ("volume-covid19-A-0003-0100.png", "volume-covid19-A-0003"),
        ("HUST-Patient1-0012.png", "HUST-Patient1"),
        ("coronacases_001-0120.png", "coronacases_001"),
        ("plain.png", "plain"),
    ],
)
def test_ct_patient_id(name: str, patient: str) -> None:
    assert ct_patient_id(name) == patient
