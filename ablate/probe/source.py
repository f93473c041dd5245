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
from typing import TYPE_CHECKING, Any

from ablate.atomic import atomic_file
from ablate.config import TrialConfig
from ablate.data.listing import load_samples
from ablate.data.samples import Sample, write_manifest
from ablate.data.scenarios import apply_scenario
from ablate.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "MIN_PER_SOURCE", "PROBE_CONFIG", "SUMMARY", "ProbePlan", "ProbeTask", "plan_source_probe", "probe_row",
    "probe_tasks", "source_table", "verdicts", "write_probe_row",
]

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


def probe_row(outcome: Any, task: str, data_name: str) -> dict[str, Any]:
    """The ``probes`` row of a finished probe trial: its trials row plus what the probe found."""
    row = dict(outcome.trial_row)
    names = json.loads(row["class_names"])
    test = [p for p in outcome.tables.get("predictions", []) if p["split"] == "test"]
    counts = Counter(names[p["label"]] for p in test)
    top, n_top = counts.most_common(1)[0] if counts else ("", 0)
    row.update(probe="source", probe_task=task, probe_data=data_name, probe_labels=json.dumps(names),
               n_correct=int(sum(bool(p["correct"]) for p in test)),
               chance=n_top / len(test) if test else float("nan"), chance_label=top,
               test_counts=json.dumps(dict(sorted(counts.items()))))
    return row


def write_probe_row(results_dir: Path, trial_id: str, row: dict[str, Any]) -> None:
    """Publish one probe trial's ``probes`` row (atomically; writing it again replaces it)."""
    import pyarrow.parquet as pq

    from ablate.results.layout import file_name
    from ablate.results.schema import table_from_rows

    with atomic_file(Path(results_dir) / "probes" / file_name(trial_id)) as tmp:
        pq.write_table(table_from_rows("probes", [row]), tmp)


@dataclass
class ProbePlan:
    """What a source probe trains: its base config, its tasks and the name of the data probed."""

    base: TrialConfig
    tasks: list[ProbeTask]
    data_name: str

    def trials(self, results_dir: Path) -> list[tuple[ProbeTask, TrialConfig]]:
        """Each task's resolved config once per seed, pointing at the task's manifest (label =
        source) ``results_dir/probe-data/<task>/manifest.csv``, which `write_manifests` writes."""
        from ablate.models.resolve import resolve

        return [(task, cfg) for task in self.tasks
                for cfg in resolve(_probe_config(self.base, self.manifest(results_dir, task), task.name)).per_seed()]

    @staticmethod
    def manifest(results_dir: Path, task: ProbeTask) -> Path:
        """Where `task`'s manifest goes (absolute: the probe's trials may run on another node)."""
        return Path(results_dir).resolve() / "probe-data" / task.name / "manifest.csv"

    def write_manifests(self, results_dir: Path, say: Callable[[str], None] = lambda _m: None) -> None:
        """Write each task's manifest (before its trials train)."""
        for task in self.tasks:
            write_manifest(task.samples, self.manifest(results_dir, task))
            if task.dropped:
                say(f"probe {task.name}: left out source(s) with under {MIN_PER_SOURCE} images: {task.dropped}")
            say(f"probe {task.name}: {len(task.samples)} images from {', '.join(task.sources)}")


def plan_source_probe(base: TrialConfig, within: str | None = None) -> ProbePlan:
    """The probes of `base`'s data (`probe_tasks`); reads the data's list of images, no torch.

    Raises:
        DataError: no sources, an unknown class, a class with one source, fewer than two sources.
    """
    samples, desc = load_samples(base.data)
    names, labels = apply_scenario(samples, base.data.scenario)
    tasks = probe_tasks(samples, names, labels, within)

    import pandas as pd

    from ablate.report.runs import dataset_names

    data_name = dataset_names(pd.DataFrame({"cfg.data.path": [base.data.path], "cfg.data.format": [base.data.format],
                                            "data_source": [desc]})).iloc[0]
    return ProbePlan(base, tasks, data_name)


def verdicts(rows: pd.DataFrame) -> list[str]:
    """One line per probe task of the ``ok`` rows: accuracy with its interval (seeds pooled) against chance."""
    from ablate.report import stats

    out = []
    for task, g in rows[rows.status == "ok"].groupby("probe_task", sort=False):
        est = stats.accuracy_from_counts(g.test_acc.to_numpy(), g.n_test.to_numpy())
        chance = float(g.chance.mean())
        verdict = "ABOVE chance: the images carry their source" if est.low > chance else "not above chance"
        out.append(f"probe {task}: accuracy {100 * est.estimate:.1f} % [{100 * est.low:.1f}, {100 * est.high:.1f}] "
                   f"({est.method}) vs chance {100 * chance:.1f} % ({g.chance_label.iloc[0]}); {verdict}")
    return out


SUMMARY = ("trial_id", "probe_task", "seed", "status", "test_acc", "n_correct", "n_test", "chance", "chance_label",
           "test_counts")
