"""The source registry: every CXR-5 source registered once, duplicates refused, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

import ablate.data.sources._registry as registry
from ablate.data.build import TABLE1
from ablate.data.samples import Sample
from ablate.data.scenarios import CXR5
from ablate.data.sources import get_source, list_sources, read_source, register_source, source_specs
from ablate.errors import ConfigError


@pytest.fixture
def scratch_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registrations made in the test are dropped afterwards."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


def test_the_seven_sources_with_table1_metadata() -> None:
    assert list_sources() == [f"ds{i}" for i in range(1, 8)]
    assert sum(TABLE1.values()) == 7592  # Table 1's total
    for spec in source_specs():
        assert spec.name == spec.key.upper() and spec.title and spec.classes
        assert set(spec.classes) <= set(CXR5)
        assert get_source(spec.key.upper()) is spec


def test_duplicate_is_refused(scratch_registry: None) -> None:
    with pytest.raises(ValueError, match="'ds1' is already registered"):
        register_source("ds1", title="again", table1={"covid": 1})(lambda p: [])
    with pytest.raises(ValueError, match="already registered"):
        register_source("DS4", title="again", table1={"covid": 1})(lambda p: [])


def test_every_registered_source_is_listed_and_read(scratch_registry: None, tmp_path: Path) -> None:
    @register_source("ds10", title="A test source", table1={"normal": 2})
    def read(path: Path) -> list[Sample]:
        return [
            Sample(str(path / n), "normal", "", "DS10") for n in ("b10.png", "b2.png", "b2.png")
        ]

    assert list_sources()[-2:] == ["ds7", "ds10"]  # natural order
    assert [s.key for s in source_specs()] == list_sources()
    assert [Path(s.path).name for s in read_source("ds10", tmp_path)] == ["b2.png", "b10.png"]
    with pytest.raises(ConfigError, match="ds10 \\(A test source\\)"):
        get_source("nope")


def test_unknown_source_is_one_line_naming_the_known_ones() -> None:
    with pytest.raises(ConfigError) as e:
        get_source("ds9")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("unknown source 'ds9'; sources are ")
    assert all(f"{k} (" in msg for k in list_sources())
