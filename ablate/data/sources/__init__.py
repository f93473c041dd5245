"""The public chest X-ray sources CXR-5 is built from, one registered reader each.

    read_source("ds4", "~/data/COVID-19_Radiography_Dataset")  # -> list[Sample]
    list_sources()                                             # ["ds1", ..., "ds7"]

Each reader takes the folder a source was unpacked into (or one level above it) in the
source's native layout and returns its candidate images with labels, patient ids prefixed
with the source key (``ds1-<patientid>``, ``ds7-person<N>``; DS4 and DS6 give none) and the
source's manifest name (``DS1``). A new source is one function under ``@register_source``.
"""

from __future__ import annotations

from ablate.data.sources import covid, pneumonia, tuberculosis  # noqa: F401  (registers the readers)
from ablate.data.sources._registry import (
    Reader,
    SourceSpec,
    get_source,
    list_sources,
    natural_key,
    read_source,
    register_source,
    source_specs,
)

__all__ = [
    "Reader",
    "SourceSpec",
    "get_source",
    "list_sources",
    "natural_key",
    "read_source",
    "register_source",
    "source_specs",
]
