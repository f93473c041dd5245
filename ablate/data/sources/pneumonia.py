"""The pneumonia source DS7: Kermany's chest_xray set (bacterial and viral)."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from ablate.data.samples import Sample
from ablate.data.sources._layout import need_dir, unique_names, walk_images
from ablate.data.sources._registry import register_source
from ablate.errors import DataError

_DS7 = re.compile(r"^person(\d+)_(bacteria|virus)_\d+\.jpe?g$", re.IGNORECASE)


@register_source(
    "ds7",
    title="Kermany pneumonia set (chest_xray)",
    table1={"bacterial_pneumonia": 1700, "viral_pneumonia": 1345},
)
def read_ds7(path: Path) -> list[Sample]:
    """Kermany: ``person<N>_{bacteria,virus}_<M>.jpeg`` anywhere below.

    Person ids are shared across its train/test/val folders, so one ``person<N>`` is one
    patient; a person in both classes counts as bacterial (their viral images are left out).
    """
    need_dir(path, "ds7")
    files = unique_names([f for f in walk_images(path) if _DS7.match(f.name)])
    if not files:
        raise DataError(
            f"--source ds7={path}: no person<N>_bacteria_<M>.jpeg / person<N>_virus_<M>.jpeg files "
            "found under it; point it at chest_xray/"
        )
    kinds: dict[str, set[str]] = defaultdict(set)
    parsed = []
    for f in files:
        m = _DS7.match(f.name)
        person, kind = m.group(1), m.group(2).lower()
        kinds[person].add(kind)
        parsed.append((f, person, kind))
    return [
        Sample(
            str(f),
            "bacterial_pneumonia" if kind == "bacteria" else "viral_pneumonia",
            f"ds7-person{person}",
            "DS7",
        )
        for f, person, kind in parsed
        if kind == "bacteria" or "bacteria" not in kinds[person]
    ]
