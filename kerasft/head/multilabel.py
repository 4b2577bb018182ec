"""Multi-label classification: any subset of `labels` per text.

Each label gets an independent sigmoid and its own decision threshold. The
thresholds live in the head's config, so `.keras` files and SavedModels
carry the values tuned on validation (`calibrate`) rather than a blanket 0.5,
which rarely suits rare labels.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from kerasft.atomic_files import write_text
from kerasft.data.jsonl import LabelledText, read_labelled_jsonl
from kerasft.head.base import PooledTextHead
from kerasft.metrics.multilabel import best_f1_threshold, multilabel_report


class MultiLabelClassificationHead(PooledTextHead):
    """Multi-label classification: an independent sigmoid per label.

    Data: JSONL, one `{"text": "...", "labels": ["a", "b"]}` object a line
    (an empty list means no label applies). Serving outputs: `labels`
    `[B, L]` string (the label name where active, else `""`), `active`
    `[B, L]` int32, `probabilities` `[B, L]` float, and `label` `[B]` (the most
    probable active label, `""` when none is active).

    Args:
        labels: the label names, in output order.
        pooling: `"cls"` reads `pooled_output`; `"mean"` averages
            `sequence_output` over real tokens.
        thresholds: one decision threshold per label in (0, 1); default 0.5
            each. `calibrate` replaces them with F1-optimal values.
        dropout: dropout before the output layer.
        name: the layer name (defaults to the registered head name).

    Example:
    >>> head = MultiLabelClassificationHead(["archaic", "verse"], thresholds=[0.4, 0.6])
    >>> head.thresholds
    [0.4, 0.6]
    """

    # One attribute ("is it verse?") is a valid multi-label task.
    allows_single_label = True
    label_field = "labels"
    target_kind = "multi_hot"
    summary_metrics = ("accuracy", "macro_f1")

    def __init__(
        self,
        labels: Sequence[str],
        pooling: str = "cls",
        thresholds: Sequence[float] | None = None,
        dropout: float = 0.1,
        name: str | None = None,
        **kwargs,
    ):
        if not list(labels):
            raise ValueError("`labels` must name at least one label. Received: [].")
        super().__init__(
            labels=labels, pooling=pooling, dropout=dropout, name=name, **kwargs
        )
        self.thresholds = self._check_thresholds(thresholds)

    def _check_thresholds(self, thresholds) -> list[float]:
        if thresholds is None:
            return [0.5] * self.num_labels
        thresholds = [float(t) for t in thresholds]
        if len(thresholds) != self.num_labels or not all(0 < t < 1 for t in thresholds):
            raise ValueError(
                f"`thresholds` must hold one value in (0, 1) per label "
                f"({self.num_labels} labels: {self.labels}). Received: "
                f"thresholds={thresholds}. Pass None for 0.5 each."
            )
        return thresholds

    # --- data ---------------------------------------------------------
    @classmethod
    def read_examples(cls, path, **kwargs) -> list[LabelledText]:
        kwargs.setdefault("label_field", cls.label_field)
        return read_labelled_jsonl(path, label_type=list, **kwargs)

    @classmethod
    def labels_from_examples(cls, examples) -> list[str]:
        labels = sorted({label for e in examples for label in e.label})
        if not labels:
            raise ValueError(
                "Every example has an empty `labels` list, so there is nothing "
                "to learn. Expected at least one label name in the train data."
            )
        return labels

    def encode(self, examples):
        index = {label: i for i, label in enumerate(self.labels)}
        targets = np.zeros((len(examples), self.num_labels), dtype="float32")
        for row, e in enumerate(examples):
            for label in e.label:
                if label not in index:
                    raise ValueError(
                        f"{e.source}, line {e.line}: label {label!r} was never "
                        f"seen in the train data. Known labels: {self.labels}. "
                        "Fix the label or add examples of it to train."
                    )
                targets[row, index[label]] = 1.0
        return np.array([e.text for e in examples], dtype=object), targets

    # --- model --------------------------------------------------------
    def loss(self):
        return keras.losses.BinaryCrossentropy(from_logits=True)

    def metrics_list(self):
        # On logits, threshold 0 is probability 0.5. `accuracy` is the
        # fit-time view only (`evaluate` uses the tuned thresholds); macro
        # ROC AUC is threshold-free, so it suits early stopping (`--monitor=auc`).
        return [
            keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0),
            keras.metrics.AUC(
                from_logits=True, multi_label=True, num_labels=self.num_labels,
                name="auc",
            ),
        ]

    def postprocess(self, logits, features):
        probabilities = tf.math.sigmoid(tf.cast(logits, tf.float32))
        active = probabilities >= tf.constant(self.thresholds, tf.float32)
        names = tf.constant(self.labels)
        labels = tf.where(active, names, tf.constant(""))
        # Inactive labels rank below every active one, so the top label is
        # the most probable active label whenever one exists.
        ranked = tf.where(active, probabilities, probabilities - 2.0)
        best = tf.argmax(ranked, axis=-1, output_type=tf.int32)
        label = tf.where(
            tf.reduce_any(active, axis=-1), tf.gather(names, best), tf.constant("")
        )
        return {
            "label": label,
            "labels": labels,
            "active": tf.cast(active, tf.int32),
            "probabilities": probabilities,
        }

    def _probabilities(self, targets, logits):
        y_true = np.concatenate(targets).astype(bool)
        probabilities = 1.0 / (1.0 + np.exp(-np.concatenate(logits).astype(np.float64)))
        return y_true, probabilities

    def gold_labels(self, examples):
        return [sorted(e.label) for e in examples]

    def predicted_labels(self, targets, logits, examples):
        _, probabilities = self._probabilities(targets, logits)
        chosen = probabilities >= np.array(self.thresholds)
        return [[l for l, on in zip(self.labels, row) if on] for row in chosen]

    def evaluate(self, targets, logits, examples):
        y_true, probabilities = self._probabilities(targets, logits)
        report = multilabel_report(
            y_true, probabilities >= np.array(self.thresholds), self.labels
        )
        report["thresholds"] = dict(zip(self.labels, self.thresholds))
        return report

    def calibrate(self, targets, logits, examples):
        """Set each label's threshold to the one maximizing its validation F1.

        Labels without a positive validation example keep their threshold
        (F1 is undefined there).
        """
        y_true, probabilities = self._probabilities(targets, logits)
        thresholds, tuned = list(self.thresholds), {}
        for i, name in enumerate(self.labels):
            if not y_true[:, i].any():
                tuned[name] = {"threshold": thresholds[i], "kept": "no positives"}
                continue
            t, f1 = best_f1_threshold(probabilities[:, i], y_true[:, i])
            # Keep the threshold strictly inside (0, 1), as the config requires.
            thresholds[i] = min(max(t, 1e-6), 1 - 1e-6)
            tuned[name] = {"threshold": thresholds[i], "validation_f1": f1}
        self.thresholds = thresholds
        return {"thresholds": tuned}

    def write_reports(self, report, directory, prefix="test"):
        path = os.path.join(directory, f"{prefix}_report.txt")
        lines = [f"{'label':<20} {'thresh':>7} {'prec':>7} {'recall':>7} {'f1':>7} {'support':>8}"]
        for name, row in report["per_label"].items():
            lines.append(
                f"{name:<20} {report['thresholds'][name]:>7.3f} {row['precision']:>7.3f} "
                f"{row['recall']:>7.3f} {row['f1']:>7.3f} {row['support']:>8d}"
            )
        lines.append(
            f"\nmicro F1 {report['micro_f1']:.4f}  macro F1 {report['macro_f1']:.4f}  "
            f"subset accuracy {report['subset_accuracy']:.4f}  "
            f"examples {report['num_examples']}"
        )
        write_text(path, "\n".join(lines) + "\n")
        return [path]

    def get_config(self) -> dict:
        config = super().get_config()
        config["thresholds"] = list(self.thresholds)
        return config
