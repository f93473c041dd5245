"""Class scenarios: cxr5/cxr4/cxr3 label maps, aliases, unknown labels, empty classes."""

from __future__ import annotations

import pytest
from conftest import LABELS

from ablate.data import Sample, apply_scenario, canonical_label
from ablate.errors import DataError

SPELLINGS = ["COVID-19", "Tuberculosis", "normal", "bacterial pneumonia", "Viral_Pneumonia"]


def _samples(labels):
    return [Sample(f"/x/{i}.png", lab) for i, lab in enumerate(labels)]


def test_cxr5_cxr4_cxr3_class_order_and_mapping():
    s = _samples(SPELLINGS)
    assert apply_scenario(s, "cxr5") == (LABELS, [0, 1, 2, 3, 4])
    assert apply_scenario(s, "cxr4") == (
        ["covid", "pneumonia", "tuberculosis", "normal"],
        [0, 2, 3, 1, 1],
    )
    assert apply_scenario(s, "cxr3") == (
        ["covid", "non_covid_infection", "normal"],
        [0, 1, 2, 1, 1],
    )


@pytest.mark.parametrize(
    ("raw", "canon"),
    [
        ("COVID-19", "covid"),
        ("covid19", "covid"),
        ("Covid_19", "covid"),
        ("TB", "tuberculosis"),
        ("Tuberculosis", "tuberculosis"),
        ("bacterial pneumonia", "bacterial_pneumonia"),
        ("Pneumonia-Bacterial", "bacterial_pneumonia"),
        ("virus", "viral_pneumonia"),
        ("NORMAL", "normal"),
        ("Pneumonia", "pneumonia"),
        ("fracture", "fracture"),
    ],
)
def test_aliases_are_case_and_punctuation_insensitive(raw, canon):
    assert canonical_label(raw) == canon


def test_plain_pneumonia_needs_cxr4_or_cxr3():
    s = _samples(["COVID-19", "pneumonia", "normal", "TB"])
    assert apply_scenario(s, "cxr4")[1] == [0, 1, 3, 2]
    assert apply_scenario(s, "cxr3")[1] == [0, 1, 2, 1]
    with pytest.raises(DataError, match="label 'pneumonia'.*cxr4 or cxr3"):
        apply_scenario(s, "cxr5")


def test_unknown_label_names_label_scenario_and_known_labels():
    s = _samples([*SPELLINGS, "fracture", "fracture"])
    with pytest.raises(DataError) as err:
        apply_scenario(s, "cxr4")
    msg = str(err.value)
    assert "label 'fracture' (2 image(s)" in msg and "scenario cxr4" in msg
    assert "bacterial_pneumonia" in msg and "use data.scenario: none" in msg
    assert "\n" not in msg


def test_empty_class_is_an_error():
    with pytest.raises(DataError, match="viral_pneumonia of scenario cxr5 have no images"):
        apply_scenario(_samples(SPELLINGS[:4]), "cxr5")
    assert apply_scenario(_samples(SPELLINGS[:4]), "cxr3")[0] == [
        "covid",
        "non_covid_infection",
        "normal",
    ]


def test_none_keeps_labels_sorted():
    names, labels = apply_scenario(_samples(["b", "a", "fracture", "a"]), "none")
    assert names == ["a", "b", "fracture"] and labels == [1, 0, 2, 0]
