"""Dataset audit: near-duplicates and patients across splits/sources, source shortcuts, image stats.

``audit(manifest_or_samples)`` hashes every image (256-bit dHash), finds near-duplicate
pairs (Hamming distance <= threshold) that cross a split or a source, patients present in
more than one split, the class x source table (a class drawn from a single source is a
shortcut risk: a model can learn the source instead of the disease) and image size / mode
statistics per source. ``leave_one_source_out`` gives folds that measure source learning.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ablate.atomic import atomic_file, atomic_write_text
from ablate.data.phash import hash_files, near_pairs
from ablate.data.samples import Sample
from ablate.errors import DataError

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["AuditReport", "DuplicatePair", "SourceFold", "audit", "leave_one_source_out", "load_samples_for_audit"]

Splits = Mapping[str, Sequence[int]] | Sequence[str] | None


@dataclass(frozen=True)
class DuplicatePair:
    """Two near-identical images that sit in different splits and/or sources."""

    path_a: str
    path_b: str
    distance: int
    split_a: str
    split_b: str
    source_a: str
    source_b: str
    label_a: str
    label_b: str

    @property
    def cross_split(self) -> bool:
        return self.split_a != self.split_b

    @property
    def cross_source(self) -> bool:
        return self.source_a != self.source_b


@dataclass
class AuditReport:
    """What `audit` found; `to_markdown`, `to_dict` and `write` present it."""

    n_images: int
    threshold: int
    hash_kind: str
    pairs: list[DuplicatePair]
    patient_leaks: list[dict[str, Any]]  # patient_id, splits, images
    multi_label_patients: list[dict[str, Any]]  # patient_id, labels
    class_source: dict[str, dict[str, int]]  # label -> source -> images
    shortcut_risks: list[str]  # classes drawn from a single source
    image_stats: list[dict[str, Any]]  # one row per source
    unreadable: list[tuple[str, str]] = field(default_factory=list)

    @property
    def cross_split_pairs(self) -> list[DuplicatePair]:
        return [p for p in self.pairs if p.cross_split]

    @property
    def cross_source_pairs(self) -> list[DuplicatePair]:
        return [p for p in self.pairs if p.cross_source]

    @property
    def ok(self) -> bool:
        """No leak across splits (near-duplicates or patients)."""
        return not self.cross_split_pairs and not self.patient_leaks

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_images": self.n_images,
            "threshold": self.threshold,
            "hash": self.hash_kind,
            "pairs": [{**asdict(p), "cross_split": p.cross_split, "cross_source": p.cross_source} for p in self.pairs],
            "patient_leaks": self.patient_leaks,
            "multi_label_patients": self.multi_label_patients,
            "class_source": self.class_source,
            "shortcut_risks": self.shortcut_risks,
            "image_stats": self.image_stats,
            "unreadable": [{"path": p, "reason": r} for p, r in self.unreadable],
        }

    def summary_lines(self) -> list[str]:
        """The findings in a few lines."""
        return [
            f"{self.n_images} images, {self.hash_kind} Hamming distance <= {self.threshold}",
            f"near-duplicate pairs across splits: {len(self.cross_split_pairs)}",
            f"near-duplicate pairs across sources: {len(self.cross_source_pairs)}",
            f"patients in more than one split: {len(self.patient_leaks)}",
            f"patients with more than one label: {len(self.multi_label_patients)}",
            "classes from a single source (shortcut risk): " + (", ".join(self.shortcut_risks) or "none"),
            f"unreadable images: {len(self.unreadable)}",
        ]

    def table(self) -> Table:
        """A rich class x source table (single-source classes flagged)."""
        from rich.table import Table

        sources = sorted({s for row in self.class_source.values() for s in row})
        t = Table("class", *sources, "total", "risk")
        for label, row in self.class_source.items():
            risk = "[red]single source[/]" if label in self.shortcut_risks else ""
            t.add_row(label, *(str(row.get(s, 0)) for s in sources), str(sum(row.values())), risk)
        return t

    def to_markdown(self, max_rows: int = 50) -> str:
        """A markdown report (long lists cut at `max_rows`; the JSON has everything)."""
        md = ["# Dataset audit", "", *[f"- {line}" for line in self.summary_lines()], ""]
        sources = sorted({s for row in self.class_source.values() for s in row})
        md += ["## Class x source", "", "| class | " + " | ".join(sources) + " | total | risk |",
               "|---|" + "---:|" * (len(sources) + 1) + "---|"]
        for label, row in sorted(self.class_source.items()):
            risk = "single source" if label in self.shortcut_risks else ""
            md.append(f"| {label} | " + " | ".join(str(row.get(s, 0)) for s in sources) + f" | {sum(row.values())} | {risk} |")
        for title, pairs in (("across splits", self.cross_split_pairs), ("across sources (same split)",
                                                                          [p for p in self.pairs if not p.cross_split])):
            md += ["", f"## Near-duplicates {title}: {len(pairs)}", ""]
            if pairs:
                md += ["| distance | image A | split/source/label A | image B | split/source/label B |", "|---:|---|---|---|---|"]
                md += [f"| {p.distance} | {p.path_a} | {p.split_a}/{p.source_a}/{p.label_a} | {p.path_b} | "
                       f"{p.split_b}/{p.source_b}/{p.label_b} |" for p in pairs[:max_rows]]
                if len(pairs) > max_rows:
                    md.append(f"\n({len(pairs) - max_rows} more in the JSON file)")
        md += ["", f"## Patients in more than one split: {len(self.patient_leaks)}", ""]
        md += [f"- {p['patient_id']}: {', '.join(f'{k} {v}' for k, v in p['splits'].items())}" for p in self.patient_leaks[:max_rows]]
        if self.multi_label_patients:
            md += ["", f"## Patients with more than one label: {len(self.multi_label_patients)}", ""]
            md += [f"- {p['patient_id']}: {', '.join(p['labels'])}" for p in self.multi_label_patients[:max_rows]]
        md += ["", "## Images per source", "", "| source | images | modes | formats | width min/median/max | height min/median/max |",
               "|---|---:|---|---|---|---|"]
        for r in self.image_stats:
            md.append(f"| {r['source']} | {r['images']} | {_fmt_counts(r['modes'])} | {_fmt_counts(r['formats'])} | "
                      f"{'/'.join(map(str, r['width']))} | {'/'.join(map(str, r['height']))} |")
        if self.unreadable:
            md += ["", f"## Unreadable images: {len(self.unreadable)}", ""]
            md += [f"- {p}: {r}" for p, r in self.unreadable[:max_rows]]
        return "\n".join(md) + "\n"

    def write(self, path: str | Path) -> list[Path]:
        """Write ``<path>`` (markdown), ``<stem>.json`` and ``<stem>-pairs.parquet`` atomically."""
        path = Path(path)
        json_path = path.with_suffix(".json")
        pq_path = path.with_name(f"{path.stem}-pairs.parquet")
        atomic_write_text(path, self.to_markdown())
        atomic_write_text(json_path, json.dumps(self.to_dict(), indent=1))
        import pandas as pd

        cols = [f.name for f in DuplicatePair.__dataclass_fields__.values()]
        frame = pd.DataFrame([asdict(p) for p in self.pairs], columns=cols)
        with atomic_file(pq_path) as tmp:
            frame.to_parquet(tmp, index=False)
        return [path, json_path, pq_path]


def _fmt_counts(c: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(c.items(), key=lambda kv: -kv[1]))


def load_samples_for_audit(path: str | Path, fmt: str = "auto") -> list[Sample]:
    """Samples of a dataset as trials read it (``data.path`` / ``data.format``): a manifest CSV,
    a folder with ``manifest.csv``, a class-per-folder tree, a COVIDx or COVIDx-CT folder."""
    from ablate.config import DataConfig
    from ablate.data.listing import load_samples

    try:
        cfg = DataConfig(path=str(path), format=fmt)
    except ValueError as e:
        raise DataError(f"cannot audit {path}: {str(e).splitlines()[0]}") from None
    return load_samples(cfg)[0]


def _split_names(samples: list[Sample], splits: Splits) -> list[str]:
    if splits is None:
        return [s.split for s in samples]
    if isinstance(splits, Mapping):
        names = [""] * len(samples)
        for name, idx in splits.items():
            for i in idx:
                names[int(i)] = name
        return names
    names = list(splits)
    if len(names) != len(samples):
        raise DataError(f"splits has {len(names)} entries for {len(samples)} samples; give one split name per sample")
    return names


def _image_stats(samples: list[Sample], infos: list) -> list[dict[str, Any]]:
    by: dict[str, list] = defaultdict(list)
    for s, info in zip(samples, infos):
        if info is not None:
            by[s.source or "(none)"].append(info)
    rows = []
    for source, items in sorted(by.items()):
        w = np.array([i.width for i in items])
        h = np.array([i.height for i in items])
        rows.append({
            "source": source,
            "images": len(items),
            "modes": dict(Counter(i.mode for i in items)),
            "formats": dict(Counter(i.format for i in items)),
            "width": [int(w.min()), int(np.median(w)), int(w.max())],
            "height": [int(h.min()), int(np.median(h)), int(h.max())],
        })
    return rows


def audit(
    dataset: str | Path | Sequence[Sample],
    splits: Splits = None,
    threshold: int = 10,
    hash_kind: str = "dhash",
    workers: int | None = None,
) -> AuditReport:
    """Audit a dataset for leaks and shortcuts.

    Args:
        dataset: a manifest CSV / dataset folder, or the samples themselves.
        splits: split of each sample: ``{"train": idx, "test": idx}``, one name per sample,
            or None to use ``Sample.split``.
        threshold: maximum Hamming distance (of 256 bits) for a near-duplicate.
        hash_kind: ``dhash`` or ``phash``.
        workers: threads decoding images.
    """
    samples = list(dataset) if not isinstance(dataset, (str, Path)) else load_samples_for_audit(dataset)
    if not samples:
        raise DataError("nothing to audit: the dataset has no samples")
    split = _split_names(samples, splits)
    hashes, infos, errors = hash_files([s.path for s in samples], hash_kind, 256, workers)
    ok = np.array([i for i in range(len(samples)) if i not in errors], dtype=np.int64)
    ii, jj, dd = near_pairs(hashes[ok], threshold)
    pairs = []
    for a, b, d in zip(ok[ii], ok[jj], dd):
        sa, sb = samples[a], samples[b]
        if split[a] != split[b] or sa.source != sb.source:
            pairs.append(DuplicatePair(sa.path, sb.path, int(d), split[a], split[b], sa.source, sb.source, sa.label, sb.label))
    pairs.sort(key=lambda p: (not p.cross_split, p.distance, p.path_a))
    by_patient: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(samples):
        if s.patient_id:
            by_patient[s.patient_id].append(i)
    leaks, multi = [], []
    for pid, idx in sorted(by_patient.items()):
        sp = Counter(split[i] for i in idx if split[i])
        if len(sp) > 1:
            leaks.append({"patient_id": pid, "splits": dict(sp), "images": len(idx)})
        labels = sorted({samples[i].label for i in idx})
        if len(labels) > 1:
            multi.append({"patient_id": pid, "labels": labels})
    table: dict[str, Counter] = defaultdict(Counter)
    for s in samples:
        table[s.label][s.source or "(none)"] += 1
    class_source = {label: dict(c) for label, c in sorted(table.items())}
    n_sources = len({src for c in class_source.values() for src in c})
    risks = [label for label, c in class_source.items() if len(c) == 1 and n_sources > 1]
    return AuditReport(
        n_images=len(samples), threshold=threshold, hash_kind=hash_kind, pairs=pairs, patient_leaks=leaks,
        multi_label_patients=multi, class_source=class_source, shortcut_risks=risks,
        image_stats=_image_stats(samples, infos),
        unreadable=[(samples[i].path, why) for i, why in sorted(errors.items())],
    )


class SourceFold(NamedTuple):
    """One leave-one-source-out fold: train on every other source, test on `held_out`."""

    held_out: str
    train_idx: np.ndarray
    test_idx: np.ndarray


def leave_one_source_out(samples: Sequence[Sample]) -> list[SourceFold]:
    """One fold per source: test = that source; train = the others, minus its patients.

    A class that only the held-out source provides cannot be learned in that fold; compare
    per-class recall, or restrict the folds to sources whose classes exist elsewhere.
    """
    sources = sorted({s.source for s in samples})
    if len(sources) < 2:
        return []
    src = np.array([s.source for s in samples])
    out = []
    for held in sources:
        test = np.nonzero(src == held)[0]
        held_patients = {samples[i].patient_id for i in test if samples[i].patient_id}
        train = np.array([i for i in np.nonzero(src != held)[0] if samples[i].patient_id not in held_patients], dtype=np.int64)
        out.append(SourceFold(held, train, test.astype(np.int64)))
    return out
