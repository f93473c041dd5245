"""The live view of a sweep: a rich table on a terminal, or one line per ended trial."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from ablate.config import SweepConfig
from ablate.runners.ray.common import Progress


class LiveView:
    """Counts of running / finished / stopped early / failed trials and the best result so far."""

    def __init__(self, console: Console, mode: Progress, sweep: SweepConfig, total: int,
                 known: dict[str, str] | None = None) -> None:
        """`known`: Tune trial id -> status of trials with rows already (a resumed sweep)."""
        self.console, self.sweep, self.total = console, sweep, total
        self.live_mode = mode == "live" or (mode == "auto" and console.is_terminal)
        self.known = dict(known or {})
        self.counts = {"ok": 0, "stopped_early": 0, "failed": 0}
        for status in self.known.values():
            self.counts[status] = self.counts.get(status, 0) + 1
        self.running: set[str] = set()
        self.best: tuple[float, str] | None = None
        self._live: Live | None = None

    def start(self) -> None:
        if self.live_mode:
            self._live = Live(self._render(), console=self.console, auto_refresh=False, transient=False)
            self._live.start()

    def stop(self) -> None:
        if self._live is not None:
            self._live.update(self._render(), refresh=True)
            self._live.stop()
            self._live = None

    def started(self, trial_id: str) -> None:
        self.running.add(trial_id)
        self._refresh()

    def result(self, trial_id: str, result: dict[str, Any]) -> None:
        value = result.get(self.sweep.search.metric)
        if isinstance(value, (int, float)) and not math.isnan(value):
            sign = 1 if self.sweep.search.mode == "max" else -1
            if self.best is None or sign * value > sign * self.best[0]:
                self.best = (float(value), trial_id)
                self._refresh()

    def ended(self, trial_id: str, row: dict[str, Any]) -> None:
        self.running.discard(trial_id)
        if trial_id in self.known:  # a resumed trial that had a row (failed): count it once
            self.counts[self.known.pop(trial_id)] -= 1
        status = str(row.get("status"))
        self.counts[status] = self.counts.get(status, 0) + 1
        if self._live is None:
            metric = self.sweep.search.metric if self.sweep.search.metric in row else "val_acc"
            val = row.get(metric)
            shown = f"{metric} {val:.4f}" if isinstance(val, float) and not math.isnan(val) else ""
            why = f" ({row.get('reason')})" if status != "ok" and row.get("reason") else ""
            self.console.print(f"{row['trial_id']}: {status}{why} {row.get('epochs_run', 0)} epoch(s) {shown} | "
                               f"{self._line()}", highlight=False, soft_wrap=True)
        self._refresh()

    def _line(self) -> str:
        c = self.counts
        done = sum(c.values())
        best = f"best {self.sweep.search.metric} {self.best[0]:.4f} ({self.best[1]})" if self.best else "best -"
        return (f"running {len(self.running)}, finished {c['ok']}, stopped early {c['stopped_early']}, "
                f"failed {c['failed']}, {done}/{self.total} done; {best}")

    def _render(self) -> Table:
        t = Table(title=f"ablate run {self.sweep.name}", show_header=True)
        for col in ("running", "finished", "stopped early", "failed", "done", f"best {self.sweep.search.metric}"):
            t.add_column(col)
        c = self.counts
        best = f"{self.best[0]:.4f} ({self.best[1]})" if self.best else "-"
        t.add_row(str(len(self.running)), str(c["ok"]), str(c["stopped_early"]), str(c["failed"]),
                  f"{sum(c.values())}/{self.total}", best)
        return t

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._render(), refresh=True)
