"""Confusion matrix and per-class precision / sensitivity / F1 / support."""

from __future__ import annotations

import torch

__all__ = ["confusion_matrix", "per_class_metrics"]


def confusion_matrix(y_true: torch.Tensor, y_pred: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(K, K) counts, rows = true class, columns = predicted class."""
    idx = y_true.long() * num_classes + y_pred.long()
    return torch.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def per_class_metrics(cm: torch.Tensor) -> list[dict[str, float]]:
    """Precision, sensitivity (recall), F1 and support per class; 0 where undefined."""
    cm = cm.double()
    tp = cm.diag()
    pred = cm.sum(0)
    true = cm.sum(1)
    precision = torch.where(pred > 0, tp / pred.clamp(min=1), torch.zeros_like(tp))
    recall = torch.where(true > 0, tp / true.clamp(min=1), torch.zeros_like(tp))
    denom = precision + recall
    f1 = torch.where(denom > 0, 2 * precision * recall / denom.clamp(min=1e-12), torch.zeros_like(tp))
    return [
        {"precision": float(p), "sensitivity": float(r), "f1": float(f), "support": int(s)}
        for p, r, f, s in zip(precision, recall, f1, true, strict=True)
    ]
