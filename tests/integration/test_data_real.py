"""The real chest X-rays in ../shared/data/cxr5-real through the manifest."""

from __future__ import annotations

import pytest

from ablate.config import DataConfig
from ablate.data import prepare_data

pytestmark = [pytest.mark.real_data, pytest.mark.slow]


@pytest.mark.parametrize(("scenario", "k"), [("cxr5", 5), ("cxr4", 4), ("cxr3", 3)])
def test_real_manifest_decodes_and_splits_by_patient(real_data, tmp_path, scenario, k):
    cfg = DataConfig(path=str(real_data / "manifest.csv"), scenario=scenario, test_per_class=20, cache_dir=str(tmp_path))
    d = prepare_data(cfg, 32)
    assert len(d.class_names) == k
    assert len(d.train.labels) + len(d.val.labels) + len(d.test.labels) == 600
    assert d.train.images.shape[1:] == (3, 32, 32) and int(d.train.images.max()) > 200
    assert (d.test.labels.bincount() == 20).all()
    patients = [{s.patient_id for s in part.samples if s.patient_id.startswith("ds7")} for part in (d.train, d.val, d.test)]
    assert not (patients[0] & patients[1]) and not (patients[0] & patients[2]) and not (patients[1] & patients[2])
