"""Errors that reach the user as one line (the CLI prints ``str(err)`` and exits non-zero)."""

from __future__ import annotations

__all__ = ["AblateError", "ConfigError", "DataError", "ModelError", "SweepInterrupted", "TrialFailed"]


class AblateError(Exception):
    """Base class: the message says what is wrong and how to fix it, on one line."""


class ConfigError(AblateError):
    """A sweep file, config key or value is invalid."""


class DataError(AblateError):
    """A data folder, manifest, label file or image is missing or unreadable."""


class ModelError(AblateError):
    """An unknown backbone, tap or weights file."""


class TrialFailed(AblateError):
    """A trial could not finish (non-finite loss, ...); the sweep records it and goes on."""


class SweepInterrupted(AblateError):
    """A sweep stopped (Ctrl-C, a lost driver) with trials unfinished; ``--resume`` continues it."""

    exit_code = 130
