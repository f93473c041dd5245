"""A data-parallel trial: the Tune trial is rank 0, and its peers are actors kept for the next trial.

Ray Train starts a new worker group for every run (a controller, a placement group, the worker
processes, a process group: about 20 s on 2 cores), which a sweep of short trials, or ASHA's
early stops, pays again and again. Here the Tune trial asks for one bundle per worker
(`Plan.trial_resources`). It trains as rank 0 in its own bundle. Ranks 1..n-1 are `DdpPeer`
actors in the other bundles. The peers and the torch process group between the ranks are made
once per trial process and kept: Tune reuses the process (and its placement group) for the next
trial, and that trial finds the group ready (`peer_group`).

**Lock-step per epoch.** After every epoch each peer waits for rank 0's decision (`PeerReporter`):
go on once rank 0 has published the epoch's checkpoint and Tune took the result, or stop when
Tune ended the trial there (ASHA: ``tune.report`` raises in rank 0). No collective is pending while
a peer waits, so a stopped trial leaves its peers idle and in step for the next one.

**Failures.** A peer that dies breaks the collective in rank 0 (gloo: at once; NCCL: its
timeout), the trial fails, its group is dropped (`drop_group`), and Tune relaunches the trial in a
new process with new peers, resuming from the checkpoint, as for a single-worker trial. Peers are
owned by the trial process: they end with it, and with its placement group.
"""

from __future__ import annotations

import datetime
import logging
import queue
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ray
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from ablate.engine.runtime import Runtime
from ablate.runners.ray.timing import log_marks_from_env, mark

log = logging.getLogger(__name__)

PROCESS_GROUP_TIMEOUT_S = 1800  # a collective that waits longer fails the trial (a hung peer)
PEER_END_TIMEOUT_S = 60  # peers still busy this long after rank 0 ended are replaced


class PeerStopped(BaseException):
    """Raised in a peer after an epoch at which rank 0's trial ended (a `BaseException`, like the
    ``SystemExit`` that ends rank 0 there, so that nothing on the way records it as a failure)."""


class PeerReporter:
    """`Reporter` of ranks 1..n-1: nothing to publish; after each epoch, rank 0's decision."""

    def __init__(self, decisions: queue.Queue) -> None:
        self.decisions = decisions
        self.info: dict[str, Any] = {}

    def on_start(self, info: dict[str, Any]) -> None:
        self.info = info

    def on_epoch(self, row: dict[str, Any], state: Callable[[], dict[str, Any]]) -> None:
        if not self.decisions.get():
            raise PeerStopped

    def final(self, metrics: dict[str, Any], write: Callable | None) -> None:
        """Rank 0 writes the ``final`` checkpoint and reports the metrics."""


def ddp_runtime(rank: int, world_size: int, use_gpu: bool) -> Runtime:
    """This rank's `Runtime`: its device (the GPU Ray gave it, or the CPU) and a DDP wrapper."""
    import torch
    from torch.nn.parallel import DistributedDataParallel

    device = torch.device("cuda", 0) if use_gpu else torch.device("cpu")

    def wrap(model: torch.nn.Module) -> torch.nn.Module:
        model = model.to(device)
        return DistributedDataParallel(model, device_ids=[0] if use_gpu else None)

    return Runtime(device=device, rank=rank, world_size=world_size, wrap_model=wrap)


def _init_process_group(address: str, rank: int, world_size: int, use_gpu: bool) -> None:
    import torch
    import torch.distributed as dist

    if use_gpu:
        torch.cuda.set_device(0)
    dist.init_process_group("nccl" if use_gpu else "gloo", init_method=address, rank=rank,
                            world_size=world_size, timeout=datetime.timedelta(seconds=PROCESS_GROUP_TIMEOUT_S))


