"""A 2-worker (gloo, CPU) epoch row equals the single-process row on the same data and weights."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from ablate.engine import StepContext, TensorBatches, evaluate, train_one_epoch

N, BATCH, WORLD = 96, 8, 2  # 96 images: 6 steps of 2 x 8 images


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (N, 3, 4, 4), generator=g, dtype=torch.uint8)
    y = torch.randint(0, 3, (N,), generator=g)
    return x, y


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(48, 3))  # no BatchNorm / dropout: exact parity


def _ctx() -> StepContext:
    return StepContext(device=torch.device("cpu"), preprocess=lambda x: x.float() / 255.0)


def _epoch(model: nn.Module, batches: TensorBatches, ctx: StepContext) -> dict[str, float]:
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    tr = train_one_epoch(model, batches, opt, ctx)
    x, y = _data()
    ev = evaluate(model, TensorBatches(x, y, 32), ctx)
    return {"train_loss": tr["loss"], "train_acc": tr["acc"], "images": tr["images"],
            "val_loss": ev["loss"], "val_acc": ev["acc"], "n": ev["n"]}


def _worker(rank: int, init: str, out: dict) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=WORLD)
    try:
        x, y = _data()
        model = nn.parallel.DistributedDataParallel(_model())
        shard = TensorBatches(x, y, BATCH, rank=rank, world_size=WORLD)  # every other image
        out[rank] = _epoch(model, shard, _ctx())
    finally:
        dist.destroy_process_group()


@pytest.mark.usefixtures("one_thread")
def test_two_gloo_workers_give_the_single_process_epoch_row(tmp_path):
    x, y = _data()
    # one process, batches of 2 x 8: the union of the two workers' batches at each step
    single = _epoch(_model(), TensorBatches(x, y, BATCH * WORLD), _ctx())
    with mp.Manager() as manager:
        out = manager.dict()
        mp.spawn(_worker, args=(f"file://{tmp_path / 'pg'}", out), nprocs=WORLD, join=True)
        rows = dict(out)
    assert single["images"] == N
    for rank in range(WORLD):
        row = rows[rank]
        assert row["images"] == N and row["n"] == N  # every worker's shard counted, whole val set
        assert row["train_acc"] == pytest.approx(single["train_acc"], abs=1e-12)
        for key in ("train_loss", "val_loss", "val_acc"):
            assert row[key] == pytest.approx(single[key], rel=1e-5), key


def test_without_a_process_group_the_reduction_is_the_identity():
    t = torch.tensor([1.0, 2.0])
    assert StepContext(device=torch.device("cpu"), preprocess=lambda x: x).reduce_sum(t) is t
