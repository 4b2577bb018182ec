"""Head base classes: what every task head promises the rest of kerasft.

A head is a Keras layer that reads one backbone feature and returns logits.
Around that it owns its task's data: how examples are read, how the label
vocabulary is built from train data, how examples become a `tf.data`
pipeline, the default loss and metrics, and `postprocess`, which turns logits
into the dense, batch-major tensors a SavedModel signature returns.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from kerasft.data.jsonl import LabelledText, read_labelled_jsonl
from kerasft.evaluation.classification import (
    classification_report,
    format_report,
    plot_confusion_matrix,
)
from kerasft.tokenizers import TextPreprocessor


class Head(keras.layers.Layer):
    """Base class of task heads.

    Subclasses set `feature` (the backbone output they read) and implement
    `call`, `read_examples`, `labels_from_examples`, `encode`, `loss`,
    `metrics` and `postprocess`. Register a subclass with
    `@kerasft.register_head(NAME)`.

    Args:
        labels: the label vocabulary, in output order.
        dropout: dropout before the output layer.
        name: the layer name; also the key of this head's outputs in a
            multi-head model. Defaults to the registered head name.
    """

    feature = "pooled_output"

    def __init__(
        self,
        labels: Sequence[str],
        dropout: float = 0.1,
        name: str | None = None,
        **kwargs,
    ):
        labels = [str(x) for x in labels]
        if len(labels) < 2 and not getattr(self, "allows_single_label", False):
            raise ValueError(
                f"`labels` needs at least 2 classes. Received: labels={labels}."
            )
        if len(set(labels)) != len(labels):
            raise ValueError(f"`labels` has duplicates. Received: labels={labels}.")
        name = name or getattr(type(self), "registered_name_", None)
        super().__init__(name=name, **kwargs)
        self.labels = labels
        self.dropout = dropout

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    # --- data ---------------------------------------------------------
    @classmethod
    def read_examples(cls, path: str | os.PathLike) -> list:
        """Read a labelled file in this head's format."""
        raise NotImplementedError

    @classmethod
    def labels_from_examples(cls, examples: Sequence) -> list[str]:
        """The label vocabulary of a train split (sorted, deterministic)."""
        raise NotImplementedError

    @classmethod
    def example_text(cls, example) -> str:
        """The raw text of one example (for vocabulary training)."""
        return example.text

    def encode(self, examples: Sequence):
        """Examples to `(texts, targets)` arrays; unknown labels raise."""
        raise NotImplementedError

    def make_dataset(
        self,
        examples: Sequence,
        preprocessor: TextPreprocessor,
        *,
        batch_size: int = 32,
        shuffle: bool = False,
        seed: int | None = None,
    ) -> tf.data.Dataset:
        """A batched `(features, {head_name: targets})` dataset for `fit`."""
        texts, targets = self.encode(examples)
        ds = tf.data.Dataset.from_tensor_slices((texts, targets))
        if shuffle:
            ds = ds.shuffle(len(texts), seed=seed, reshuffle_each_iteration=True)
        name = self.name
        return (
            ds.batch(batch_size)
            .map(
                lambda t, y: (preprocessor(t), {name: y}),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
            .prefetch(tf.data.AUTOTUNE)
        )

    # --- model --------------------------------------------------------
    def loss(self):
        """The default loss (a `keras.losses.Loss`)."""
        raise NotImplementedError

    def metrics_list(self) -> list:
        """The default metrics reported during `fit`."""
        return []

    def postprocess(self, logits: tf.Tensor, features: dict) -> dict:
        """Logits to the serving outputs (dense, batch-major tensors)."""
        raise NotImplementedError

    def evaluate(self, targets: list, logits: list, examples: Sequence) -> dict:
        """The head's report from per-batch targets and logits (JSON-able)."""
        raise NotImplementedError

    def calibrate(self, targets: list, logits: list, examples: Sequence) -> dict | None:
        """Tune serving-time settings (e.g. thresholds) on validation outputs.

        Called by the trainer after `fit`, before test evaluation and saving.
        Returns what was tuned (recorded in metrics.json), or None.
        """
        return None

    def write_reports(self, report: dict, directory: str, prefix: str = "test") -> list[str]:
        """Write human-readable reports (tables, plots); returns the paths."""
        return []

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"labels": self.labels, "dropout": self.dropout})
        return config


class ClassificationHead(Head):
    """Sequence classification: one label per text, softmax over `labels`.

    Args:
        labels: the class names, in output order.
        pooling: `"cls"` reads the backbone's `pooled_output` (the [CLS]
            token through its pooler); `"mean"` averages `sequence_output`
            over real tokens, which learns faster from a small or
            from-scratch backbone.
        dropout: dropout before the output layer.
        name: the layer name (defaults to the registered head name).

    Example:
    >>> head = ClassificationHead(["negative", "positive"])
    """

    def __init__(
        self,
        labels: Sequence[str],
        pooling: str = "cls",
        dropout: float = 0.1,
        name: str | None = None,
        **kwargs,
    ):
        super().__init__(labels=labels, dropout=dropout, name=name, **kwargs)
        if pooling not in ("cls", "mean"):
            raise ValueError(
                "`pooling` must be 'cls' or 'mean'. Received: "
                f"pooling={pooling!r}."
            )
        self.pooling = pooling
        self.feature = "pooled_output" if pooling == "cls" else "sequence_output"
        self.dropout_layer = keras.layers.Dropout(dropout, name="dropout")
        self.output_dense = keras.layers.Dense(
            self.num_labels, name="logits", dtype="float32"
        )

    def build(self, features_shape):
        hidden = features_shape[self.feature][-1]
        self.output_dense.build((None, hidden))
        self.built = True

    def call(self, features, training=None):
        if self.pooling == "cls":
            x = features["pooled_output"]
        else:
            mask = keras.ops.cast(features["padding_mask"], "float32")[..., None]
            seq = keras.ops.cast(features["sequence_output"], "float32")
            x = keras.ops.sum(seq * mask, axis=1) / keras.ops.maximum(
                keras.ops.sum(mask, axis=1), 1.0
            )
        return self.output_dense(self.dropout_layer(x, training=training))

    def compute_output_shape(self, features_shape):
        return (features_shape[self.feature][0], self.num_labels)

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

    def evaluate(self, targets, logits, examples):
        y_true = np.concatenate(targets)
        y_pred = np.concatenate(logits).argmax(-1)
        return classification_report(y_true, y_pred, self.labels)

    def write_reports(self, report, directory, prefix="test"):
        table = os.path.join(directory, f"{prefix}_report.txt")
        with open(table, "w") as f:
            f.write(format_report(report) + "\n")
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

    def get_config(self) -> dict:
        config = super().get_config()
        config["pooling"] = self.pooling
        return config
