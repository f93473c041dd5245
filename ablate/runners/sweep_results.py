"""A sweep's rows, written on the driver exactly once per Tune trial (Ray-free).

**Where a trial's rows come from.** Every trial's run lives in storage at
``<storage>/train/<row id>/`` and keeps one checkpoint folder (written by rank 0):

* ``epoch-NNNN/``: ``state.pt`` (the `run_trial` checkpoint state, for resuming) and
  ``progress.json`` (the epoch rows so far and the trial's static facts);
* ``final/`` once `run_trial` returned: ``progress.json``, ``tables/<table>.parquet`` (every
  table `run_trial` produced, test-set evaluation included) and ``models/<row id>.pt`` (its best
  weights, in `ablate.results.models` format).

When a trial ends, `record_trial` writes its rows: from ``final/`` when it exists (status
``ok``, or ``failed`` for a non-finite loss); otherwise from the last ``epoch-NNNN/`` with
status ``stopped_early`` (ASHA stopped it: its epochs so far, test metrics NaN) or ``failed``
(the reason the trainable reported, or Tune's error). A trial whose sampled config is
invalid has no run and gets a ``failed`` row naming the problem.

**Exactly once.** The row id is ``<sweep>-<Tune trial id>``, stable across ``--resume``
(Tune restores its trials with their ids, a relaunched trial finds its run by that id), and
`write_trial` replaces a trial's files, so writing a trial twice leaves one row (and a committed
``ok``/``stopped_early`` row is never rewritten: `record_trial`). Two
writers share `record_trial`: a Tune callback when a trial ends, and `reconcile` after
``Tuner.fit()`` (also after a restore), which writes every ended trial that has no committed
row: a driver killed between a trial's end and its write loses nothing.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs
import pyarrow.parquet as pq

from ablate.atomic import atomic_file
from ablate.config import SweepConfig, TrialConfig
from ablate.errors import ConfigError
from ablate.results import TABLES, committed_trials, table_from_rows, write_trial
from ablate.results.models import model_path, save_model
from ablate.results.record import trial_row
from ablate.results.store import committed_row
from ablate.search.translate import space_columns, trial_config
from ablate.tracking import encode_ids

__all__ = [
    "FINAL",
    "RunStore",
    "TrialEnd",
    "config_of",
    "epoch_dir_name",
    "read_checkpoint",
    "reconcile",
    "record_trial",
    "row_id_for",
    "write_epoch_checkpoint",
    "write_final_checkpoint",
]

FINAL = "final"
PROGRESS = "progress.json"
SUGGESTED = "suggested.json"  # what the stage's searcher issued for the run (`RunStore.save_suggestion`)
STATE = "state.pt"
TABLES_DIR = "tables"
_EPOCH = re.compile(r"^epoch-(\d+)$")
_UNSAFE = re.compile(r"[^A-Za-z0-9.=-]+")


def row_id_for(sweep_name: str, ray_trial_id: str) -> str:
    """The stable row id of a sweep trial: ``<sweep>-<Tune trial id>``."""
    return f"{_UNSAFE.sub('-', sweep_name)}-{ray_trial_id}"


def epoch_dir_name(epoch: int) -> str:
    return f"epoch-{epoch:04d}"


# --------------------------------------------------------------------------- worker side


def write_epoch_checkpoint(folder: Path, progress: dict[str, Any], state: dict[str, Any]) -> None:
    """Fill a checkpoint folder for one epoch: the resumable state and the progress so far."""
    import torch

    torch.save(state, folder / STATE)
    (folder / PROGRESS).write_text(json.dumps(progress))


def write_final_checkpoint(
    folder: Path,
    progress: dict[str, Any],
    tables: Mapping[str, list[dict[str, Any]]],
    best_model: tuple[dict[str, Any], dict[str, Any], list[str]] | None,
) -> None:
    """Fill the ``final`` checkpoint: progress, every table as Parquet, the best weights.

    Args:
        best_model: (state dict, resolved config, class names), or None when no epoch finished.
    """
    (folder / TABLES_DIR).mkdir()
    for name, rows in tables.items():
        if rows:
            pq.write_table(table_from_rows(name, rows), folder / TABLES_DIR / f"{name}.parquet")
    if best_model is not None:
        save_model(folder, progress["row_id"], *best_model)
    (folder / PROGRESS).write_text(json.dumps(progress))


def read_checkpoint(folder: Path) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(resume state, None) of an epoch checkpoint, or (None, final metrics) of ``final``."""
    progress = json.loads((folder / PROGRESS).read_text())
    if (folder / TABLES_DIR).is_dir():
        return None, progress["metrics"]
    import torch

    return torch.load(folder / STATE, map_location="cpu", weights_only=True), None


