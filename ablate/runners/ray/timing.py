"""Timing marks for ``benchmarks/sweep_overhead.py``: records of the ``ablate.timing`` logger.

Each mark is one DEBUG record whose message is the event name (``ray_init``, ``driver_start``,
``epoch_trained``, ...) and whose ``timing`` attribute holds the event's fields (row id,
epoch, ...). Nothing is written unless a handler listens. A run spans several processes (the
CLI, the Tune trial processes, a Train run's controller and workers), so each of them calls
`log_marks_from_env` when it starts: with ``$ABLATE_TIMING_LOG`` set, the marks of that
process are appended to that file as JSON lines ``{"t", "event", "pid", **fields}``.

**Crash tests.** With ``$ABLATE_CRASH_AT=EVENT:N`` the process SIGKILLs itself at the N-th
mark of EVENT (``trial_ended``: a trial ended, its rows not yet written; ``trial_recorded``;
``tune_done``: before the reconciliation; ``reconciled``), so the tests can kill the sweep
driver at exact points and check that ``--resume`` loses and repeats nothing.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

TIMING_LOG_ENV = "ABLATE_TIMING_LOG"
CRASH_ENV = "ABLATE_CRASH_AT"
timing_log = logging.getLogger("ablate.timing")


def mark(event: str, **fields: Any) -> None:
    """Log a timing mark: `event` with its `fields`."""
    timing_log.debug(event, extra={"timing": fields})


class JsonLinesHandler(logging.Handler):
    """Appends each timing record to a file as one JSON line (several processes append to it)."""

    def __init__(self, path: str) -> None:
        super().__init__(logging.DEBUG)
        self.path = path

    def emit(self, record: logging.LogRecord) -> None:
        fields = getattr(record, "timing", {})
        line = json.dumps({"t": record.created, "event": record.getMessage(), "pid": record.process, **fields})
        try:
            with open(self.path, "a") as f:
                f.write(line + "\n")
        except OSError:
            self.handleError(record)


class CrashHandler(logging.Handler):
    """SIGKILLs this process at the `count`-th mark of `event` (crash tests only)."""

    def __init__(self, spec: str) -> None:
        super().__init__(logging.DEBUG)
        self.spec = spec
        event, _, count = spec.partition(":")
        self.event, self.left = event, int(count or 1)

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == self.event:
            self.left -= 1
            if self.left == 0:
                import signal

                os.kill(os.getpid(), signal.SIGKILL)


def log_marks_from_env() -> None:
    """Write this process's marks to ``$ABLATE_TIMING_LOG`` when it is set, and install the crash
    point of ``$ABLATE_CRASH_AT`` (once per process)."""
    crash = os.environ.get(CRASH_ENV)
    if crash and not any(isinstance(h, CrashHandler) for h in timing_log.handlers):
        timing_log.addHandler(CrashHandler(crash))
        timing_log.setLevel(logging.DEBUG)
        timing_log.propagate = False
    path = os.environ.get(TIMING_LOG_ENV)
    if not path or any(isinstance(h, JsonLinesHandler) and h.path == path for h in timing_log.handlers):
        return
    timing_log.addHandler(JsonLinesHandler(path))
    timing_log.setLevel(logging.DEBUG)
    timing_log.propagate = False  # marks go to the file, not to the user's console


def train_timing_callbacks() -> list[Any]:
    """With ``$ABLATE_TIMING_LOG`` set (``benchmarks/sweep_overhead.py``), a Train callback that
    marks where a Train run's start-up goes; else none (a run never depends on it)."""
    if not os.environ.get(TIMING_LOG_ENV):
        return []
    # Train's controller and worker-group hooks are not public API: only the benchmark uses them
    from ray.train.v2._internal.execution.callback import ControllerCallback, WorkerGroupCallback

    class TrainMarks(ControllerCallback, WorkerGroupCallback):
        """Marks in the Train controller: ``train_controller`` (it runs), ``worker_group_start``,
        ``workers_created`` (placement group and worker processes up) and ``process_group_ready``
        (after Train's torch backend set up the process group: this callback runs after it)."""

        row_id = ""  # the run's name: the trial's row id

        def after_controller_start(self, train_run_context: Any) -> None:
            log_marks_from_env()
            self.row_id = train_run_context.get_run_config().name
            mark("train_controller", row_id=self.row_id)

        def before_worker_group_start(self, worker_group_context: Any) -> None:
            mark("worker_group_start", row_id=self.row_id)

        def before_init_train_context(self, workers: Any) -> dict:
            mark("workers_created", row_id=self.row_id)
            return {}

        def after_worker_group_start(self, worker_group: Any) -> None:
            mark("process_group_ready", row_id=self.row_id)

    return [TrainMarks()]
