"""Multi-label metrics: micro/macro F1, subset accuracy, per-label thresholds."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _f1(tp, fp, fn):
    denominator = 2 * tp + fp + fn
    return float(2 * tp / denominator) if denominator else 0.0


def multilabel_report(
    y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]
) -> dict:
    """Micro/macro F1, subset accuracy and per-label precision/recall/F1.

    Args:
        y_true: gold multi-hot matrix, shape `[N, L]`.
        y_pred: predicted multi-hot matrix, shape `[N, L]`.
        labels: label names, one per column.

    Example:
    >>> multilabel_report([[1, 0], [1, 1]], [[1, 0], [0, 1]], ["a", "b"])["micro_f1"]
    0.8
    """
    y_true = np.asarray(y_true).astype(bool)
    y_pred = np.asarray(y_pred).astype(bool)
    if y_true.shape != y_pred.shape or y_true.ndim != 2 or y_true.shape[1] != len(labels):
        raise ValueError(
            "`y_true` and `y_pred` must both have shape [N, len(labels)] = "
            f"[N, {len(labels)}]. Received: {y_true.shape} and {y_pred.shape}."
        )
    tp = (y_true & y_pred).sum(0)
    fp = (~y_true & y_pred).sum(0)
    fn = (y_true & ~y_pred).sum(0)
    per_label = {}
    for i, name in enumerate(labels):
        per_label[name] = {
            "precision": float(tp[i] / (tp[i] + fp[i])) if tp[i] + fp[i] else 0.0,
            "recall": float(tp[i] / (tp[i] + fn[i])) if tp[i] + fn[i] else 0.0,
            "f1": _f1(tp[i], fp[i], fn[i]),
            "support": int(y_true[:, i].sum()),
        }
    TP, FP, FN = tp.sum(), fp.sum(), fn.sum()
    return {
        # Element-wise, the same quantity as the `accuracy` metric during fit.
        "accuracy": float((y_true == y_pred).mean()),
        "subset_accuracy": float((y_true == y_pred).all(axis=1).mean()),
        "micro_precision": float(TP / (TP + FP)) if TP + FP else 0.0,
        "micro_recall": float(TP / (TP + FN)) if TP + FN else 0.0,
        "micro_f1": _f1(TP, FP, FN),
        "macro_f1": float(np.mean([v["f1"] for v in per_label.values()])),
        "per_label": per_label,
        "num_examples": int(len(y_true)),
    }


def best_f1_threshold(probabilities: np.ndarray, targets: np.ndarray) -> tuple[float, float]:
    """The threshold maximizing F1 of one label, and that F1.

    The threshold sits halfway between the lowest probability predicted
    positive and the next lower one, so it does not hinge on one example.

    Args:
        probabilities: predicted probabilities of the label, shape `[N]`.
        targets: gold 0/1 values, shape `[N]`.

    Example:
    >>> best_f1_threshold(np.array([0.9, 0.4, 0.3, 0.1]), np.array([1, 1, 0, 0]))
    (0.35, 1.0)
    """
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(targets).astype(bool)
    order = np.argsort(-p, kind="stable")
    p, y = p[order], y[order]
    tp = np.cumsum(y)
    predicted = np.arange(1, len(p) + 1)
    # Only the last index of a run of tied probabilities is a real cut.
    cut = np.append(p[1:] != p[:-1], True)
    f1 = np.where(cut, 2 * tp / (predicted + y.sum()), -1.0)
    k = int(np.argmax(f1))
    lower = p[k + 1] if k + 1 < len(p) else 0.0
    return round(float((p[k] + lower) / 2), 6), float(f1[k])
