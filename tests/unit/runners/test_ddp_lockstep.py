"""The lock-step between rank 0 of a DDP trial and its peers (`ablate.runners.ray.peers`): after
each epoch the peers wait for rank 0's word, go on when Tune took the epoch, and stop when Tune
ended the trial there. A lost word leaves a peer waiting forever, so each path is checked with
real threads and a real checkpoint store (Tune's report replaced by a stand-in)."""

from __future__ import annotations

import contextlib
import queue
import threading

import pytest

from ablate.runners.ray import worker
from ablate.runners.ray.peers import PeerReporter, PeerStopped
from ablate.runners.sweep_results import RunStore


class _Group:
    """What `LeaderReporter` talks to: the decisions it sends, fed to one peer's queue."""

    def __init__(self) -> None:
        self.decisions: queue.Queue = queue.Queue()
        self.sent: list[bool] = []

    def decide(self, go: bool) -> None:
        self.sent.append(go)
        self.decisions.put(go)


def _row(epoch: int) -> dict:
    return {"trial_id": "t", "epoch": epoch, "epoch_s": 0.1, "val_acc": 0.5}


def _state() -> dict:
    return {"history": [], "elapsed": 0.0}


def _peer_epochs(peer: PeerReporter, epochs: int, out: list) -> None:
    try:
        for e in range(1, epochs + 1):
            peer.on_epoch(_row(e), _state)
            out.append(e)
        out.append("done")
    except PeerStopped:
        out.append("stopped")


@pytest.mark.parametrize("stop_at", [None, 2])
def test_peers_follow_rank_0_and_stop_where_tune_stopped_it(tmp_path, monkeypatch, stop_at):
    """Three epochs; Tune ends the trial in its report of epoch `stop_at` (SystemExit, as Ray's
    function trainable does): the peer trains exactly the epochs rank 0 did, then stops."""
    reported = []

    def report(metrics: dict) -> None:
        reported.append(metrics["epoch"])
        if metrics["epoch"] == stop_at:
            raise SystemExit(0)

    monkeypatch.setattr(worker.tune, "report", report)
    group = _Group()
    leader = worker.LeaderReporter(RunStore(str(tmp_path)), "sweep-t", group)
    peer_done: list = []
    peer = threading.Thread(target=_peer_epochs, args=(PeerReporter(group.decisions), 3, peer_done))
    peer.start()
    with pytest.raises(SystemExit) if stop_at else contextlib.nullcontext():
        for e in (1, 2, 3):
            leader.on_epoch(_row(e), _state)
    peer.join(timeout=10)
    assert not peer.is_alive(), "the peer was left waiting for rank 0's word"
    if stop_at is None:
        assert group.sent == [True, True, True] and peer_done == [1, 2, 3, "done"]
    else:
        assert group.sent == [True, False] and peer_done == [1, "stopped"]
        assert reported == [1, 2]
    # rank 0 published each reported epoch's checkpoint before telling the peers (the newest kept)
    assert [p.name for p in (tmp_path / "sweep-t").iterdir()] == [f"epoch-{reported[-1]:04d}"]

