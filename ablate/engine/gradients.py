"""Gradient statistics of the first convolutional layers (the paper's Fig. 6).

`GradientStats` finds the first `k` Conv2d layers in forward (execution) order, and after
each backward adds their weight gradients' sum of |g|, sum of g^2 and count to running totals
on the device (no host sync per step). `summary()` gives, per layer and over all of them, the
mean and variance of |gradient| since the last reset.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["GradientStats", "first_conv_layers"]


def first_conv_layers(model: nn.Module, example: torch.Tensor, k: int = 8) -> list[tuple[str, nn.Conv2d]]:
    """The first `k` Conv2d modules in the order a forward pass runs them."""
    names = {m: n for n, m in model.named_modules()}
    order: list[nn.Module] = []
    hooks = [m.register_forward_hook(lambda mod, i, o: order.append(mod))
             for m in model.modules() if isinstance(m, nn.Conv2d)]
    was = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(example)
    finally:
        for h in hooks:
            h.remove()
        model.train(was)
    seen: list[nn.Module] = []
    for m in order:
        if m not in seen:
            seen.append(m)
    return [(names[m], m) for m in seen[:k]]


class GradientStats:
    """Running |gradient| statistics of the first `k` conv layers' weights."""

    def __init__(self, model: nn.Module, example: torch.Tensor, k: int = 8) -> None:
        self.layers = first_conv_layers(model, example, k)
        self.n_params = sum(conv.weight.numel() for _, conv in self.layers)
        self.reset()

    def reset(self) -> None:
        self._sums: list[torch.Tensor] | None = None

    def __call__(self, model: nn.Module | None = None) -> None:
        """Accumulate after a backward (usable as the loop's ``after_backward``)."""
        grads = [conv.weight.grad for _, conv in self.layers]
        if any(g is None for g in grads):
            return
        with torch.no_grad():
            now = [torch.stack([g.abs().sum(), (g.float() ** 2).sum(), torch.tensor(float(g.numel()), device=g.device)])
                   for g in grads]
            self._sums = now if self._sums is None else [a + b for a, b in zip(self._sums, now, strict=True)]

    def summary(self) -> list[dict[str, Any]]:
        """Rows per layer and one ``layer = 'all'``: abs_grad_mean, abs_grad_var, n_params."""
        if self._sums is None:
            return []
        rows, tot = [], torch.zeros(3, dtype=torch.float64)
        for (name, conv), s in zip(self.layers, self._sums, strict=True):
            s = s.double().cpu()
            tot += s
            rows.append(self._row(name, s, conv.weight.numel()))
        rows.append(self._row("all", tot, self.n_params))
        return rows

    @staticmethod
    def _row(name: str, s: torch.Tensor, n_params: int) -> dict[str, Any]:
        mean = float(s[0] / s[2])
        return {"layer": name, "abs_grad_mean": mean, "abs_grad_var": max(float(s[1] / s[2]) - mean * mean, 0.0),
                "n_params": n_params}
