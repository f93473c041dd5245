"""`ablate data build cxr5`: native source layouts in, one manifest out."""

from __future__ import annotations

import csv
import itertools
import json
from collections import Counter
from pathlib import Path

import pytest
from conftest_sources import SourceTrees, make_sources

from ablate.cli_data import parse_caps, parse_sources
from ablate.data.build import TABLE1, build_cxr5, evenly_spaced
from ablate.data.samples import read_manifest
from ablate.data.sources import read_source
from ablate.errors import ConfigError, DataError

pytestmark = pytest.mark.real_data


@pytest.fixture
def trees(tmp_path: Path, real_data: Path) -> SourceTrees:
    return make_sources(tmp_path / "src", real_data)


def _counts(samples) -> Counter:
    return Counter((s.source, s.label) for s in samples)


def test_all_sources_one_level_above(trees: SourceTrees, tmp_path: Path) -> None:
    out = tmp_path / "cxr5"
    report = build_cxr5(trees.parent, out, test_per_class=4, seed=0)
    samples = read_manifest(out / "manifest.csv")
    assert _counts(samples) == trees.expected
    assert all(Path(s.path).is_file() and Path(s.path).is_symlink() for s in samples)
    for src, ids in trees.patients.items():
        assert {s.patient_id for s in samples if s.source == src} == ids
    assert {s.patient_id for s in samples if s.source in ("DS4", "DS6")} == {""}
    assert {s.patient_id for s in samples if s.source == "DS5"} >= {
        "ds5-MCUCXR_0001_1",
        "ds5-CHNCXR_0001_1",
    }
    names = {Path(s.path).name for s in samples}
    assert (
        Path(trees.virus_of_bacterial_person).name not in names
    )  # a person in both classes: bacterial only
    assert not any(n.startswith("._") or "_0.png" in n or "Lung_Opacity" in n for n in names)
    assert not any("masks" in s.path for s in samples)
    # patient-grouped test split, 4 per class
    assert Counter(s.label for s in samples if s.split == "test") == dict.fromkeys(
        ("covid", "normal", "tuberculosis", "bacterial_pneumonia", "viral_pneumonia"), 4
    )
    split_of = {}
    for s in samples:
        if s.patient_id:
            assert split_of.setdefault(s.patient_id, s.split) == s.split, (
                f"{s.patient_id} in train and test"
            )
    # report: built vs Table 1, written beside the manifest
    rows = {(r.source, r.label): r for r in report.rows}
    assert rows[("DS1", "covid")].built == 7 and rows[("DS1", "covid")].short == 478 - 7
    assert json.loads((out / "build.json").read_text())["rows"][0]["short"] == 478 - 7
    assert (out / "skipped.csv").read_text().splitlines() == ["path,source,label,reason"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left


def test_unpacked_folders_read_directly(trees: SourceTrees) -> None:
    for key, path in trees.unpacked.items():
        samples = read_source(key, path)
        assert Counter(s.label for s in samples) == {
            label: n for (src, label), n in trees.expected.items() if src == key.upper()
        }


def test_missing_sources_are_reported_short(trees: SourceTrees, tmp_path: Path) -> None:
    report = build_cxr5(
        {"ds4": trees.parent["ds4"], "ds7": trees.unpacked["ds7"]},
        tmp_path / "out",
        test_per_class=2,
    )
    rows = {(r.source, r.label): r for r in report.rows}
    assert rows[("DS5", "tuberculosis")].built == 0 and rows[("DS5", "tuberculosis")].short == 394
    assert "not given" in rows[("DS1", "covid")].note
    assert report.by_class()["tuberculosis"] == (
        0,
        TABLE1[("DS5", "tuberculosis")] + TABLE1[("DS6", "tuberculosis")],
    )
    assert any(line.startswith("DS6 tuberculosis: 0 of 1042") for line in report.short_lines())
    assert _counts(read_manifest(report.manifest)) == {
        k: v for k, v in trees.expected.items() if k[0] in ("DS4", "DS7")
    }


def test_caps_deterministic_and_evenly_spaced(trees: SourceTrees, tmp_path: Path) -> None:
    caps = parse_caps(["ds4.normal=5", "ds7.bacterial=4", "ds6=3"])
    srcs = {k: trees.parent[k] for k in ("ds4", "ds6", "ds7")}
    a = build_cxr5(srcs, tmp_path / "a", test_per_class=0, caps=caps, seed=1, link=False)
    b = build_cxr5(srcs, tmp_path / "b", test_per_class=0, caps=caps, seed=1)
    sa, sb = read_manifest(a.manifest), read_manifest(b.manifest)
    c = _counts(sa)
    assert (
        c[("DS4", "normal")],
        c[("DS7", "bacterial_pneumonia")],
        c[("DS6", "tuberculosis")],
    ) == (5, 4, 3)
    assert c[("DS4", "covid")] == 10  # uncapped class of the same source
    assert [Path(s.path).name for s in sa] == [
        Path(s.path).name for s in sb
    ]  # same seed, same picks
    assert not Path(sa[0].path).is_symlink() and Path(sb[0].path).is_symlink()  # --copy / --link
    assert {s.split for s in sa} == {"train"}
    assert {(r.source, r.label): r.note for r in a.rows}[("DS4", "normal")] == "capped at 5"


def test_evenly_spaced() -> None:
    idx = evenly_spaced(100, 10, "s")
    assert idx == evenly_spaced(100, 10, "s") and len(set(idx)) == 10 and idx == sorted(idx)
    assert all(9 <= b - a <= 11 for a, b in itertools.pairwise(idx))
    assert evenly_spaced(5, 10) == [0, 1, 2, 3, 4] and evenly_spaced(5, 0) == []


def test_bad_keys_are_one_line_errors() -> None:
    with pytest.raises(ConfigError, match=r"unknown source 'ds8'; sources are ds1 .*ds7") as e:
        parse_sources(["ds8=/x"])
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="ds1=PATH"):
        parse_sources(["ds1"])
    with pytest.raises(ConfigError, match="given twice"):
        parse_sources(["ds1=/a", "DS1=/b"])
    with pytest.raises(ConfigError, match="ds7 has class"):
        parse_caps(["ds7.normal=3"])
    with pytest.raises(ConfigError, match="count >= 0"):
        parse_caps(["ds7.bacterial=many"])


