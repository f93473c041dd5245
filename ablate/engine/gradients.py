"""Gradient statistics of the first convolutional layers (the paper's Fig. 6). No Ray imports.

`first_conv_layers` finds the first `k` Conv2d modules in forward (execution) order with
hooks during one small forward pass; for a modified model the backbone's convs run before
the PCBs and the gate. `GradientStats`, called after each backward, adds every such layer's
weight-gradient sum of |g|, sum of g^2 and element count to running totals on the device
(no host sync per step; steps with non-finite gradients, e.g. skipped AMP steps, are left
out). `summary()` / `as_dict()` give the mean and variance of |gradient| since `reset()`,
per layer and over all of those weights together.

torchvision's MobileNetV3-small has 4616 weights in its first eight convs (432 + 144 + 128
+ 128 + 256 + 1152 + 648 + 1728: the stem, the first block with its squeeze-excitation and
the second block); the paper's Gluon model had 7264.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["GradientStats", "first_conv_layers"]

PROBE_SIZE = 96  # side of the default probe input (Inception-v3 needs at least 75)


def first_conv_layers(
    model: nn.Module, example: torch.Tensor | None = None, k: int = 8
) -> list[tuple[str, nn.Conv2d]]:
    """The first `k` Conv2d modules in the order a forward pass runs them.

    Args:
        model: the network (its train/eval mode is restored afterwards).
        example: an input batch for the probe pass (default: zeros (1, 3, 96, 96) on the
            model's device).
        k: how many layers.

    Returns:
        ``[(module name, module), ...]``, at most `k`.
    """
    if isinstance(example, int):
        raise TypeError("first_conv_layers(model, example=None, k=8): pass k by keyword")
    if example is None:
        p = next(model.parameters())
        example = torch.zeros(1, 3, PROBE_SIZE, PROBE_SIZE, device=p.device, dtype=p.dtype)
    names = {m: n for n, m in model.named_modules()}
    order: dict[nn.Module, None] = {}  # insertion-ordered set of convs as they run
    hooks = [
        m.register_forward_hook(lambda mod, _i, _o: order.setdefault(mod))
        for m in model.modules()
        if isinstance(m, nn.Conv2d)
    ]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(example)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return [(names[m], m) for m in list(order)[:k]]


class GradientStats:
    """Running |gradient| statistics of the first `k` conv layers' weights.

    Usable as the training loop's ``after_backward`` callback (gradients already unscaled).

    Args:
        model: the (unwrapped) network whose layers are watched.
        example: probe input for `first_conv_layers` (default: zeros on the model's device).
        k: how many conv layers.
    """

    def __init__(self, model: nn.Module, example: torch.Tensor | None = None, k: int = 8) -> None:
        self.layers = first_conv_layers(model, example, k=k)
        if not self.layers:
            raise ValueError("the model ran no Conv2d layer in its forward pass")
        self.numels = [conv.weight.numel() for _, conv in self.layers]
        self.n_params = sum(self.numels)
        w = self.layers[0][1].weight
        self._dtype = torch.float32 if w.device.type == "mps" else torch.float64
        self._numel = torch.tensor(self.numels, dtype=self._dtype, device=w.device)  # (L,)
        self.reset()

    def reset(self) -> None:
        """Start a new accumulation window (e.g. each epoch)."""
        w = self.layers[0][1].weight
        self._acc = torch.zeros(
            len(self.layers), 3, dtype=self._dtype, device=w.device
        )  # (L, [sum|g|, sum g^2, n])
        self.steps = 0

    @torch.no_grad()
    def __call__(self, model: nn.Module | None = None) -> None:
        """Add the current weight gradients (call after each backward)."""
        grads = [conv.weight.grad for _, conv in self.layers]
        have = [i for i, g in enumerate(grads) if g is not None]
        if not have:
            return
        s = torch.stack(
            [
                torch.stack([grads[i].float().abs().sum(), grads[i].float().square().sum()])
                for i in have
            ]
        )
        s = s.to(device=self._acc.device, dtype=self._dtype)  # (L', 2)
        full = len(have) == len(grads)
        numel = self._numel if full else self._numel[have]  # (L',)
        ok = torch.isfinite(s).all(dim=1)  # (L',)
        step = torch.cat(
            [torch.where(ok[:, None], s, 0.0), torch.where(ok, numel, 0.0)[:, None]], 1
        )  # (L', 3)
        if full:
            self._acc += step  # (L, 3)
        else:  # some layers frozen or unused this step
            self._acc[have] += step
        self.steps += 1

    def _totals(self) -> tuple[list[tuple[str, list[float], int]], list[float]]:
        acc = self._acc.double().cpu().tolist()  # the one host sync
        per = [
            (name, row, n) for (name, _), row, n in zip(self.layers, acc, self.numels, strict=True)
        ]
        tot = [sum(r[j] for r in acc) for j in range(3)]
        return per, tot

    @staticmethod
    def _stats(s: list[float]) -> tuple[float, float]:
        if s[2] == 0:
            return float("nan"), float("nan")
        mean = s[0] / s[2]
        return mean, max(s[1] / s[2] - mean * mean, 0.0)

    def summary(self) -> list[dict[str, Any]]:
        """Table rows: one per layer, then ``layer = 'all'`` ([] before any step).

        Each row: ``layer, abs_grad_mean, abs_grad_var, n_params`` (the `gradients` schema).
        """
        if self.steps == 0:
            return []
        per, tot = self._totals()
        rows = []
        for name, s, n in [*per, ("all", tot, self.n_params)]:
            mean, var = self._stats(s)
            rows.append({"layer": name, "abs_grad_mean": mean, "abs_grad_var": var, "n_params": n})
        return rows

    def as_dict(self) -> dict[str, Any]:
        """Totals since `reset()`: mean, variance and count over all the watched weights, per layer.

        Returns:
            ``abs_grad_mean, abs_grad_var, n_params, steps`` and ``layers``:
            ``{name: {abs_grad_mean, abs_grad_var, n_params}}`` (NaN before any step).
        """
        per, tot = self._totals()
        mean, var = self._stats(tot)
        layers = {}
        for name, s, n in per:
            m, v = self._stats(s)
            layers[name] = {"abs_grad_mean": m, "abs_grad_var": v, "n_params": n}
        return {
            "abs_grad_mean": mean,
            "abs_grad_var": var,
            "n_params": self.n_params,
            "steps": self.steps,
            "layers": layers,
        }
