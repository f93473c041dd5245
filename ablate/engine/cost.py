"""What a trained model costs at inference: FLOPs of one forward pass and measured latency.

`measure_cost` runs once per trial, on the best weights in eval mode (`ablate.engine.trainer`),
and returns the trials row's cost columns (`COST_COLUMNS`):

* ``flops``: floating-point operations of one forward pass of one image at the trial's input
  size, as `torch.utils.flop_counter.FlopCounterMode` counts them: 2 per multiply-add of the
  convolutions, linear layers and matrix products (element-wise ops such as BatchNorm and
  activations are not counted);
* ``macs``: ``flops // 2``, the multiply-accumulate count that papers usually quote as "FLOPs";
* ``latency_ms``: the median wall time of a forward pass of one image (batch 1) on the trial's
  device, after `WARMUP` untimed passes, over ``latency_repeats`` timed ones;
* ``throughput_ips``: images per second of a forward pass at the evaluation batch size (the
  best of `THROUGHPUT_PASSES` timed batches after one untimed batch);
* ``latency_repeats``: the number of timed batch-1 passes (``analysis.latency_repeats``).

Inputs are real test images through the trial's own `StepContext` (preprocessing, memory format,
autocast), so the timing is that of `ablate.engine.loop.evaluate`. Ray-free; no I/O.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ablate.engine.loop import StepContext
from ablate.results.record import COST_COLUMNS

__all__ = ["COST_COLUMNS", "THROUGHPUT_PASSES", "WARMUP", "forward_flops", "measure_cost"]

WARMUP = 2  # untimed batch-1 passes before timing (allocator, cuDNN autotuning, caches)
THROUGHPUT_PASSES = 2  # timed full batches (after one untimed): the cost stays a few batches


@torch.no_grad()
def forward_flops(model: nn.Module, x: torch.Tensor) -> int:
    """FLOPs of ``model(x)`` as FlopCounterMode counts them (2 per multiply-add), in eval mode."""
    was_training = model.training
    model.eval()
    try:
        with FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


@torch.no_grad()
def _time_passes(model: nn.Module, x: torch.Tensor, n: int, autocast: Callable) -> list[float]:
    """Wall seconds of each of `n` forward passes of `x` (device synchronised around each)."""
    sync = torch.cuda.synchronize if x.device.type == "cuda" else (lambda: None)
    out = []
    for _ in range(n):
        sync()
        t = time.perf_counter()
        with autocast():
            model(x)
        sync()
        out.append(time.perf_counter() - t)
    return out


def measure_cost(
    model: nn.Module, images: torch.Tensor, ctx: StepContext, *, batch_size: int, repeats: int
) -> dict[str, float | int]:
    """The cost columns of `model` (already on its device, unwrapped from DDP).

    Args:
        model: the trained network; left in eval mode.
        images: uint8 test images ``(N, C, H, W)`` on the CPU (N >= 1); a batch larger than N
            repeats them.
        ctx: the trial's step context: its preprocessing, memory format and autocast are used.
        batch_size: the batch of the throughput measurement.
        repeats: timed batch-1 passes (>= 1).

    Returns:
        ``macs``, ``flops``, ``latency_ms``, ``throughput_ips``, ``latency_repeats``.
    """
    if repeats < 1 or len(images) == 0:
        raise ValueError(f"need repeats >= 1 and at least one image (got {repeats}, {len(images)})")

    def to_input(x: torch.Tensor) -> torch.Tensor:
        return ctx.inputs(x, torch.zeros(len(x), dtype=torch.long))[0]

    model.eval()
    one = to_input(images[:1])  # (1, C, H, W)
    flops = forward_flops(model, one)
    _time_passes(model, one, WARMUP, ctx.autocast)
    latency = statistics.median(_time_passes(model, one, repeats, ctx.autocast))
    idx = torch.arange(batch_size) % len(images)
    batch = to_input(images[idx])  # (batch_size, C, H, W)
    _time_passes(model, batch, 1, ctx.autocast)
    best = min(_time_passes(model, batch, THROUGHPUT_PASSES, ctx.autocast))
    return {"macs": flops // 2, "flops": flops, "latency_ms": latency * 1e3,
            "throughput_ips": batch_size / best, "latency_repeats": repeats}
