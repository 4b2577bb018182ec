"""Callbacks that put a head's own validation report into Keras's epoch logs."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import keras

from kerasft.evaluation.predict import evaluate_model


class HeadMetricsCallback(keras.callbacks.Callback):
    """Put a head's own validation report into the epoch logs (`val_macro_f1`, ...).

    At each epoch end it runs the head's `evaluate` on the examples and adds
    every float of the report as `val_{name}`, so `EarlyStopping`,
    `ModelCheckpoint` and `History` can use metrics Keras does not compute
    per batch (macro-F1, entity F1). Place it before those callbacks.

    Args:
        head_name: the head to evaluate.
        examples: the validation examples, in the head's format.
        monitor: optional log key that must appear (e.g. `"val_macro_f1"`);
            a clear error replaces Keras's silent warning otherwise.
        batch_size: prediction batch size.

    Example:
    >>> cb = HeadMetricsCallback("sentiment", validation, monitor="val_macro_f1")  # doctest: +SKIP
    >>> stop = keras.callbacks.EarlyStopping("val_macro_f1", mode="max",  # doctest: +SKIP
    ...                                      restore_best_weights=True)
    >>> model.fit(train_ds, epochs=5, callbacks=[cb, stop])  # doctest: +SKIP
    """

    def __init__(
        self,
        head_name: str,
        examples: Sequence,
        *,
        monitor: str | None = None,
        batch_size: int = 64,
    ):
        super().__init__()
        self.head_name = head_name
        self.examples = list(examples)
        self.monitor = monitor
        self.batch_size = batch_size

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        report = evaluate_model(
            self.model, self.head_name, self.examples, batch_size=self.batch_size
        )
        for key, value in report.items():
            # Counts (`examples`, supports) are ints, not metrics to monitor.
            if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
                # Keras's own per-batch value (e.g. val_accuracy) wins.
                logs.setdefault(f"val_{key}", float(value))
        if self.monitor and self.monitor not in logs:
            raise ValueError(
                f"`monitor` must be a validation metric of head "
                f"{self.head_name!r}. Received: monitor={self.monitor[4:]!r}; "
                f"available: {sorted(k[4:] for k in logs if k.startswith('val_'))}."
            )
