"""Which source probes a dataset allows, and the one-line errors when it allows none."""

from __future__ import annotations

import pytest

from ablate.data.samples import Sample
from ablate.errors import DataError
from ablate.probe import probe_tasks


def _data(rows: list[tuple[str, str, int]]) -> tuple[list[Sample], list[str], list[int]]:
    samples = [Sample(f"/x/{lab}-{src}-{i}.png", lab, f"{src}-{i}", src) for lab, src, n in rows for i in range(n)]
    names = sorted({lab for lab, _, _ in rows})
    return samples, names, [names.index(s.label) for s in samples]


def test_one_probe_per_class_with_several_sources_labelled_by_source():
    samples, names, labels = _data([("covid", "DS1", 8), ("covid", "DS4", 9), ("covid", "DS2", 3), ("normal", "DS4", 9)])
    (task,) = probe_tasks(samples, names, labels)
    assert task.name == "covid" and task.sources == ["DS1", "DS4"] and task.dropped == {"DS2": 3}
    assert {s.label for s in task.samples} == {"DS1", "DS4"} and all(s.label == s.source for s in task.samples)
    assert {s.patient_id for s in task.samples} >= {"DS1-0", "DS4-0"}  # patients kept: grouped splits


def test_across_sources_when_no_class_shares_them():
    samples, names, labels = _data([("covid", "A", 6), ("normal", "B", 6)])
    (task,) = probe_tasks(samples, names, labels)
    assert task.name == "all" and task.sources == ["A", "B"]


@pytest.mark.parametrize(("within", "rows", "message"), [
    ("normal", [("covid", "A", 6), ("covid", "B", 6), ("normal", "B", 6)],
     r"class 'normal' has one source \(B\): nothing to tell apart; classes with several sources: covid"),
    ("tb", [("covid", "A", 6), ("covid", "B", 6)], r"class 'tb' is not in the data; classes: covid"),
    (None, [("covid", "A", 6), ("normal", "A", 6)], "fewer than two sources"),
    (None, [("covid", "", 6)], "names no image sources"),
])
def test_bad_requests_are_one_line(within, rows, message):
    samples, names, labels = _data(rows)
    with pytest.raises(DataError, match=message):
        probe_tasks(samples, names, labels, within)
