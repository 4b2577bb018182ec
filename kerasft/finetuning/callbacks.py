"""Fine-tuning callbacks: a head's own validation report in the epoch logs, and
early stopping whose progress a resume checkpoint carries."""

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


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """`keras.callbacks.EarlyStopping` whose progress survives a resume.

    `state()` and `arrays()` give the best value, epochs waited and best
    weights for a resume checkpoint; `restore(...)` puts them back, applied
    when the resumed `fit` begins (Keras's `on_train_begin` resets them).

    Example:
    >>> stop = ResumableEarlyStopping("val_loss", patience=2, restore_best_weights=True)
    >>> stop.restore({"best": 0.5, "wait": 1, "best_epoch": 2}, None)
    >>> stop.exhausted
    False
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._restored: tuple[dict, list | None] | None = None

    def state(self) -> dict:
        best = self.best
        return {"best": None if best is None else float(best), "wait": int(self.wait),
                "best_epoch": int(self.best_epoch)}

    def arrays(self) -> dict:
        return {} if self.best_weights is None else {"best_weights": self.best_weights}

    def restore(self, state: dict, best_weights: list | None) -> None:
        self._restored = (state, best_weights)

    @property
    def exhausted(self) -> bool:
        """True when the restored run had already stopped early."""
        return self._restored is not None and self._restored[0]["wait"] >= self.patience

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self._restored is not None:
            state, self.best_weights = self._restored
            self.best, self.wait, self.best_epoch = (
                state["best"], state["wait"], state["best_epoch"])
