"""Classification metrics: accuracy, per-class P/R/F1, macro-F1, confusion matrix."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from kerasft.atomic_files import atomic_path


def classification_report(
    y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str]
) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the matrix.

    Args:
        y_true: gold class ids.
        y_pred: predicted class ids.
        labels: class names, indexed by id.

    Example:
    >>> classification_report([0, 1, 1], [0, 1, 0], ["neg", "pos"])["accuracy"]
    0.6666666666666666
    """
    y_true = np.asarray(y_true, dtype=int)
    y_pred = np.asarray(y_pred, dtype=int)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            "`y_true` and `y_pred` must have the same length. Received: "
            f"{len(y_true)} and {len(y_pred)}."
        )
    k = len(labels)
    matrix = np.zeros((k, k), dtype=int)
    np.add.at(matrix, (y_true, y_pred), 1)
    per_class = {}
    f1s = []
    for i, name in enumerate(labels):
        tp = matrix[i, i]
        predicted = matrix[:, i].sum()
        support = matrix[i, :].sum()
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
        f1s.append(f1)
        per_class[name] = {
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
            "support": int(support),
        }
    return {
        "accuracy": float((y_true == y_pred).mean()) if len(y_true) else 0.0,
        "macro_f1": float(np.mean(f1s)),
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
        "labels": list(labels),
        "examples": int(len(y_true)),
    }


def format_report(report: dict) -> str:
    """A fixed-width per-class table, like scikit-learn's."""
    lines = [f"{'label':>16} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>8}"]
    for name, m in report["per_class"].items():
        lines.append(
            f"{name[:16]:>16} {m['precision']:9.4f} {m['recall']:9.4f} "
            f"{m['f1']:9.4f} {m['support']:8d}"
        )
    lines.append(f"{'accuracy':>16} {report['accuracy']:29.4f} {report['examples']:8d}")
    lines.append(f"{'macro f1':>16} {report['macro_f1']:29.4f}")
    return "\n".join(lines)


def plot_confusion_matrix(report: dict, path: str | os.PathLike, title: str = "") -> str:
    """Write the confusion matrix as a PNG (rows: gold, columns: predicted)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.asarray(report["confusion_matrix"])
    labels = report["labels"]
    size = max(3.5, 0.6 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    threshold = matrix.max() / 2 if matrix.size else 0
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center",
                    color="white" if matrix[i, j] > threshold else "black")
    ax.set_title(title or f"accuracy {report['accuracy']:.3f}")
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:  # keeps the .png extension savefig reads
            fig.savefig(tmp, dpi=100)
    finally:
        plt.close(fig)
    return os.fspath(path)
