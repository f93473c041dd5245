"""The report on real chest X-rays: original vs modified MobileNetV3-small, 3 seeds, paired by seed."""

from __future__ import annotations

import pandas as pd
import pytest

from ablate import api
from ablate.report import make_report

pytestmark = [pytest.mark.slow, pytest.mark.real_data, pytest.mark.usefixtures("one_thread")]

SMALL = [  # CI-cheap: 32 px, one epoch, 10 test images per class
    "backbone=mobilenet_v3_small", "input_size=32", "batch_size=16", "bn_momentum=0.1", "epochs=1",
    "phases=[{optimizer: adam, lr: 0.001}]", "seeds=[0, 1, 2]", "data.test_per_class=10", "device=cpu",
]


def test_real_modified_vs_original_is_paired_by_seed_with_holm(real_data, tmp_path):
    for variant in ("modified", "original"):
        api.run_trials("cxr5-sweep", overrides=[*SMALL, f"variant={variant}"], data=str(real_data / "manifest.csv"),
                       results=tmp_path)
    make_report(tmp_path, "csv", tmp_path / "csv", alpha=0.05)
    (row,) = pd.read_csv(tmp_path / "csv" / "scenarios.csv").to_dict("records")
    assert row["dataset"] == "cxr5-real" and row["scenario"] == "cxr5" and row["seeds"] == 3
    assert row["test_images"] == 50 and row["test"] == "paired t-test over 3 seeds"
    assert row["diff_ci"].startswith("paired t over 3 seeds")
    assert row["diff_%"] == pytest.approx(row["modified_%"] - row["original_%"], abs=0.011)
    lo, hi = (float(v) for v in row["diff_ci_%"].strip("[]").split(","))
    assert -100 <= lo <= row["diff_%"] <= hi <= 100
    assert row["p_holm"] == pytest.approx(row["p"])  # one comparison in the table
    assert row["significant"] == (row["p_holm"] < 0.05)
    assert [s.split(":")[0] for s in row["mcnemar_p_per_seed"].split(", ")] == ["s0", "s1", "s2"]
    assert row["paper_modified_%"] == 99.6 and row["paper_original_%"] == 98.8  # real CXR-5 images
    make_report(tmp_path, "md", tmp_path / "md")
    text = (tmp_path / "md" / "report.md").read_text()
    assert "Fisher's exact p" in text and "too small to tell them apart" in text
