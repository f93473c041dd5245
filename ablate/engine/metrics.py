"""Confusion matrix and per-class precision / sensitivity / F1 / support (NumPy; the tests check
them against scikit-learn's, which is not imported here: it costs every trial process ~2.5 s).

One rule for a metric that is undefined (0/0), used by the trial rows and the report alike:
it is NaN (``ZERO_DIVISION``), shown blank, never 0. Precision is 0/0 for a class the model
never predicts, sensitivity for a class absent from the split; F1 = 2TP / (2TP + FP + FN) is
0/0 only when both hold.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["ZERO_DIVISION", "class_metrics", "confusion_matrix", "per_class_metrics"]

ZERO_DIVISION = np.nan  # an undefined per-class metric (0/0)


def _labels(y: torch.Tensor | np.ndarray) -> np.ndarray:
    return (y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)).astype(np.int64).ravel()


def confusion_matrix(y_true: torch.Tensor | np.ndarray, y_pred: torch.Tensor | np.ndarray, num_classes: int) -> torch.Tensor:
    """(K, K) counts, rows = true class, columns = predicted class."""
    return torch.from_numpy(_counts(_labels(y_true), _labels(y_pred), num_classes))


def _counts(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """(k, k) int64 counts; labels outside 0..k-1 are not counted (as scikit-learn's ``labels=``)."""
    keep = (y_true >= 0) & (y_true < k) & (y_pred >= 0) & (y_pred < k)
    return np.bincount(y_true[keep] * k + y_pred[keep], minlength=k * k).reshape(k, k).astype(np.int64)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(num.shape, ZERO_DIVISION, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def class_metrics(y_true: torch.Tensor | np.ndarray, y_pred: torch.Tensor | np.ndarray, num_classes: int) -> list[dict[str, float]]:
    """Precision, sensitivity (recall), F1 and support per class; NaN where undefined."""
    cm = _counts(_labels(y_true), _labels(y_pred), num_classes)
    tp = np.diag(cm).astype(np.float64)
    predicted, support = cm.sum(axis=0), cm.sum(axis=1)  # columns: predicted as the class; rows: truly it
    precision, recall = _ratio(tp, predicted), _ratio(tp, support)
    f1 = _ratio(2 * tp, predicted + support)  # 2TP / (2TP + FP + FN)
    return [
        {"precision": float(p), "sensitivity": float(r), "f1": float(f), "support": int(s)}
        for p, r, f, s in zip(precision, recall, f1, support, strict=True)
    ]


def per_class_metrics(cm: torch.Tensor | np.ndarray) -> list[dict[str, float]]:
    """`class_metrics` of the images a (K, K) confusion matrix counts (rows true)."""
    counts = (cm.cpu().numpy() if isinstance(cm, torch.Tensor) else np.asarray(cm)).astype(np.int64)
    k = counts.shape[0]
    true_idx, pred_idx = np.indices((k, k))
    y_true = np.repeat(true_idx.ravel(), counts.ravel())  # (N,) one label per counted image
    y_pred = np.repeat(pred_idx.ravel(), counts.ravel())
    return class_metrics(y_true, y_pred, k)
