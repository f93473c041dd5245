"""`train_one_epoch` and `evaluate`: a plain PyTorch loop, with no host syncs per step on GPU."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ablate.engine.runtime import all_reduce_sum
from ablate.errors import TrialFailed

__all__ = ["StepContext", "evaluate", "train_one_epoch"]

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass
class StepContext:
    """How batches become model inputs and how the loss is formed.

    Args:
        device: target device.
        preprocess: uint8 batch on the device -> float model input (normalisation).
        amp: autocast to bfloat16/float16 on CUDA.
        channels_last: memory format for CNNs on CUDA.
        aux_weight: weight of an auxiliary head's loss (Inception-v3).
        check_every: steps between non-finite loss checks (1 on CPU; more on GPU to avoid syncs).
        hflip: random horizontal flips while training.
        after_backward: called after each backward (e.g. gradient statistics).
        on_step: called as ``on_step(step, steps)`` after each training step (progress bars).
        reduce_sum: sums a tensor over the data-parallel workers (in place); the epoch's loss,
            correct and image counts go through it once, so a DDP epoch row covers every
            worker's share of the data. The default sums over the default process group when
            one is initialised (``Runtime.all_reduce_sum``) and is the identity otherwise.
    """

    device: torch.device
    preprocess: Callable[[torch.Tensor], torch.Tensor]
    amp: bool = False
    channels_last: bool = False
    aux_weight: float = 0.0
    check_every: int = 1
    hflip: bool = False
    after_backward: Callable[[nn.Module], None] | None = None
    on_step: Callable[[int, int], None] | None = None
    reduce_sum: Callable[[torch.Tensor], torch.Tensor] = all_reduce_sum

    def inputs(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        non_blocking = self.device.type == "cuda"
        x = x.to(self.device, non_blocking=non_blocking)
        y = y.to(self.device, non_blocking=non_blocking)
        x = self.preprocess(x)  # (B, 3, H, W) float
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, y

    def autocast(self):
        if self.amp and self.device.type == "cuda":
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            return torch.autocast("cuda", dtype=dtype)
        return nullcontext()


def _loss(out: torch.Tensor | tuple, y: torch.Tensor, aux_weight: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, main logits); a (logits, aux_logits) output adds the auxiliary loss."""
    if isinstance(out, tuple):  # torchvision InceptionOutputs
        logits, aux = out[0], out[1]
        loss = F.cross_entropy(logits, y)
        if aux is not None and aux_weight > 0:
            loss = loss + aux_weight * F.cross_entropy(aux, y)
        return loss, logits
    return F.cross_entropy(out, y), out


def train_one_epoch(
    model: nn.Module,
    batches: Iterable[Batch],
    optimizer: torch.optim.Optimizer,
    ctx: StepContext,
    scaler: torch.amp.GradScaler | None = None,
) -> dict[str, float]:
    """One pass over the training batches.

    Under data parallelism every worker calls it on its shard; the images, summed losses and
    correct counts are summed over the workers (``ctx.reduce_sum``) before ``loss`` and ``acc``
    are formed, so every worker returns the epoch's values over all the training images.

    Returns:
        ``loss`` and ``acc`` (over all workers' images), ``images`` (all workers),
        ``seconds`` and ``images_per_s`` (this worker's throughput).

    Raises:
        TrialFailed: the loss became NaN or infinite.
    """
    model.train()
    loss_sum = torch.zeros((), device=ctx.device, dtype=torch.float64)
    correct = torch.zeros((), device=ctx.device, dtype=torch.int64)
    seen = 0
    steps = len(batches) if hasattr(batches, "__len__") else 0
    start = time.perf_counter()
    for step, (xb, yb) in enumerate(batches, start=1):
        x, y = ctx.inputs(xb, yb)
        if ctx.hflip:
            flip = torch.rand(x.shape[0], device=x.device) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
        with ctx.autocast():
            out = model(x)
            loss, logits = _loss(out, y, ctx.aux_weight)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            if ctx.after_backward is not None:
                scaler.unscale_(optimizer)  # statistics of the true gradients
                ctx.after_backward(model)
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            if ctx.after_backward is not None:
                ctx.after_backward(model)
            optimizer.step()
        n = y.shape[0]
        seen += n
        loss_sum += loss.detach().double() * n
        correct += (logits.detach().argmax(1) == y).sum()
        if step % ctx.check_every == 0 and not torch.isfinite(loss_sum):
            raise TrialFailed(f"non-finite loss at step {step}; lower the learning rate or check the data")
        if ctx.on_step is not None:
            ctx.on_step(step, steps)
    if not torch.isfinite(loss_sum):
        raise TrialFailed("non-finite loss in the last steps of the epoch; lower the learning rate or check the data")
    if ctx.device.type == "cuda":
        torch.cuda.synchronize(ctx.device)
    seconds = time.perf_counter() - start
    # one collective per epoch: (summed loss, correct, images) over every worker's shard
    totals = torch.stack([loss_sum, correct.double(), torch.tensor(float(seen), device=ctx.device, dtype=torch.float64)])
    loss_all, correct_all, seen_all = ctx.reduce_sum(totals).tolist()
    return {
        "loss": loss_all / max(seen_all, 1.0),
        "acc": correct_all / max(seen_all, 1.0),
        "images": seen_all,
        "seconds": seconds,
        "images_per_s": seen / seconds if seconds > 0 else 0.0,
    }


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable[Batch], ctx: StepContext) -> dict[str, object]:
    """Loss, accuracy and the predictions of a model over batches (eval mode).

    Not sharded and not reduced: under data parallelism each worker evaluates the whole set
    (as the trainer's validation and test batches are), so the values are the whole set's.

    Returns:
        ``loss``, ``acc``, ``n`` and the tensors ``y_true`` / ``y_pred`` (on the CPU).
    """
    model.eval()
    loss_sum = torch.zeros((), device=ctx.device, dtype=torch.float64)
    preds, trues = [], []
    for xb, yb in batches:
        x, y = ctx.inputs(xb, yb)
        with ctx.autocast():
            logits = model(x)
            loss = F.cross_entropy(logits.float(), y, reduction="sum")
        loss_sum += loss.double()
        preds.append(logits.argmax(1))
        trues.append(y)
    y_pred = torch.cat(preds).cpu() if preds else torch.zeros(0, dtype=torch.long)
    y_true = torch.cat(trues).cpu() if trues else torch.zeros(0, dtype=torch.long)
    n = len(y_true)
    return {
        "loss": float(loss_sum) / max(n, 1),
        "acc": float((y_pred == y_true).sum()) / max(n, 1),
        "n": n,
        "y_true": y_true,
        "y_pred": y_pred,
    }
