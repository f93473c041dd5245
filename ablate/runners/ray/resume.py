"""Where a sweep's Tune experiment lives, the checks before a new or resumed run, and restore.

The Tune experiment lives at ``<storage>/<sweep name>`` (storage defaults to ``RESULTS/ray``),
the trials' checkpoints at ``<storage>/train/<row id>``. A resumed run restores the experiment
with ``resume_unfinished=True, resume_errored=True``: finished trials are not rerun; an
unfinished trial is relaunched with its id, finds its run's newest checkpoint by that id, and
continues `run_trial` from it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ray import tune
from rich.console import Console

from ablate.config import SweepConfig
from ablate.errors import ConfigError
from ablate.runners.sweep_results import row_id_for

log = logging.getLogger(__name__)


def storage_root(storage: str | None, results_dir: Path) -> str:
    """``--storage`` as an absolute path or a URI; ``RESULTS/ray`` when not given."""
    if storage is None:
        return str(results_dir / "ray")
    return storage.rstrip("/") if "://" in storage else str(Path(storage).expanduser().resolve())


def experiment_name(sweep_name: str) -> str:
    """The Tune experiment's folder name under the storage root."""
    return row_id_for(sweep_name, "").rstrip("-")


def resumable_sweep(sweep: SweepConfig, results_dir: Path, exp_paths: list[str], resume: bool,
                    console: Console) -> SweepConfig:
    """Check resume/new-run preconditions; on resume use the sweep stored when the run began
    (``RESULTS/sweep.json``, written before the first stage starts).

    Args:
        exp_paths: the Tune experiment of every stage of the sweep, in order.

    Raises:
        ConfigError: a new run where one exists, or a resume where none does.
    """
    stored = results_dir / "sweep.json"
    existing = [p for p in exp_paths if tune.Tuner.can_restore(p)]
    if not resume:
        if existing:
            raise ConfigError(f"{existing[0]} holds an earlier run of sweep {sweep.name!r}: pass --resume to "
                              "continue it, or use another --results folder")
        return sweep
    if not existing and not stored.is_file():
        raise ConfigError(f"nothing to resume: no run of sweep {sweep.name!r} at {exp_paths[0]}")
    if not stored.is_file():
        return sweep
    # tracking (`tracking:`, --track) is this run's choice, not the sweep's: it is never taken from the stored file
    before = SweepConfig.model_validate_json(stored.read_text()).model_copy(update={"tracking": sweep.tracking})
    if before != sweep:
        console.print(f"[yellow]note:[/] resuming with the sweep as it was when the run began ({stored}); "
                      "the file or --set values differ now", highlight=False)
    return before


def restore_tuner(exp_path: str, trainable: Any, callbacks: list[tune.Callback]) -> tune.Tuner:
    """The stored experiment, resuming unfinished and errored trials, with this run's callbacks."""
    tuner = tune.Tuner.restore(exp_path, trainable=trainable, resume_unfinished=True, resume_errored=True)
    _replace_restored_callbacks(tuner, callbacks)
    return tuner


def _replace_restored_callbacks(tuner: tune.Tuner, callbacks: list[tune.Callback]) -> None:
    """Run the restored experiment with `callbacks` instead of the ones pickled in ``tuner.pkl``.

    A private Ray attribute, used here on purpose (the other: `ablate.runners.ray.tracking`). Ray 2.60 has no
    public way to give a restored Tuner new callbacks: ``Tuner.restore`` takes no
    ``run_config``/``callbacks`` argument, and the restored ``RunConfig`` is reachable only
    through ``Tuner._local_tuner.get_run_config()`` (ray-project/ray#41364 asks for a public
    accessor). Without it the restored run would use the pickled recorder, which has no live
    view and the paths of the first run. Under Ray Client ``_local_tuner`` is None and there
    are no callbacks to install (the recorder needs this process); if a Ray release drops the
    attribute, the pickled recorder still writes every row, only the live view stays blank.
    """
    local = getattr(tuner, "_local_tuner", None)
    if local is None:
        if callbacks:
            log.debug("restored Tuner has no _local_tuner: keeping the pickled callbacks")
        return
    local.get_run_config().callbacks = callbacks
