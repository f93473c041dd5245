"""The report's search summary on a sweep's trials rows: compact values, subset importances."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ablate.report.tables import search_summary
from ablate.results.store import Results
from ablate.search.translate import display_value, subset_indicators

TAPS = [f"features.{i}" for i in range(6)]


def test_display_value_compacts_taps_and_floats():
    assert display_value(json.dumps(["features.0", "features.3", "features.12"])) == "features.{0,3,12}"
    assert display_value(json.dumps(["maxpool", "layer1"])) == "maxpool,layer1"
    assert display_value(0.000123456) == "0.0001235" and display_value(16) == "16"
    assert display_value("static") == "static"


def test_subset_indicators_one_boolean_per_element():
    col = pd.Series([json.dumps(["a.1", "a.2"]), json.dumps(["a.2"])], name="taps")
    assert subset_indicators(col) == {"taps[a.1]": [True, False], "taps[a.2]": [True, True]}
    assert subset_indicators(pd.Series(["static", "dynamic"], name="gate")) is None


def test_importances_find_the_tap_that_matters():
    """val_acc depends on whether features.3 is tapped; the summary must name that tap."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(40):
        chosen = [t for t in TAPS if rng.random() < 0.5] or ["features.0"]
        acc = 0.5 + 0.3 * ("features.3" in chosen) + 0.01 * rng.random()
        rows.append({"trial_id": f"s-{i}", "status": "ok", "val_acc": acc, "test_acc": acc,
                     "space.fusion.taps": json.dumps(chosen),
                     "space.fusion.dropout": float(rng.random())})
    section = search_summary(Results({"trials": pd.DataFrame(rows)}, Path(".")))
    assert section is not None
    # trials rows without a config: each is its own configuration, one seed
    assert list(section.table.columns) == ["config", "trials", "seeds", "val_acc", "test_acc", "fusion.taps", "fusion.dropout"]
    assert all(v.startswith("features.{") for v in section.table["fusion.taps"])
    assert set(section.table.trials) <= {f"s-{i}" for i in range(40)}  # one trial per config here
    note = section.notes[-1]
    first = note.split(": ", 1)[1].split(",")[0]
    assert first.startswith("fusion.taps[features.3]"), note