def test_wrong_layout_names_the_source(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        DataError, match=r"--source ds1=.*metadata.csv .*not found there or one level below"
    ):
        read_source("ds1", tmp_path / "empty")
    with pytest.raises(DataError, match=r"--source ds7=.*no such folder"):
        read_source("ds7", tmp_path / "nope")


def _corrupt(trees: SourceTrees) -> Path:
    bad = trees.unpacked["ds4"] / "COVID" / "images" / "COVID-5.png"
    bad.write_bytes(
        Path(trees.unpacked["ds4"] / "COVID" / "images" / "COVID-1.png").read_bytes()[:3000]
    )
    return bad


def test_corrupt_image_fails_and_leaves_nothing(trees: SourceTrees, tmp_path: Path) -> None:
    bad = _corrupt(trees)
    out = tmp_path / "out"
    with pytest.raises(DataError, match=r"1 unreadable image\(s\): .*COVID-5.png .*--skip-bad"):
        build_cxr5({"ds4": trees.parent["ds4"]}, out, test_per_class=2)
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["src"]
    assert bad.exists()


def test_skip_bad_replaces_and_records(trees: SourceTrees, tmp_path: Path) -> None:
    bad = _corrupt(trees)
    report = build_cxr5(
        {"ds4": trees.parent["ds4"]},
        tmp_path / "out",
        test_per_class=2,
        skip_bad=True,
        caps={"ds4.covid": 9},
    )
    samples = read_manifest(report.manifest)
    assert (
        _counts(samples)[("DS4", "covid")] == 9
    )  # the unreadable pick was replaced by another candidate
    assert "COVID-5.png" not in {Path(s.path).name for s in samples}
    with (report.out / "skipped.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [Path(r["path"]).name for r in rows] == [bad.name] and rows[0]["label"] == "covid"


def test_out_folder_rules(trees: SourceTrees, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "precious.txt").write_text("keep")
    with pytest.raises(DataError, match="not an earlier `ablate data build` output"):
        build_cxr5({"ds6": trees.parent["ds6"]}, other, test_per_class=1)
    out = tmp_path / "out"
    build_cxr5({"ds6": trees.parent["ds6"]}, out, test_per_class=1)
    build_cxr5({"ds5": trees.parent["ds5"]}, out, test_per_class=1)  # an earlier build is replaced
    assert {s.source for s in read_manifest(out / "manifest.csv")} == {"DS5"}


def test_cli_build(trees: SourceTrees, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ablate.cli import app

    out = tmp_path / "cli"
    args = [
        "data",
        "build",
        "cxr5",
        "--source",
        f"ds4={trees.parent['ds4']}",
        "--source",
        f"ds7={trees.parent['ds7']}",
        "--out",
        str(out),
        "--test-per-class",
        "2",
        "--cap",
        "ds4.normal=6",
    ]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "short of Table 1" in res.output and "DS1 covid: 0 of 478" in res.output
    assert _counts(read_manifest(out / "manifest.csv"))[("DS4", "normal")] == 6
    res = CliRunner().invoke(
        app, ["data", "build", "cxr5", "--source", "ds9=/x", "--out", str(out)]
    )
    assert isinstance(res.exception, ConfigError)


def test_old_ds4_layout_and_odd_test_counts(trees: SourceTrees, tmp_path: Path) -> None:
    old = tmp_path / "old" / "COVID-19 Radiography Database"
    for cls, folder in (("COVID", "COVID-19"), ("Normal", "NORMAL")):
        (old / folder).mkdir(parents=True)
        for f in sorted((trees.unpacked["ds4"] / cls / "images").iterdir())[:5]:
            (old / folder / f.name.replace("-", " (").replace(".png", ").png")).symlink_to(
                f.resolve()
            )
    assert Counter(s.label for s in read_source("ds4", tmp_path / "old")) == {
        "covid": 5,
        "normal": 5,
    }
    # DS7 bacterial patients all have two images: 3 test images cannot be made of whole patients
    report = build_cxr5({"ds7": trees.parent["ds7"]}, tmp_path / "out", test_per_class=3)
    test = Counter(s.label for s in read_manifest(report.manifest) if s.split == "test")
    assert test == {"bacterial_pneumonia": 2, "viral_pneumonia": 3}
    assert any("whole patients give 2 test images, not 3" in n for n in report.notes)


def test_no_source_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no source given"):
        build_cxr5({}, tmp_path / "out")
