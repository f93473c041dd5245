"""Shortcut checks: does a model see the image source rather than the lungs?

What a probe computes, and nothing that runs it (`ablate.runners.local_probes` trains probes
here, `ablate.runners.ray.probes` on Ray): `source` plans the source probe (a model trained to
predict the source of an image, patient-grouped), builds its ``probes`` rows and their verdict;
`loso` says which sources leave-one-source-out can hold out. The masked-lung control is the data option ``data.mask``
(`ablate.data.mask`). ``ablate report`` puts all three in its "Shortcut checks" section
(`ablate.report.shortcuts`).
"""

from __future__ import annotations

from ablate.probe.source import ProbeTask, probe_tasks, source_table

__all__ = ["ProbeTask", "probe_tasks", "source_table"]
