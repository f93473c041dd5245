"""A tracker that fails warns once and is left out: tracking never stops a trial or its row."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["Guard"]

log = logging.getLogger("ablate.tracking")
T = TypeVar("T")


class Guard:
    """Calls into one tracker; the first failure is one warning line, then every call is skipped."""

    def __init__(self, what: str) -> None:
        self.what, self.failed = what, False

    def call(self, action: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        if self.failed:
            return None
        try:
            return fn(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - any tracker error: warn, go on without it
            self.failed = True
            msg = " ".join(str(e).split())[:300] or type(e).__name__
            log.warning("warning: %s failed (%s: %s); this run goes on without it, every results row is written",
                        self.what, action, msg)
            return None
