"""Class-balanced losses for imbalanced fine-tuning data (sparse labels, logits)."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

_METHODS = ("effective_number", "inverse_frequency")


def class_weights(
    counts: Sequence[int] | np.ndarray,
    method: str = "effective_number",
    beta: float = 0.999,
) -> np.ndarray:
    """Per-class loss weights from class counts, summing to the class count.

    `"effective_number"` (Cui et al. 2019) gives class `c` a weight
    proportional to `(1 - beta) / (1 - beta ** n_c)`; `"inverse_frequency"`
    one proportional to `1 / n_c`. Either is then scaled so the weights sum to
    the number of classes, so a balanced dataset gets all-ones.

    Args:
        counts: the number of training examples (or tokens) of each class,
            indexed by class id. Every count must be > 0.
        method: `"effective_number"` or `"inverse_frequency"`.
        beta: the effective-number hyper-parameter in [0, 1); 0 gives equal
            weights, values near 1 approach inverse frequency.

    Example:
    >>> w = class_weights([900, 100], method="inverse_frequency")
    >>> [round(float(x), 6) for x in w]
    [0.2, 1.8]
    >>> fit_class_weight = dict(enumerate(w))  # for `model.fit(class_weight=)`
    """
    counts_arr = np.asarray(counts, dtype="float64")
    if counts_arr.ndim != 1 or counts_arr.size == 0:
        raise ValueError(
            "`counts` must be a non-empty 1-D sequence of per-class counts. "
            f"Received: counts={counts!r}"
        )
    if np.any(counts_arr <= 0) or not np.all(np.isfinite(counts_arr)):
        raise ValueError(
            "Every entry of `counts` must be a finite number > 0; a class with "
            "no examples cannot be weighted (drop it or add examples). "
            f"Received: counts={counts!r}"
        )
    if method == "effective_number":
        if not 0 <= beta < 1:
            raise ValueError(
                f"`beta` must be in [0, 1). Received: beta={beta!r}"
            )
        raw = (1.0 - beta) / (1.0 - np.power(beta, counts_arr))
    elif method == "inverse_frequency":
        raw = 1.0 / counts_arr
    else:
        raise ValueError(
            f"`method` must be one of {_METHODS}. Received: method={method!r}"
        )
    return (raw / raw.sum() * counts_arr.size).astype("float32")


def _as_weight_vector(weights, arg_name):
    if weights is None:
        return None
    arr = np.asarray(weights, dtype="float32")
    if arr.ndim != 1 or arr.size == 0 or np.any(arr < 0):
        raise ValueError(
            f"`{arg_name}` must be a non-empty 1-D sequence of non-negative "
            f"per-class weights. Received: {arg_name}={weights!r}"
        )
    return arr


def _flatten_sparse_labels(y_true, y_pred):
    # Accept labels shaped like logits minus the class axis, or with a
    # trailing 1 (what `keras.utils` / tf.data pipelines often produce).
    y_true = ops.convert_to_tensor(y_true)
    if len(y_true.shape) == len(y_pred.shape):
        y_true = ops.squeeze(y_true, axis=-1)
    return ops.cast(y_true, "int32")


def _log_probs(y_pred, from_logits):
    if from_logits:
        return ops.log_softmax(y_pred, axis=-1)
    y_pred = ops.clip(y_pred, keras.config.epsilon(), 1.0)
    return ops.log(y_pred)


def _pick(values, y_true, num_classes):
    # Gather along the class axis for any leading shape.
    return ops.sum(values * ops.one_hot(y_true, num_classes, dtype=values.dtype), -1)


@keras.saving.register_keras_serializable(package="kerasft")
class SparseFocalLoss(keras.losses.Loss):
    """Focal loss (Lin et al. 2017) for integer labels over class scores.

    Per element: `-alpha[y] * (1 - p_y) ** gamma * log(p_y)`, where `p_y` is the
    softmax probability of the true class. `gamma=0` and no `alpha` is plain
    sparse categorical cross-entropy. Works for `[batch]` labels with
    `[batch, classes]` scores and for `[batch, seq]` labels with
    `[batch, seq, classes]` scores; pass a `[batch, seq]` `sample_weight` to
    mask padding tokens.

    Args:
        gamma: the focusing parameter (>= 0).
        alpha: optional per-class weights, indexed by class id (e.g. from
            `class_weights`).
        from_logits: whether `y_pred` are logits (default) or probabilities.
        reduction: a Keras loss reduction.
        name: the loss name.

    Example:
    >>> loss = SparseFocalLoss(gamma=2.0, alpha=[0.25, 0.75])
    >>> value = loss([0, 1], [[2.0, -1.0], [0.5, 0.3]])
    """

    def __init__(
        self,
        gamma: float = 2.0,
        alpha: Sequence[float] | None = None,
        from_logits: bool = True,
        reduction: str | None = "sum_over_batch_size",
        name: str = "sparse_focal_loss",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if not gamma >= 0:
            raise ValueError(f"`gamma` must be >= 0. Received: gamma={gamma!r}")
        self.gamma = float(gamma)
        self.alpha = _as_weight_vector(alpha, "alpha")
        self.from_logits = from_logits

    def call(self, y_true, y_pred):
        y_pred = ops.convert_to_tensor(y_pred)
        num_classes = y_pred.shape[-1]
        y_true = _flatten_sparse_labels(y_true, y_pred)
        log_p = _pick(_log_probs(y_pred, self.from_logits), y_true, num_classes)
        loss = -log_p
        if self.gamma:
            loss = loss * ops.power(1.0 - ops.exp(log_p), self.gamma)
        if self.alpha is not None:
            _check_num_classes(self.alpha, num_classes, "alpha")
            loss = loss * ops.take(ops.convert_to_tensor(self.alpha), y_true)
        return loss

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "gamma": self.gamma,
                "alpha": None if self.alpha is None else self.alpha.tolist(),
                "from_logits": self.from_logits,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="kerasft")
class WeightedSparseCategoricalCrossentropy(keras.losses.Loss):
    """Sparse categorical cross-entropy with a fixed weight per class.

    Per element: `-class_weights[y] * log(p_y)`. The Keras `reduction` then
    applies as usual: the default `"sum_over_batch_size"` divides the
    (sample-weighted) sum by the number of elements, and
    `"mean_with_sample_weight"` divides by the sum of `sample_weight`. For
    token classification pass `[batch, seq]` labels, `[batch, seq, classes]`
    scores and a `[batch, seq]` `sample_weight` mask.

    Args:
        class_weights: per-class weights, indexed by class id (e.g. from
            `kerasft.optim.losses.class_weights`).
        from_logits: whether `y_pred` are logits (default) or probabilities.
        reduction: a Keras loss reduction.
        name: the loss name.

    Example:
    >>> loss = WeightedSparseCategoricalCrossentropy([0.2, 1.8])
    >>> value = loss([0, 1], [[2.0, -1.0], [0.5, 0.3]])
    """

    def __init__(
        self,
        class_weights: Sequence[float],
        from_logits: bool = True,
        reduction: str | None = "sum_over_batch_size",
        name: str = "weighted_sparse_categorical_crossentropy",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        weights = _as_weight_vector(class_weights, "class_weights")
        if weights is None:
            raise ValueError(
                "`class_weights` is required; use "
                "`keras.losses.SparseCategoricalCrossentropy` for unweighted "
                "loss. Received: class_weights=None"
            )
        self.class_weights = weights
        self.from_logits = from_logits

    def call(self, y_true, y_pred):
        y_pred = ops.convert_to_tensor(y_pred)
        num_classes = y_pred.shape[-1]
        _check_num_classes(self.class_weights, num_classes, "class_weights")
        y_true = _flatten_sparse_labels(y_true, y_pred)
        log_p = _pick(_log_probs(y_pred, self.from_logits), y_true, num_classes)
        weights = ops.take(ops.convert_to_tensor(self.class_weights), y_true)
        return -log_p * weights

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "class_weights": self.class_weights.tolist(),
                "from_logits": self.from_logits,
            }
        )
        return config


def _check_num_classes(weights, num_classes, arg_name):
    if num_classes is not None and weights.shape[0] != num_classes:
        raise ValueError(
            f"`{arg_name}` must have one entry per class. Received "
            f"{weights.shape[0]} weights for predictions with {num_classes} "
            f"classes. Pass a {arg_name} of length {num_classes}."
        )
