"""Shortcut checks on real chest X-rays (../shared/data/cxr5-real, four COVID sources): the source
probe, a masked-lung trial and a leave-one-source-out run complete and the report's section
shows them. CI-cheap: 32 px, one or two epochs, one seed."""

from __future__ import annotations

import pandas as pd
import pytest

from ablate import api
from ablate.errors import DataError
from ablate.report import make_report
from ablate.runners.local_probes import loso_sources, run_leave_one_source_out, run_source_probe

pytestmark = [pytest.mark.slow, pytest.mark.real_data, pytest.mark.usefixtures("one_thread")]

SMALL = ["backbone=mobilenet_v3_small", "input_size=32", "batch_size=16", "bn_momentum=0.1", "epochs=1",
         "phases=[{optimizer: adam, lr: 0.001}]", "seeds=[0]", "data.test_per_class=10", "device=cpu"]


def test_probe_masked_lungs_and_leave_one_source_out_on_real_images(real_data, tmp_path):
    data = str(real_data / "manifest.csv")
    assert loso_sources("cxr5-sweep", data=data) == (["DS1", "DS2", "DS3"], ["DS1", "DS2", "DS3", "DS4", "DS7", "TBX11K"])
    with pytest.raises(DataError, match="source 'DS7' is the only source of a class.*can be held out: DS1, DS2, DS3"):
        run_leave_one_source_out("cxr5-sweep", sources=["DS7"], data=data)
    with pytest.raises(DataError, match="source 'DS9' is not in the data"):
        run_leave_one_source_out("cxr5-sweep", sources=["DS9"], data=data)

    res = tmp_path / "res"
    probe = run_source_probe(data, within="covid", results=res,
                             overrides=["input_size=32", "epochs=2", "seeds=[0]", "device=cpu"])
    assert probe.status.tolist() == ["ok"] and probe.n_test.iloc[0] >= 20
    api.run_trials("cxr5-ablation", overrides=SMALL, data=data, results=res, variants=["base", "lungs-masked"])
    run_leave_one_source_out("cxr5-ablation", sources=["DS2"], overrides=SMALL, data=data, results=res)  # base: kept

    make_report(res, "csv", tmp_path / "csv")
    rows = pd.read_csv(tmp_path / "csv" / "shortcuts.csv").set_index("check")
    assert set(rows.index) == {"source probe", "masked lungs", "leave-one-source-out"}
    probe_row, masked, loso = rows.loc["source probe"], rows.loc["masked lungs"], rows.loc["leave-one-source-out"]
    assert probe_row.dataset == "cxr5-real" and probe_row.what == "covid: DS1 vs DS2 vs DS3 vs DS4"
    assert probe_row.reference.startswith("chance (DS4)") and 0 < probe_row["reference_%"] < 100
    assert masked.what == "data.mask lungs" and masked.test_images == 50 and masked["reference_ci_%"].startswith("[")
    assert loso.what == "held out DS2 (covid)" and loso.test_images == 15
    assert "held-out sensitivity: covid" in loso.detail and "in distribution: covid" in loso.detail
    assert loso["gap_%"] == pytest.approx(loso["reference_%"] - loso["result_%"], abs=0.02)
    for r in (probe_row, masked, loso):
        lo, hi = (float(v) for v in r["ci_%"].strip("[]").split(","))
        assert 0 <= lo <= r["result_%"] <= hi <= 100 and isinstance(r.meaning, str) and r.meaning
    make_report(res, "md", tmp_path / "md")
    text = (tmp_path / "md" / "report.md").read_text()
    assert "Shortcut checks" in text and "does not show that the model uses pathology" in text
    ablation = pd.read_csv(tmp_path / "csv" / "ablation.csv")
    assert sorted(ablation.variant) == ["base", "lungs-masked"]  # leave-one-source-out reused the base run