# --------------------------------------------------------------------------- driver side


@dataclass(frozen=True)
class RunStore:
    """The trials' runs of one sweep in storage: ``<root>/<row id>/<checkpoint>/``.

    Args:
        root: an absolute path or a URI (``s3://bucket/sweeps/train``) that pyarrow can open.
    """

    root: str

    def _fs(self) -> tuple[pafs.FileSystem, str]:
        return pafs.FileSystem.from_uri(self.root)

    def runs(self) -> list[str]:
        """The row ids of every run in storage."""
        fs, base = self._fs()
        infos = fs.get_file_info(pafs.FileSelector(base, allow_not_found=True))
        return sorted(Path(i.path).name for i in infos if i.type == pafs.FileType.Directory)

    def checkpoints(self, row_id: str) -> list[str]:
        """Filesystem paths of the run's checkpoints with a progress file, newest first
        (``final`` before any epoch)."""
        fs, base = self._fs()
        infos = fs.get_file_info(pafs.FileSelector(f"{base}/{row_id}", allow_not_found=True))
        names = {Path(i.path).name for i in infos if i.type == pafs.FileType.Directory}
        epochs = sorted(((int(m.group(1)), n) for n in names if (m := _EPOCH.match(n))), reverse=True)
        ordered = ([FINAL] if FINAL in names else []) + [n for _, n in epochs]
        return [f"{base}/{row_id}/{n}" for n in ordered if self._exists(fs, f"{base}/{row_id}/{n}/{PROGRESS}")]

    @staticmethod
    def _exists(fs: pafs.FileSystem, path: str) -> bool:
        return fs.get_file_info(path).type == pafs.FileType.File

    def progress(self, ckpt: str) -> dict[str, Any]:
        fs, _ = self._fs()
        with fs.open_input_stream(f"{ckpt}/{PROGRESS}") as f:
            return json.loads(f.read().decode())

    def tables(self, ckpt: str) -> dict[str, list[dict[str, Any]]]:
        fs, _ = self._fs()
        out: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
        for info in fs.get_file_info(pafs.FileSelector(f"{ckpt}/{TABLES_DIR}", allow_not_found=True)):
            if info.path.endswith(".parquet"):
                out[Path(info.path).stem] = pq.read_table(info.path, filesystem=fs).to_pylist()
        return out

    def fetch_model(self, ckpt: str, row_id: str, results_dir: Path) -> bool:
        """Copy the run's best weights to ``results_dir/models/<row id>.pt`` (atomically)."""
        fs, _ = self._fs()
        src = f"{ckpt}/{model_path('', row_id).as_posix()}"
        if not self._exists(fs, src):
            return False
        dest = model_path(results_dir, row_id)
        with atomic_file(dest) as tmp, fs.open_input_stream(src) as f, tmp.open("wb") as out:
            shutil.copyfileobj(f, out)
        return True

    def save_checkpoint(self, row_id: str, name: str, fill: Callable[[Path], None]) -> None:
        """Publish checkpoint `name` of a run whole, then drop the run's other epoch checkpoints
        (one kept). Written by the trial (rank 0) after each epoch and at its end.

        Args:
            fill: writes the checkpoint's files into the (empty) folder it is given.

        On a local filesystem the folder is filled under a temporary name and renamed: a reader
        sees all of it or nothing. Elsewhere (``s3://``...) files are uploaded with the progress
        file last, and a reader skips a checkpoint without one (`checkpoints`).
        """
        fs, base = self._fs()
        run = f"{base}/{row_id}"
        if isinstance(fs, pafs.LocalFileSystem):
            tmp = Path(run) / f".{name}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            fill(tmp)
            shutil.rmtree(f"{run}/{name}", ignore_errors=True)
            os.replace(tmp, f"{run}/{name}")
        else:
            with tempfile.TemporaryDirectory() as d:
                fill(Path(d))
                files = sorted((f for f in Path(d).rglob("*") if f.is_file()), key=lambda f: f.name == PROGRESS)
                for f in files:
                    dest = f"{run}/{name}/{f.relative_to(d).as_posix()}"
                    fs.create_dir(dest.rsplit("/", 1)[0], recursive=True)
                    with f.open("rb") as src, fs.open_output_stream(dest) as out:
                        shutil.copyfileobj(src, out)
        for info in fs.get_file_info(pafs.FileSelector(run, allow_not_found=True)):
            other = Path(info.path).name
            if info.type == pafs.FileType.Directory and other != name and _EPOCH.match(other):
                fs.delete_dir(info.path)

    def latest(self, row_id: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """(resume state, None) of the run's newest epoch checkpoint, (None, final metrics) when it
        finished, (None, None) when it has no readable checkpoint (a fresh start)."""
        import pickle

        import torch

        fs, _ = self._fs()
        for ckpt in self.checkpoints(row_id):
            try:
                if Path(ckpt).name == FINAL:
                    return None, self.progress(ckpt)["metrics"]
                with fs.open_input_file(f"{ckpt}/{STATE}") as f:
                    return torch.load(io.BytesIO(f.read()), map_location="cpu", weights_only=True), None
            except (OSError, ValueError, KeyError, RuntimeError, EOFError, pickle.UnpicklingError):
                continue  # torn by a crash while it was written: the previous one
        return None, None

    def save_suggestion(self, row_id: str, record: dict[str, Any]) -> None:
        """Keep what a searcher issued for a run (``<row id>/suggested.json``), before Tune gets
        it: a ``--resume`` adopts a run Tune's last snapshot does not list (`ablate.runners.ray.adopt`)."""
        fs, base = self._fs()
        data = json.dumps(record, default=str).encode()
        if isinstance(fs, pafs.LocalFileSystem):
            with atomic_file(Path(base) / row_id / SUGGESTED) as tmp:
                tmp.write_bytes(data)
            return
        fs.create_dir(f"{base}/{row_id}", recursive=True)
        with fs.open_output_stream(f"{base}/{row_id}/{SUGGESTED}") as out:
            out.write(data)

    def suggestions(self, prefix: str) -> dict[str, dict[str, Any]]:
        """Row id -> the record `save_suggestion` kept, for the runs whose id starts with `prefix`."""
        fs, base = self._fs()
        out = {}
        for row_id in self.runs():
            if not row_id.startswith(prefix) or not self._exists(fs, f"{base}/{row_id}/{SUGGESTED}"):
                continue
            try:
                with fs.open_input_stream(f"{base}/{row_id}/{SUGGESTED}") as f:
                    out[row_id] = json.loads(f.read().decode())
            except (OSError, ValueError):
                continue  # torn by a kill while it was written: the run never reached Tune
        return out

    def prune_states(self, row_id: str) -> None:
        """Delete the resumable states of a run that will not resume (keeps progress files)."""
        fs, base = self._fs()
        for info in fs.get_file_info(pafs.FileSelector(f"{base}/{row_id}", allow_not_found=True, recursive=True)):
            if info.type == pafs.FileType.File and Path(info.path).name == STATE:
                fs.delete_file(info.path)


@dataclass(frozen=True)
class TrialEnd:
    """What the driver knows about a Tune trial that ended.

    Args:
        ray_trial_id: Tune's trial id.
        values: the trial's grid and sampled values, by dotted config path.
        grid_point: index of its grid point.
        errored: Tune ended the trial in ERROR (its driver process failed).
        last_result: the last result Tune received (``{}`` when none).
        error: Tune's error message when errored.
        trial_json: a confirm or ablation trial's resolved config (JSON); None for a search
            trial, whose config is the base trial with `values` set.
        fold: the validation fold with k-fold, else None.
        columns: extra trials-row columns of the trial (``stage``, ``ablation_variant``, ...).
        tracking_ids: the trial's tracked runs (kind -> MLflow run id / W&B run path; `ablate.tracking`).
    """

    ray_trial_id: str
    values: dict[str, Any]
    grid_point: int = 0
    errored: bool = False
    last_result: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    trial_json: str | None = None
    fold: int | None = None
    columns: dict[str, Any] = field(default_factory=dict)
    tracking_ids: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_tune(cls, trial_id: str, config: Mapping[str, Any], errored: bool, last_result: Mapping[str, Any],
                  error: str = "") -> TrialEnd:
        """From a Tune trial's id, its config (what the searcher suggested) and how it ended.

        The run is the one the config names (``ray_trial_id``): Tune's own id, or for a run
        adopted on ``--resume`` the id of the Tune trial that started it."""
        return cls(str(config.get("ray_trial_id") or trial_id), dict(config["values"]), int(config["grid_point"]), errored, dict(last_result), error,
                   config.get("trial"), config.get("fold"), dict(config.get("columns") or {}))


def config_of(sweep: SweepConfig, values: Mapping[str, Any], trial_json: str | None = None) -> TrialConfig:
    """A sweep trial's resolved config: the stage's own (`trial_json`) or the base with `values` set.

    Raises:
        ConfigError: the sampled combination is not a valid trial.
    """
    if trial_json is not None:
        return TrialConfig.model_validate_json(trial_json)
    return trial_config(sweep, values)


def record_trial(results_dir: str | Path, sweep: SweepConfig, end: TrialEnd, store: RunStore) -> dict[str, Any]:
    """Write one ended trial's rows and return its trials row.

    A committed ``ok`` or ``stopped_early`` row stays as it is: such a trial ends again only
    when a resume relaunched it because the experiment state saved before the driver died still
    listed it as running (its relaunched trial then reports its final checkpoint again). A committed
    ``failed`` row is replaced (``--resume`` retries failed trials).
    """
    results_dir = Path(results_dir)
    row_id = row_id_for(sweep.name, end.ray_trial_id)
    kept = committed_row(results_dir, row_id)
    if kept is not None and kept.get("status") in ("ok", "stopped_early"):
        return kept
    ckpt, progress, tables = _newest_readable(store, row_id)
    if ckpt is not None and tables is not None:
        store.fetch_model(ckpt, row_id, results_dir)
    else:
        status, reason = _end_status(end, len(progress.get("history", [])))
        tables = partial_tables(sweep, row_id, end, progress, status, reason)
    tables["trials"][0].update(sweep_columns(sweep, end))
    write_trial(results_dir, row_id, tables)
    if tables["trials"][0]["status"] == "stopped_early":
        store.prune_states(row_id)
    return tables["trials"][0]


def _newest_readable(store: RunStore, row_id: str) -> tuple[str | None, dict[str, Any], dict | None]:
    """The newest checkpoint that reads whole: (path, progress, the final tables or None).

    A run killed while its checkpoint was being copied may leave a torn one; the previous is used.
    """
    for ckpt in store.checkpoints(row_id):
        try:
            progress = store.progress(ckpt)
            tables = store.tables(ckpt) if Path(ckpt).name == FINAL else None
        except (OSError, ValueError):  # pyarrow's ArrowInvalid is a ValueError
            continue
        if tables is not None and len(tables["trials"]) != 1:
            continue
        return ckpt, progress, tables
    return None, {}, None


def reconcile(results_dir: str | Path, sweep: SweepConfig, ends: Iterable[TrialEnd], store: RunStore) -> list[str]:
    """Write every ended trial whose rows are not committed yet; returns their row ids."""
    done = committed_trials(results_dir)
    written = []
    for end in ends:
        row_id = row_id_for(sweep.name, end.ray_trial_id)
        if row_id not in done:
            record_trial(results_dir, sweep, end, store)
            written.append(row_id)
    return written


def sweep_columns(sweep: SweepConfig, end: TrialEnd) -> dict[str, Any]:
    """Columns a sweep adds to the trials row: sweep name, Tune ids, the searched values, the
    stage's own columns (``stage``, ``ablation_variant``, ...), its tracked runs."""
    return {"sweep": sweep.name, "ray_trial_id": end.ray_trial_id, "grid_point": end.grid_point,
            **space_columns(end.values), **end.columns,
            **({"tracking_ids": encode_ids(end.tracking_ids)} if end.tracking_ids else {})}


def _end_status(end: TrialEnd, epochs: int) -> tuple[str, str]:
    if end.last_result.get("final"):
        return "failed", str(end.last_result.get("reason") or "the trial failed")
    if end.errored:
        return "failed", end.error or "the trial's driver process failed"
    return "stopped_early", f"stopped early by the scheduler after {epochs} epoch(s)"


def partial_tables(
    sweep: SweepConfig, row_id: str, end: TrialEnd, progress: Mapping[str, Any], status: str, reason: str
) -> dict[str, list[dict[str, Any]]]:
    """Rows of a trial without final tables: its epochs so far and a trials row (test NaN)."""
    history = [{**r, "trial_id": row_id} for r in progress.get("history", [])]
    wall_s = float(progress.get("elapsed", sum(r["epoch_s"] for r in history)))
    try:
        cfg, unresolved = config_of(sweep, end.values, end.trial_json), None
    except ConfigError:  # an invalid sampled combination: keep what is known
        cfg, unresolved = sweep.trial, end.values
    row = trial_row(cfg, trial_id=row_id, status=status, reason=reason, history=history,
                    info=progress.get("info", {}), wall_s=wall_s, unresolved=unresolved, fold=end.fold)
    return {"trials": [row], "epochs": history}
