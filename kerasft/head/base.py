"""The head base class: what every task head promises the rest of kerasft.

A head is a Keras layer that reads one backbone feature and returns logits.
Around that it owns its task's data: how examples are read, how the label
vocabulary is built from train data, how examples become a `tf.data`
pipeline, the default loss and metrics, and `postprocess`, which turns logits
into the dense, batch-major tensors a SavedModel signature returns.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

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
    # What the rest of kerasft may ask of a head, declared, never guessed:
    # the FinetuneConfig fields the trainer passes to `__init__`,
    trainer_options: tuple[str, ...] = ("dropout",)
    # the shape of one example's target ("class": an int; "multi_hot": a
    # float per label; "token": an int per word piece, -1 where ignored),
    target_kind = "class"
    # the report key that ranks models, and the keys a one-line summary shows,
    primary_metric = "accuracy"
    summary_metrics: tuple[str, ...] = ("accuracy",)
    # and a tiny labelled file in the head's format, `(file_name, contents)`,
    # that the contract tests train, export and serve.
    example_data: tuple[str, str] | None = None

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

    @classmethod
    def summarize(cls, report: dict) -> str:
        """One line of the report's `summary_metrics` (e.g. `accuracy 0.8120, macro_f1 0.8118`)."""
        return ", ".join(
            f"{key} {report[key]:.4f}" for key in cls.summary_metrics if key in report
        )

    def class_counts(self, examples: Sequence) -> list[int] | None:
        """Train examples per label, in `labels` order; None if labels are not classes.

        Class-weighted losses (`loss="class_balanced"`, ...) need it.
        """
        return None

    def make_dataset(
        self,
        examples: Sequence,
        preprocessor: TextPreprocessor,
        *,
        batch_size: int = 32,
        shuffle: bool = False,
        seed: int | None = None,
    ) -> tf.data.Dataset:
        """A batched `(features, {head_name: targets})` dataset for `fit`.

        With `shuffle=True`, each epoch draws a new order and batches texts
        of similar length together (`length_bucketed_batches`), so a batch
        pads to less; without it, batches keep the examples' order (what
        `evaluate` expects).
        """
        texts, targets = self.encode(examples)
        targets = np.asarray(targets)
        rows = preprocessor.encode_rows(texts)
        lengths = np.array([len(t.split()) for t in texts])
        rng = np.random.default_rng(seed)
        name = self.name

        def generate():
            for batch in epoch_batches(lengths, batch_size, shuffle=shuffle, rng=rng):
                yield preprocessor.pad_rows([rows[i] for i in batch]), {name: targets[batch]}

        target_spec = tf.TensorSpec([None, *targets.shape[1:]], tf.as_dtype(targets.dtype))
        return features_dataset(generate, {name: target_spec}, len(rows), batch_size)

    # --- model --------------------------------------------------------
    def loss(self):
        """The default loss (a `keras.losses.Loss`)."""
        raise NotImplementedError

    def metrics_list(self) -> list:
        """The default metrics reported during `fit`."""
        return []

    def serving_features(self, preprocessor: TextPreprocessor, text: tf.Tensor) -> dict:
        """Raw strings to the backbone inputs (plus anything `postprocess` needs).

        The default is `preprocessor(text)`. Heads that must see how the text
        was split (e.g. token classification) override it; `TaskModel.serve`
        runs the backbone once per distinct override, so heads sharing one
        share the backbone pass. Must be graph-safe (it runs in SavedModels).

        Args:
            preprocessor: the model's `TextPreprocessor`.
            text: string `[batch]`.

        Example:
        >>> features = head.serving_features(model.preprocessor, tf.constant(["a b"]))  # doctest: +SKIP
        >>> logits = model({k: features[k] for k in ("token_ids", "segment_ids", "padding_mask")})  # doctest: +SKIP
        """
        return preprocessor(text)

    def postprocess(self, logits: tf.Tensor, features: dict) -> dict:
        """Logits to the serving outputs (dense, batch-major tensors)."""
        raise NotImplementedError

    def gold_labels(self, examples: Sequence) -> list:
        """Each example's gold label(s), in the form `predicted_labels` returns."""
        raise NotImplementedError

    def predicted_labels(self, targets: list, logits: list, examples: Sequence) -> list:
        """Each example's predicted label(s) from per-batch targets and logits.

        What paired comparisons between models are computed on (saved as a
        run's `test_predictions.json`): a label a text, a tag list a
        sentence, or a label list a text.
        """
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


