"""Class scenarios: source labels mapped to the paper's 5, 4 or 3 classes.

Class order (the class index) is fixed per scenario:

- ``cxr5``: covid, tuberculosis, normal, bacterial_pneumonia, viral_pneumonia
- ``cxr4``: covid, pneumonia (bacterial + viral), tuberculosis, normal
- ``cxr3``: covid, non_covid_infection (bacterial + viral + tuberculosis), normal
- ``none``: the labels as they are, sorted

Source labels are matched case- and punctuation-insensitively through aliases
(``COVID-19``, ``covid19``, ``TB``, ``Bacterial Pneumonia``, ``pneumonia_viral``, ...). A plain
``pneumonia`` label (COVIDx, COVIDx-CT) is accepted by cxr4 and cxr3, not by cxr5.
"""

from __future__ import annotations

import re
from collections import Counter

from ablate.data.samples import Sample
from ablate.errors import DataError

__all__ = [
    "CXR3",
    "CXR4",
    "CXR5",
    "SCENARIOS",
    "apply_scenario",
    "canonical_label",
    "scenario_classes",
]

CXR5 = ("covid", "tuberculosis", "normal", "bacterial_pneumonia", "viral_pneumonia")
CXR4 = ("covid", "pneumonia", "tuberculosis", "normal")
CXR3 = ("covid", "non_covid_infection", "normal")

# scenario -> (class names in index order, canonical source label -> class)
SCENARIOS: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "cxr5": (CXR5, {c: c for c in CXR5}),
    "cxr4": (
        CXR4,
        {
            "covid": "covid",
            "tuberculosis": "tuberculosis",
            "normal": "normal",
            "pneumonia": "pneumonia",
            "bacterial_pneumonia": "pneumonia",
            "viral_pneumonia": "pneumonia",
        },
    ),
    "cxr3": (
        CXR3,
        {
            "covid": "covid",
            "normal": "normal",
            "non_covid_infection": "non_covid_infection",
            "tuberculosis": "non_covid_infection",
            "pneumonia": "non_covid_infection",
            "bacterial_pneumonia": "non_covid_infection",
            "viral_pneumonia": "non_covid_infection",
        },
    ),
}

# squashed spelling (lower case, letters and digits only) -> canonical source label
_ALIASES = {
    **dict.fromkeys(
        ["covid", "covid19", "covid2019", "sarscov2", "covid19pneumonia", "covidpneumonia"], "covid"
    ),
    **dict.fromkeys(
        ["tb", "tuberculosis", "activetuberculosis", "activetb", "pulmonarytuberculosis"],
        "tuberculosis",
    ),
    **dict.fromkeys(["normal", "healthy", "nofinding"], "normal"),
    **dict.fromkeys(
        ["bacterialpneumonia", "pneumoniabacterial", "pneumoniabacteria", "bacteria", "bacterial"],
        "bacterial_pneumonia",
    ),
    **dict.fromkeys(
        ["viralpneumonia", "pneumoniaviral", "pneumoniavirus", "virus", "viral"], "viral_pneumonia"
    ),
    **dict.fromkeys(["pneumonia", "noncovidpneumonia", "noncovid19pneumonia", "cap"], "pneumonia"),
    **dict.fromkeys(["noncovidinfection", "noncovid19infection"], "non_covid_infection"),
}


def canonical_label(label: str) -> str:
    """'COVID-19', 'Bacterial Pneumonia', 'TB' -> 'covid', 'bacterial_pneumonia', 'tuberculosis'.

    Unknown labels come back cleaned (lower case, ``_`` between words).
    """
    key = re.sub(r"[^a-z0-9]+", "_", label.strip().lower()).strip("_")
    return _ALIASES.get(key.replace("_", ""), key)


def scenario_classes(scenario: str) -> list[str]:
    """The class names of `scenario` in index order (not defined for ``none``)."""
    if scenario not in SCENARIOS:
        raise DataError(f"unknown scenario {scenario!r}; use one of {', '.join(SCENARIOS)} or none")
    return list(SCENARIOS[scenario][0])


def apply_scenario(samples: list[Sample], scenario: str) -> tuple[list[str], list[int]]:
    """Class names (index order) and the class index of every sample.

    Raises:
        DataError: a label the scenario does not know, or a class with no images.
    """
    if scenario == "none":
        names = sorted({s.label for s in samples})
        index = {n: i for i, n in enumerate(names)}
        return names, [index[s.label] for s in samples]
    names = scenario_classes(scenario)
    mapping = SCENARIOS[scenario][1]
    index = {n: i for i, n in enumerate(names)}
    labels: list[int] = []
    unknown: Counter[str] = Counter()
    for s in samples:
        cls = mapping.get(canonical_label(s.label))
        if cls is None:
            unknown[s.label] += 1
        else:
            labels.append(index[cls])
    if unknown:
        raise DataError(_unknown_message(unknown, samples, scenario, mapping))
    counts = Counter(labels)
    empty = [n for i, n in enumerate(names) if counts[i] == 0]
    if empty:
        have = ", ".join(f"{names[i]} {counts[i]}" for i in sorted(counts))
        raise DataError(
            f"class(es) {', '.join(empty)} of scenario {scenario} have no images "
            f"(found: {have or 'none'}); "
            "add images of that class or choose another data.scenario"
        )
    return names, labels


def _unknown_message(
    unknown: Counter[str], samples: list[Sample], scenario: str, mapping: dict[str, str]
) -> str:
    label, n = unknown.most_common(1)[0]
    example = next(s.path for s in samples if s.label == label)
    rest = [k for k in unknown if k != label]
    others = (
        f" (and {len(unknown) - 1} other unknown label(s): {', '.join(sorted(rest)[:5])})"
        if len(unknown) > 1
        else ""
    )
    hint = (
        " ('pneumonia' does not say bacterial or viral: use data.scenario: cxr4 or cxr3)"
        if canonical_label(label) == "pneumonia"
        else ""
    )
    return (
        f"label {label!r} ({n} image(s), e.g. {example}) is not a label of scenario "
        f"{scenario}{others}{hint}; "
        f"known labels: {', '.join(sorted(mapping))} (any case, spaces or dashes); "
        "use data.scenario: none to keep labels as they are"
    )
