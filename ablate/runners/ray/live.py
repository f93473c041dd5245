"""The live view of a sweep: a rich table on a terminal, or one line per ended trial."""

from __future__ import annotations

import json
import math
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from ablate.config import SweepConfig
from ablate.runners.ray.common import Progress
from ablate.search.translate import display_value


class LiveView:
    """A line when each trial starts (its id and searched values) and ends; counts of running /
    finished / stopped early / failed trials; the best result so far, taken only from epochs a
    trial has reported (named with its trial and epoch) and from ended trials' rows."""

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
        self.best: tuple[float, str] | None = None  # (value, "trial id, epoch N" or "trial id")
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

    def started(self, trial_id: str, values: dict[str, Any] | None = None) -> None:
        self.running.add(trial_id)
        searched = " ".join(f"{k}={display_value(json.dumps(v) if isinstance(v, list) else v)}"
                            for k, v in (values or {}).items())
        self.console.print(f"{self.sweep.name}-{trial_id} started: {searched or '(base config)'}",
                           highlight=False)
        self._refresh()

    def result(self, trial_id: str, result: dict[str, Any]) -> None:
        """A report: per-epoch ones carry ``epoch``; the final one (no epoch) the trial's best."""
        epoch = result.get("epoch")
        self._offer(result.get(self.sweep.search.metric), trial_id if epoch is None else f"{trial_id}, epoch {epoch}")

    def _offer(self, value: Any, where: str) -> None:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value):
            sign = 1 if self.sweep.search.mode == "max" else -1
            if self.best is None or sign * value > sign * self.best[0]:
                self.best = (float(value), where)
                self._refresh()

    def ended(self, trial_id: str, row: dict[str, Any]) -> None:
        self.running.discard(trial_id)
        if trial_id in self.known:  # a resumed trial that had a row (failed): count it once
            self.counts[self.known.pop(trial_id)] -= 1
        status = str(row.get("status"))
        self.counts[status] = self.counts.get(status, 0) + 1
        metric = self.sweep.search.metric if self.sweep.search.metric in row else "val_acc"
        if metric == self.sweep.search.metric:
            self._offer(row.get(metric), trial_id)
        if self._live is None:
            val = row.get(metric)
            shown = f"{metric} {val:.4f}" if isinstance(val, float) and not math.isnan(val) else ""
            if status == "ok" and isinstance(row.get("val_acc"), float) and row.get("num_classes"):
                if row["val_acc"] <= 1.0 / row["num_classes"] + 0.05:
                    shown += f" (at chance: 1/{row['num_classes']})"
            why = f" ({row.get('reason')})" if status != "ok" and row.get("reason") else ""
            self.console.print(f"{row['trial_id']}: {status}{why} {row.get('epochs_run', 0)} epoch(s) {shown} | "
                               f"{self._line()}", highlight=False)
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
