"""What `ablate data build` made: one row per (source, class) against Table 1 of the paper."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from ablate.data.scenarios import CXR5

__all__ = ["BuildReport", "BuildRow"]


@dataclass
class BuildRow:
    """What was built for one (source, class)."""

    source: str
    label: str
    available: int  # candidates found in the source (0 when the source was not given)
    target: int  # the cap: Table 1's count unless overridden
    built: int  # images in the manifest
    test: int  # of which in the test split
    table1: int
    note: str = ""

    @property
    def short(self) -> int:
        """Images missing to reach Table 1's count."""
        return max(0, self.table1 - self.built)


@dataclass
class BuildReport:
    """Summary of a build: rows per (source, class), skipped files, warnings."""

    out: Path
    rows: list[BuildRow]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (original path, reason)
    notes: list[str] = field(default_factory=list)

    @property
    def manifest(self) -> Path:
        return self.out / "manifest.csv"

    def by_class(self) -> dict[str, tuple[int, int]]:
        """label -> (built, Table 1 count)."""
        out: dict[str, list[int]] = {c: [0, 0] for c in CXR5}
        for r in self.rows:
            out[r.label][0] += r.built
            out[r.label][1] += r.table1
        return {k: (v[0], v[1]) for k, v in out.items()}

    def short_lines(self) -> list[str]:
        """One line per (source, class) short of Table 1."""
        return [
            f"{r.source} {r.label}: {r.built} of {r.table1} ({r.note or 'too few images'})"
            for r in self.rows
            if r.short
        ]

    def to_dict(self) -> dict:
        return {
            "out": str(self.out),
            "rows": [{**asdict(r), "short": r.short} for r in self.rows],
            "skipped": [{"path": p, "reason": why} for p, why in self.skipped],
            "notes": self.notes,
        }
