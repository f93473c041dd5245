"""The real chest X-rays in ../shared/data/cxr5-real through manifest.csv, at 32 px."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ablate.config import DataConfig
from ablate.data import PreparedData, load_image, prepare_data

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cxr5-real"

pytestmark = [
    pytest.mark.real_data,
    pytest.mark.skipif(
        not (REAL / "manifest.csv").is_file(), reason=f"real chest X-rays not found at {REAL}"
    ),
]


# the scenarios of data.scenario (docs/reference/sweep-file.md): source label -> class, where a scenario merges classes
MERGED = {
    "cxr5": {},
    "cxr4": {"bacterial_pneumonia": "pneumonia", "viral_pneumonia": "pneumonia"},
    "cxr3": dict.fromkeys(
        ["bacterial_pneumonia", "viral_pneumonia", "tuberculosis"], "non_covid_infection"
    ),
}


def _parts(d: PreparedData):
    return (d.train, d.val, d.test)


def _patients(d: PreparedData, prefix: str = "ds7-") -> list[set[str]]:
    return [{s.patient_id for s in p.samples if s.patient_id.startswith(prefix)} for p in _parts(d)]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("real-cache"))


@pytest.mark.parametrize(
    ("scenario", "classes"),
    [
        ("cxr5", ["covid", "tuberculosis", "normal", "bacterial_pneumonia", "viral_pneumonia"]),
        ("cxr4", ["covid", "pneumonia", "tuberculosis", "normal"]),
        ("cxr3", ["covid", "non_covid_infection", "normal"]),
    ],
)
def test_real_manifest_decodes_maps_labels_and_splits_by_patient(cache_dir, scenario, classes):
    d = prepare_data(
        DataConfig(
            path=str(REAL / "manifest.csv"),
            scenario=scenario,
            test_per_class=20,
            cache_dir=cache_dir,
        ),
        32,
    )
    assert d.class_names == classes and d.skipped == []
    assert sum(len(p) for p in _parts(d)) == 600
    assert d.train.images.shape[1:] == (3, 32, 32) and int(d.train.images.max()) > 200
    assert d.test.labels.bincount().tolist() == [20] * len(classes)
    for p in _parts(d):
        for s, y in zip(p.samples, p.labels.tolist(), strict=True):
            assert d.class_names[y] == MERGED[scenario].get(s.label, s.label)
    ds7 = _patients(d)
    assert len(set().union(*ds7)) == 195, "75 bacterial + 120 viral DS7 patients"
    assert not (ds7[0] & ds7[1]) and not (ds7[0] & ds7[2]) and not (ds7[1] & ds7[2])


def test_real_kfold_keeps_patients_together_and_pixels_match_pil(cache_dir):
    cfg = DataConfig(path=str(REAL), test_per_class=20, folds=5, cache_dir=cache_dir)
    vals = []
    for fold in (0, 4):
        d = prepare_data(cfg, 32, fold=fold)
        ds7 = _patients(d)
        assert not (ds7[0] & ds7[1]) and not (ds7[0] & ds7[2]) and not (ds7[1] & ds7[2])
        vals.append({s.path for s in d.val.samples})
    assert not (vals[0] & vals[1])
    for img, s in list(zip(d.test.images, d.test.samples, strict=True))[::25]:
        assert np.array_equal(img.permute(1, 2, 0).numpy(), load_image(s.path, 32))


def test_leave_one_source_out_on_real_images(real_data, tmp_path):
    from ablate.errors import DataError

    cfg = DataConfig(path=str(real_data / "manifest.csv"), hold_out_source="DS1", cache_dir=str(tmp_path))
    d = prepare_data(cfg, 32)
    assert {s.source for s in d.test.samples} == {"DS1"} and len(d.test.labels) == 30
    assert not {s.source for s in d.train.samples + d.val.samples} & {"DS1"}
    assert len(d.train.labels) + len(d.val.labels) == 570
    with pytest.raises(DataError, match="matches no image; sources: DS1, DS2"):
        prepare_data(cfg.model_copy(update={"hold_out_source": "DS9"}), 32)
