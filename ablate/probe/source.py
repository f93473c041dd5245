"""The source probe: can a model tell which source (hospital, archive) an image came from?

Within a class that several sources share (CXR-5: COVID from DS1-DS4), the images differ only
by where they came from, so a probe far above chance means the images carry their source, and a
classifier trained on a set whose classes come from different sources can learn the source
instead of the disease. Where no class has several sources, the probe tells every source apart
across classes (then source and class coincide, and the probe says so).

Each task is a manifest (label = source) under ``RESULTS/probe-data/<task>/`` trained like any
trial (patient-grouped splits, ``data.scenario: none``, ``data.test_fraction`` of each source
held out); its rows go to the ``probes`` table with the chance rate (the share of the test
set's most common source) beside the accuracy.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ablate.atomic import atomic_file
from ablate.config import TrialConfig
from ablate.data.datasets import load_samples
from ablate.data.samples import Sample, write_manifest
from ablate.data.scenarios import apply_scenario
from ablate.errors import DataError
from ablate.results.schema import table_from_rows

__all__ = ["MIN_PER_SOURCE", "ProbeTask", "probe_tasks", "run_source_probe", "source_table"]

MIN_PER_SOURCE = 5  # a source needs train, val and test images
PROBE_CONFIG = "source-probe"


@dataclass
class ProbeTask:
    """One probe: the images of `name` (a class, or ``all``) labelled by their source."""

    name: str
    samples: list[Sample]
    dropped: dict[str, int]  # sources with too few images to split: images

    @property
    def sources(self) -> list[str]:
        return sorted({s.label for s in self.samples})


def source_table(samples: list[Sample], class_names: list[str], labels: list[int]) -> dict[str, Counter]:
    """Images per source of each class (images without a source are left out)."""
    out: dict[str, Counter] = defaultdict(Counter)
    for s, c in zip(samples, labels, strict=True):
        if s.source:
            out[class_names[c]][s.source] += 1
    return dict(out)


def _task(name: str, samples: list[Sample]) -> ProbeTask:
    counts = Counter(s.source for s in samples)
    dropped = {src: n for src, n in counts.items() if n < MIN_PER_SOURCE}
    kept = [Sample(s.path, s.source, s.patient_id, s.source) for s in samples if s.source not in dropped]
    return ProbeTask(name, kept, dropped)


def probe_tasks(samples: list[Sample], class_names: list[str], labels: list[int], within: str | None = None
                ) -> list[ProbeTask]:
    """The probes a dataset allows: one per class with several sources (or the class `within`);
    across all sources when no class has several.

    Raises:
        DataError: an unknown class, a class with one source, fewer than two sources.
    """
    table = source_table(samples, class_names, labels)
    if not table:
        raise DataError("the dataset names no image sources (a manifest's source column): nothing to probe")
    shared = [c for c in class_names if len(table.get(c, {})) > 1]
    if within is not None:
        if within not in class_names:
            raise DataError(f"class {within!r} is not in the data; classes: {', '.join(class_names)}")
        if len(table.get(within, {})) < 2:
            have = ", ".join(table.get(within, {})) or "none"
            raise DataError(f"class {within!r} has one source ({have}): nothing to tell apart; "
                            f"classes with several sources: {', '.join(shared) or 'none'}")
        shared = [within]
    if shared:
        tasks = [_task(c, [s for s, lab in zip(samples, labels, strict=True)
                           if class_names[lab] == c and s.source]) for c in shared]
    else:
        if len({s.source for s in samples if s.source}) < 2:
            raise DataError("the dataset has fewer than two sources: nothing to tell apart")
        tasks = [_task("all", [s for s in samples if s.source])]
    for t in tasks:
        if len(t.sources) < 2:
            raise DataError(f"probe {t.name}: fewer than two sources with {MIN_PER_SOURCE} or more images "
                            f"(too few: {', '.join(f'{k} {v}' for k, v in sorted(t.dropped.items()))})")
    return tasks


def _probe_config(base: TrialConfig, manifest: Path, task: str) -> TrialConfig:
    d = base.model_dump(mode="json")
    d["name"] = f"probe-source-{task}"
    d["data"].update(path=str(manifest), format="manifest", scenario="none", hold_out_source=None, folds=1)
    if d["data"].get("test_per_class") is not None and d["data"].get("test_fraction") is None:
        d["data"].update(test_per_class=None, test_fraction=0.3)
    else:
        d["data"]["test_per_class"] = None
    return TrialConfig.model_validate(d)


def _probe_row(outcome: Any, task: ProbeTask, data_name: str) -> dict[str, Any]:
    row = dict(outcome.trial_row)
    names = json.loads(row["class_names"])
    test = [p for p in outcome.tables.get("predictions", []) if p["split"] == "test"]
    counts = Counter(names[p["label"]] for p in test)
    top, n_top = counts.most_common(1)[0] if counts else ("", 0)
    row.update(probe="source", probe_task=task.name, probe_data=data_name, probe_labels=json.dumps(names),
               n_correct=int(sum(bool(p["correct"]) for p in test)),
               chance=n_top / len(test) if test else float("nan"), chance_label=top,
               test_counts=json.dumps(dict(sorted(counts.items()))))
    return row


def _write(results_dir: Path, trial_id: str, row: dict[str, Any]) -> None:
    import pyarrow.parquet as pq

    with atomic_file(results_dir / "probes" / f"{trial_id}.parquet") as tmp:
        pq.write_table(table_from_rows("probes", [row]), tmp)


def run_source_probe(
    data: str,
    *,
    config: str | Path | None = None,
    within: str | None = None,
    overrides: list[str] | None = None,
    results: str | Path = "results/probe",
    say: Callable[[str], None] = lambda _m: None,
) -> pd.DataFrame:
    """Train the source probe(s) of `data`, once per seed; write their ``probes`` rows.

    Args:
        data: ``synthetic``, a class-per-folder tree or a manifest CSV (with a source column).
        config: the sweep or trial file whose model probes (default ``source-probe``: a small
            ResNet18); its ``data`` settings (mask, size, normalisation) apply.
        within: probe only this class's sources.
        overrides: ``--set`` overrides of the config.
        results: results folder (the probe rows and the task manifests go there).
        say: progress lines.

    Returns:
        One row per probe and seed: task, sources, accuracy, correct / test images, chance.

    Raises:
        DataError: no sources, an unknown class, a class with one source, fewer than two sources.
    """
    from ablate.api import expand_seeds, load_with_data

    base = load_with_data(config or PROBE_CONFIG, overrides, data, check_space=False).trial
    samples, desc = load_samples(base.data)
    names, labels = apply_scenario(samples, base.data.scenario)
    tasks = probe_tasks(samples, names, labels, within)  # bad requests fail before torch loads

    from ablate.report.runs import dataset_names

    data_name = dataset_names(pd.DataFrame({"cfg.data.path": [base.data.path], "cfg.data.format": [base.data.format],
                                            "data_source": [desc]})).iloc[0]

    from ablate.engine.trainer import run_trial
    from ablate.models.resolve import resolve

    results_dir = Path(results)
    out = []
    for task in tasks:
        manifest = write_manifest(task.samples, results_dir / "probe-data" / task.name / "manifest.csv")
        if task.dropped:
            say(f"probe {task.name}: left out source(s) with under {MIN_PER_SOURCE} images: {task.dropped}")
        say(f"probe {task.name}: {len(task.samples)} images from {', '.join(task.sources)}")
        for cfg in expand_seeds(resolve(_probe_config(base, manifest, task.name))):
            tid = f"probe-source-{task.name}-{cfg.trial_id()}"
            outcome = run_trial(cfg, trial_id=tid, progress=say)
            row = _probe_row(outcome, task, data_name)
            if outcome.status == "ok":
                _write(results_dir, tid, row)
            out.append({k: row[k] for k in ("trial_id", "probe_task", "seed", "status", "test_acc", "n_correct",
                                            "n_test", "chance", "chance_label", "test_counts")})
    return pd.DataFrame(out)
