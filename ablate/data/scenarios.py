"""Class scenarios: the five source labels mapped to the paper's 5, 4 or 3 classes."""

from __future__ import annotations

import re

from ablate.data.samples import Sample
from ablate.errors import DataError

__all__ = ["SCENARIOS", "apply_scenario", "canonical_label"]

CXR5 = ("covid", "tuberculosis", "normal", "bacterial_pneumonia", "viral_pneumonia")

# scenario -> (class names in index order, source label -> class)
SCENARIOS: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "cxr5": (CXR5, {c: c for c in CXR5}),
    "cxr4": (
        ("covid", "pneumonia", "tuberculosis", "normal"),
        {"covid": "covid", "tuberculosis": "tuberculosis", "normal": "normal",
         "bacterial_pneumonia": "pneumonia", "viral_pneumonia": "pneumonia"},
    ),
    "cxr3": (
        ("covid", "non_covid_infection", "normal"),
        {"covid": "covid", "normal": "normal", "tuberculosis": "non_covid_infection",
         "bacterial_pneumonia": "non_covid_infection", "viral_pneumonia": "non_covid_infection"},
    ),
}

_ALIASES = {
    "covid19": "covid", "covid": "covid", "covid_19": "covid",
    "tb": "tuberculosis", "tuberculosis": "tuberculosis",
    "normal": "normal", "healthy": "normal",
    "bacterial_pneumonia": "bacterial_pneumonia", "bacteria": "bacterial_pneumonia", "bacterial": "bacterial_pneumonia",
    "viral_pneumonia": "viral_pneumonia", "virus": "viral_pneumonia", "viral": "viral_pneumonia",
}


def canonical_label(label: str) -> str:
    """'COVID-19', 'Bacterial Pneumonia', 'TB' ... -> the cxr5 label (or the cleaned label)."""
    key = re.sub(r"[^a-z0-9]+", "_", label.strip().lower()).strip("_")
    return _ALIASES.get(key, _ALIASES.get(key.replace("_", ""), key))


def apply_scenario(samples: list[Sample], scenario: str) -> tuple[list[str], list[int]]:
    """Class names (index order) and the class index of every sample.

    Raises:
        DataError: a label the scenario does not know, or a class with no images.
    """
    if scenario == "none":
        names = sorted({s.label for s in samples})
        index = {n: i for i, n in enumerate(names)}
        return names, [index[s.label] for s in samples]
    names, mapping = SCENARIOS[scenario]
    index = {n: i for i, n in enumerate(names)}
    labels = []
    for s in samples:
        cls = mapping.get(canonical_label(s.label))
        if cls is None:
            raise DataError(
                f"label {s.label!r} ({s.path}) is not one of scenario {scenario}'s source labels "
                f"{', '.join(CXR5)}; use data.scenario: none to keep labels as they are"
            )
        labels.append(index[cls])
    empty = [n for i, n in enumerate(names) if i not in set(labels)]
    if empty:
        raise DataError(f"class {empty[0]!r} of scenario {scenario} has no images; add some or choose another scenario")
    return list(names), labels
