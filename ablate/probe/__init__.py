"""Shortcut checks: does a model see the image source rather than the lungs?

`source` trains a model to predict the source of an image (`run_source_probe`), patient-grouped,
and writes its rows to the ``probes`` table; `loso` runs leave-one-source-out trials
(`run_leave_one_source_out`). The masked-lung control is the data option ``data.mask``
(`ablate.data.mask`). ``ablate report`` puts all three in its "Shortcut checks" section
(`ablate.report.shortcuts`).
"""

from __future__ import annotations

from ablate.probe.source import ProbeTask, probe_tasks, run_source_probe, source_table

__all__ = ["ProbeTask", "probe_tasks", "run_source_probe", "source_table"]
