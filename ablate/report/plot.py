"""matplotlib for the report's figures: the Agg backend (no display) and the one way a figure is saved."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after the backend is chosen

__all__ = ["plt", "save_figure"]


def save_figure(fig: plt.Figure, path: Path) -> Path:
    """Write `fig` as PNG (legends and labels outside the axes kept whole) and close it."""
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path
