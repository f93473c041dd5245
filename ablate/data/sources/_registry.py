"""The source registry: one reader per public data set, its metadata as data.

A reader is a function ``read(path) -> list[Sample]`` registered with
``@register_source("ds1", name=..., title=..., table1={label: count})``; duplicates raise.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from ablate.data.samples import Sample
from ablate.errors import ConfigError

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

Reader = Callable[[Path], list[Sample]]


@dataclass(frozen=True)
class SourceSpec:
    """One public source.

    Attributes:
        key: its key on the command line (``ds1``).
        name: its name in the manifest's ``source`` column (``DS1``).
        title: what it is called where it is published, for messages.
        table1: images per class that Table 1 of the paper takes from it (its classes, in order).
        reader: ``read(path) -> list[Sample]`` over the folder it was unpacked into.
    """

    key: str
    name: str
    title: str
    table1: Mapping[str, int]
    reader: Reader

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.table1)


_REGISTRY: dict[str, SourceSpec] = {}


def natural_key(text: str) -> list[int | str]:
    """Sort key that orders ``img2`` before ``img10``."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", text)]


def register_source(
    key: str, *, title: str, table1: Mapping[str, int], name: str | None = None
) -> Callable[[Reader], Reader]:
    """Register a reader under `key` (lower case); duplicates raise.

    Args:
        title: the source's published name, for messages.
        table1: images per class Table 1 takes from the source (``{"covid": 478}``).
        name: its name in the manifest (default: `key` upper-cased).
    """

    def deco(fn: Reader) -> Reader:
        k = key.strip().lower()
        if k in _REGISTRY:
            raise ValueError(f"source {k!r} is already registered")
        _REGISTRY[k] = SourceSpec(k, name or k.upper(), title, MappingProxyType(dict(table1)), fn)
        return fn

    return deco


def list_sources() -> list[str]:
    """Keys of every registered source, in natural order (ds1 ... ds7)."""
    return sorted(_REGISTRY, key=natural_key)


def source_specs() -> list[SourceSpec]:
    """Every registered source, in the order of `list_sources`."""
    return [_REGISTRY[k] for k in list_sources()]


def get_source(key: str) -> SourceSpec:
    """The source registered under `key` (any case).

    Raises:
        ConfigError: no such source (one line naming the known ones).
    """
    spec = _REGISTRY.get(key.strip().lower())
    if spec is None:
        known = ", ".join(f"{s.key} ({s.title})" for s in source_specs())
        raise ConfigError(f"unknown source {key!r}; sources are {known}")
    return spec


def read_source(key: str, path: str | Path) -> list[Sample]:
    """All candidate images of one source, each path once, in natural order of the paths."""
    samples = get_source(key).reader(Path(path).expanduser())
    unique = {s.path: s for s in samples}
    return sorted(unique.values(), key=lambda s: natural_key(s.path))
