"""`RunStore.save_checkpoint` / `latest`: how a trial that trains inside its Tune trial keeps and
finds its checkpoints (the layout every trial, single-worker or DDP, leaves)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.fs as pafs
import torch

from ablate.runners.sweep_results import (
    FINAL,
    RunStore,
    epoch_dir_name,
    write_epoch_checkpoint,
    write_final_checkpoint,
)


def _epoch(store: RunStore, row: str, epoch: int) -> None:
    state = {"epoch": epoch, "w": torch.full((2,), float(epoch)), "history": [{"epoch": e} for e in range(1, epoch + 1)]}
    progress = {"row_id": row, "info": {}, "history": state["history"], "elapsed": 1.0}
    store.save_checkpoint(row, epoch_dir_name(epoch), lambda d: write_epoch_checkpoint(d, progress, state))


def test_newest_epoch_is_kept_alone_and_resumes(tmp_path):
    store = RunStore(str(tmp_path))
    assert store.latest("run-a") == (None, None)  # a fresh start
    for epoch in (1, 2, 3):
        _epoch(store, "run-a", epoch)
    assert [Path(c).name for c in store.checkpoints("run-a")] == ["epoch-0003"]  # one kept
    state, finished = store.latest("run-a")
    assert finished is None and state["epoch"] == 3 and state["w"].tolist() == [3.0, 3.0]
    assert not list(tmp_path.glob("run-a/.*"))  # no temporary folder left behind


def test_a_torn_newest_checkpoint_falls_back_and_final_ends_the_run(tmp_path):
    store = RunStore(str(tmp_path))
    _epoch(store, "run-b", 1)
    torn = tmp_path / "run-b" / "epoch-0002"  # as a crash mid-upload to object storage leaves it
    torn.mkdir()
    (torn / "progress.json").write_text("{}")
    (torn / "state.pt").write_bytes(b"not a checkpoint")
    state, _ = store.latest("run-b")
    assert state["epoch"] == 1
    metrics = {"val_acc": 0.5, "final": True}
    progress = {"row_id": "run-b", "info": {}, "history": [], "metrics": metrics}
    store.save_checkpoint("run-b", FINAL, lambda d: write_final_checkpoint(d, progress, {"trials": []}, None))
    assert [Path(c).name for c in store.checkpoints("run-b")] == [FINAL]  # epochs dropped after final
    assert store.latest("run-b") == (None, metrics)


def test_object_storage_uploads_the_progress_file_last(tmp_path, monkeypatch):
    """Off a local disk the checkpoint is uploaded file by file; `checkpoints` only lists one whose
    progress file arrived, so the progress file must be the last one written."""
    written: list[str] = []

    class Remote(pafs.SubTreeFileSystem):  # a filesystem that is not a LocalFileSystem
        def open_output_stream(self, path, *a, **k):  # noqa: ANN001
            written.append(Path(path).name)
            return super().open_output_stream(path, *a, **k)

    remote = Remote(str(tmp_path), pafs.LocalFileSystem())
    assert not isinstance(remote, pafs.LocalFileSystem)
    monkeypatch.setattr(RunStore, "_fs", lambda self: (remote, ""))
    store = RunStore("mem://x")
    _epoch(store, "run-c", 1)
    assert written[-1] == "progress.json" and "state.pt" in written
    assert json.loads((tmp_path / "run-c" / "epoch-0001" / "progress.json").read_text())["row_id"] == "run-c"