def length_bucketed_batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator, *, window: int = 50
) -> list[np.ndarray]:
    """One epoch's batches of row indices: shuffled, of similar lengths inside each.

    A random order is sorted by length inside windows of `window` batches,
    cut into batches, and the batches are shuffled: far less padding than a
    plain shuffle, and still a new mix every epoch.

    Args:
        lengths: the length of each example (any cheap proxy).
        batch_size: examples per batch.
        rng: the generator (its state advances every epoch).
        window: batches sorted together.

    Example:
    >>> batches = length_bucketed_batches(np.array([5, 1, 4, 2]), 2, np.random.default_rng(0))
    >>> sorted(sorted(int(i) for i in b) for b in batches)  # lengths 1 & 2, 4 & 5
    [[0, 2], [1, 3]]
    """
    order = rng.permutation(len(lengths))
    span = batch_size * window
    batches = []
    for start in range(0, len(order), span):
        part = order[start : start + span]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def epoch_batches(
    lengths: np.ndarray, batch_size: int, *, shuffle: bool, rng: np.random.Generator
) -> list[np.ndarray]:
    """One epoch's row indices a batch: `length_bucketed_batches`, or in order.

    Example:
    >>> [b.tolist() for b in epoch_batches(np.ones(3), 2, shuffle=False, rng=None)]
    [[0, 1], [2]]
    """
    if shuffle:
        return length_bucketed_batches(lengths, batch_size, rng)
    n = len(lengths)
    return [np.arange(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]


def features_dataset(generate, target_spec: dict, num_rows: int, batch_size: int):
    """`(BERT features, {head: targets})` batches from a generator of numpy batches."""
    matrix = tf.TensorSpec([None, None], tf.int32)
    signature = (
        {"token_ids": matrix, "segment_ids": matrix,
         "padding_mask": tf.TensorSpec([None, None], tf.bool)},
        target_spec,
    )
    return (
        tf.data.Dataset.from_generator(generate, output_signature=signature)
        .apply(tf.data.experimental.assert_cardinality(-(-num_rows // batch_size)))
        .prefetch(tf.data.AUTOTUNE)
    )


def pool_text(features: dict, pooling: str):
    """One vector per text: the pooler's [CLS] output, or a masked token mean.

    Args:
        features: backbone outputs plus `padding_mask`.
        pooling: `"cls"` or `"mean"`.
    """
    if pooling == "cls":
        return features["pooled_output"]
    mask = keras.ops.cast(features["padding_mask"], "float32")[..., None]
    seq = keras.ops.cast(features["sequence_output"], "float32")
    return keras.ops.sum(seq * mask, axis=1) / keras.ops.maximum(
        keras.ops.sum(mask, axis=1), 1.0
    )


class PooledTextHead(Head):
    """A head on one vector per text: pooling, dropout and a dense `logits` layer.

    The shared body of the text-level kinds (single- and multi-label
    classification); subclasses give the loss, targets and outputs.

    Args:
        labels: the label names, in output order.
        pooling: `"cls"` reads the backbone's `pooled_output` (the [CLS]
            token through its pooler); `"mean"` averages `sequence_output`
            over real tokens, which learns faster from a small or
            from-scratch backbone.
        dropout: dropout before the output layer.
        name: the layer name (defaults to the registered head name).
    """

    trainer_options = ("dropout", "pooling")

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
        self.output_dense.build((None, features_shape[self.feature][-1]))
        self.built = True

    def call(self, features, training=None):
        x = pool_text(features, self.pooling)
        return self.output_dense(self.dropout_layer(x, training=training))

    def compute_output_shape(self, features_shape):
        return (features_shape[self.feature][0], self.num_labels)

    def get_config(self) -> dict:
        return {**super().get_config(), "pooling": self.pooling}
