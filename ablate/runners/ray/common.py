"""Small helpers shared by the Ray adapter's modules."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Literal

Progress = Literal["auto", "live", "lines", "off"]


def one_line(err: BaseException | str | None) -> str:
    """The last meaningful line of an error (Ray wraps worker tracebacks)."""
    text = str(err or "").strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith(("Traceback", "File "))]
    return (lines[-1] if lines else text)[:500]


@contextlib.contextmanager
def quiet_logger(name: str) -> Iterator[None]:
    """Silence a logger inside the block; its level is restored afterwards."""
    logger = logging.getLogger(name)
    before = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(before)
