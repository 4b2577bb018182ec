"""Single-label text classification: one label per text, softmax over the labels."""

from __future__ import annotations

import collections
import os

import keras
import numpy as np
import tensorflow as tf

from kerasft.atomic_files import write_text
from kerasft.data.jsonl import LabelledText, read_labelled_jsonl
from kerasft.head.base import PooledTextHead
from kerasft.head.prototypes import PrototypeLogits
from kerasft.metrics.classification import (
    classification_report,
    format_report,
    plot_confusion_matrix,
)


CLASSIFIERS = ("linear", "prototypical")


class ClassificationHead(PooledTextHead):
    """Sequence classification: one label per text, softmax over `labels`.

    Args:
        labels, pooling, dropout, name: as in `PooledTextHead`.
        classifier: `"linear"` (a dense layer) or `"prototypical"` (a class
            scores by its distance to a learned prototype, `PrototypeLogits`;
            for small labelled sets). Both give the same outputs.

    Example:
    >>> head = ClassificationHead(["negative", "positive"], classifier="prototypical")
    """

    summary_metrics = ("accuracy", "macro_f1")
    trainer_options = ("dropout", "pooling", "classifier")

    def __init__(self, labels, pooling="cls", dropout=0.1, name=None,
                 classifier: str = "linear", **kwargs):
        super().__init__(labels=labels, pooling=pooling, dropout=dropout, name=name, **kwargs)
        if classifier not in CLASSIFIERS:
            raise ValueError(
                f"`classifier` must be one of {CLASSIFIERS}. Received: "
                f"classifier={classifier!r}."
            )
        self.classifier = classifier
        if classifier == "prototypical":
            self.output_dense = PrototypeLogits(self.num_labels, name="logits")

    def get_config(self) -> dict:
        return {**super().get_config(), "classifier": self.classifier}

    @classmethod
    def read_examples(cls, path, **kwargs) -> list[LabelledText]:
        return read_labelled_jsonl(path, **kwargs)

    @classmethod
    def labels_from_examples(cls, examples) -> list[str]:
        return sorted({e.label for e in examples})

    def encode(self, examples):
        index = {label: i for i, label in enumerate(self.labels)}
        ids = []
        for e in examples:
            if e.label not in index:
                raise ValueError(
                    f"{e.source}, line {e.line}: label {e.label!r} was never "
                    f"seen in the train data. Known labels: {self.labels}. Fix "
                    "the label or add examples of it to train."
                )
            ids.append(index[e.label])
        texts = np.array([e.text for e in examples], dtype=object)
        return texts, np.array(ids, dtype="int32")

    def class_counts(self, examples) -> list[int]:
        counts = collections.Counter(e.label for e in examples)
        return [counts.get(label, 0) for label in self.labels]

    def loss(self):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def gold_labels(self, examples):
        return [e.label for e in examples]

    def predicted_labels(self, targets, logits, examples):
        return [self.labels[i] for i in np.concatenate(logits).argmax(-1)]

    def evaluate(self, targets, logits, examples):
        y_true = np.concatenate(targets)
        y_pred = np.concatenate(logits).argmax(-1)
        return classification_report(y_true, y_pred, self.labels)

    def write_reports(self, report, directory, prefix="test"):
        table = os.path.join(directory, f"{prefix}_report.txt")
        write_text(table, format_report(report) + "\n")
        png = plot_confusion_matrix(
            report, os.path.join(directory, f"{prefix}_confusion_matrix.png"),
            title=f"{self.name} {prefix}: accuracy {report['accuracy']:.3f}",
        )
        return [table, png]

    def metrics_list(self):
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def postprocess(self, logits, features):
        probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
        best = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        return {
            "label": tf.gather(tf.constant(self.labels), best),
            "probabilities": probabilities,
            "score": tf.reduce_max(probabilities, axis=-1),
        }
