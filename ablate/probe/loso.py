"""Leave-one-source-out: which sources of a dataset can be held out (one trial each, plus the
in-distribution trial of the same configuration).

``data.hold_out_source: each`` asks for those runs from a config file; the study plan
(`ablate.study`) resolves it from the data's list of images (`each_source`) before anything
trains, and ``ablate probe loso`` runs them here (`ablate.runners.local_probes`).

The trials are ordinary ``ablate trial`` runs (rows in the ``trials`` table) that differ only in
``data.hold_out_source``; the report's "Shortcut checks" section pairs each with the
in-distribution run. On a cluster the same study is a grid axis of a sweep
(``data.hold_out_source: {grid: [null, DS1, ...]}``, `search_spaces/cxr5-loso.yaml`).
"""

from __future__ import annotations

from ablate.config import DataConfig
from ablate.data.listing import load_samples
from ablate.data.scenarios import apply_scenario
from ablate.data.splits import holdable_sources
from ablate.errors import DataError

__all__ = ["EACH", "each_source", "holdable"]


EACH = "each"  # data.hold_out_source: each - one run per source that can be held out


def holdable(data: DataConfig) -> tuple[list[str], list[str]]:
    """(sources that can be held out, every source) of `data` (its list of images; no decoding).

    Raises:
        DataError: the data names no sources.
    """
    samples, desc = load_samples(data)
    _, labels = apply_scenario(samples, data.scenario)
    every = sorted({s.source for s in samples if s.source})
    if not every:
        raise DataError(f"{desc} names no image sources (a manifest's source column): nothing to hold out")
    return holdable_sources(samples, labels), every


def each_source(data: DataConfig) -> list[str]:
    """What ``data.hold_out_source: each`` holds out: every source that is not the only one of a
    class (`ablate.data.splits.holdable_sources`).

    Raises:
        DataError: no source can be held out (no sources, or every class has a single one).
    """
    ok, every = holdable(data)
    if not ok:
        raise DataError(f"data.hold_out_source each: no source can be held out (every class has a single source: "
                        f"{', '.join(every)})")
    return ok