@ray.remote
class DdpPeer:
    """Rank k > 0 of the data-parallel trials of one Tune trial process (two threads: `run` and
    `decide`)."""

    def __init__(self) -> None:
        log_marks_from_env()
        self.decisions: queue.Queue = queue.Queue()

    def init(self, address: str, rank: int, world_size: int, use_gpu: bool) -> None:
        """Join rank 0's process group (kept for every later trial)."""
        _init_process_group(address, rank, world_size, use_gpu)

    def run(self, loop: dict[str, Any], rank: int, world_size: int, use_gpu: bool, resume: dict | None) -> str:
        """Train `loop` as `rank` in lock-step with rank 0; "done", or "stopped" when rank 0 was."""
        from ablate.runners.ray.worker import train_loop

        while not self.decisions.empty():  # a decision meant for an earlier trial
            self.decisions.get_nowait()
        mark("peer_start", row_id=loop["row_id"], rank=rank)
        try:
            train_loop(loop, ddp_runtime(rank, world_size, use_gpu), PeerReporter(self.decisions), resume, None)
        except PeerStopped:
            return "stopped"
        return "done"

    def decide(self, go: bool) -> None:
        self.decisions.put(go)


@dataclass
class PeerGroup:
    """Ranks 1..n-1 of this trial process's data-parallel trials, and the process group with them."""

    pg_id: str
    peers: list[Any]
    use_gpu: bool
    running: list[Any] | None = None  # the peers' `run` calls of the current trial

    @property
    def world_size(self) -> int:
        return len(self.peers) + 1

    def start(self, loop: dict[str, Any], resume: dict | None) -> None:
        """The peers begin training `loop` (rank 0 trains it in this process meanwhile)."""
        ref = ray.put(resume) if resume is not None else None
        self.running = [p.run.remote(loop, rank, self.world_size, self.use_gpu, ref)
                        for rank, p in enumerate(self.peers, 1)]

    def decide(self, go: bool) -> None:
        """Rank 0's decision after an epoch: the peers go on, or stop (the trial ended there)."""
        for p in self.peers:
            p.decide.remote(go)

    def finish(self) -> None:
        """Wait until the peers end the trial; raise what failed them."""
        running, self.running = self.running or [], None
        if not running:
            return
        done, pending = ray.wait(running, num_returns=len(running), timeout=PEER_END_TIMEOUT_S)
        if pending:
            raise RuntimeError(f"{len(pending)} DDP peer(s) still busy {PEER_END_TIMEOUT_S} s after rank 0 ended")
        ray.get(done)


_group: PeerGroup | None = None  # this process's peers (a Tune trial process holds one placement group)


def peer_group(workers: int, cpus: float, gpus: float) -> PeerGroup:
    """The peers of this trial process for `workers` ranks: made (with the process group) on its
    first data-parallel trial, then kept while Tune reuses the process."""
    global _group
    pg = ray.util.get_current_placement_group()
    if pg is None:
        raise RuntimeError("a data-parallel trial must run in its Tune placement group (one bundle per worker)")
    if _group is not None and _group.pg_id == pg.id.hex() and _group.world_size == workers:
        return _group
    drop_group()
    peers = [DdpPeer.options(num_cpus=cpus, num_gpus=gpus, max_concurrency=2,
                             scheduling_strategy=PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=i))
             .remote() for i in range(1, workers)]
    address = f"tcp://{ray.util.get_node_ip_address()}:{_free_port()}"
    joins = [p.init.remote(address, rank, workers, gpus > 0) for rank, p in enumerate(peers, 1)]
    _init_process_group(address, 0, workers, gpus > 0)
    ray.get(joins)
    _group = PeerGroup(pg.id.hex(), peers, gpus > 0)
    return _group


def drop_group() -> None:
    """End this process's peers and its process group (after a failure; the next trial makes new ones)."""
    global _group
    import torch.distributed as dist

    group, _group = _group, None
    if group is not None:
        for p in group.peers:
            ray.kill(p)
    if dist.is_available() and dist.is_initialized():
        try:
            dist.destroy_process_group()
        except Exception as e:  # noqa: BLE001 - a broken group cannot always be torn down cleanly
            log.debug("destroy_process_group: %s", e)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]
