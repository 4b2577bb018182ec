"""A task model's predictions and its head's report on labelled examples."""

from __future__ import annotations

import tensorflow as tf

from kerasft.task import TaskModel


def predict_split(model: TaskModel, head_name: str, examples, *, batch_size: int = 64):
    """Per-batch `(targets, logits)` of one head over labelled examples."""
    head = model.head(head_name)
    ds = head.make_dataset(examples, model.preprocessor, batch_size=batch_size)
    # Traced once per padded width (not per batch) instead of running eagerly,
    # which measured ~2x faster on validation passes.
    forward = tf.function(lambda f: model(f, training=False)[head_name],
                          reduce_retracing=True)
    targets, logits = [], []
    for batch in ds:  # (features, y) or (features, y, sample_weight)
        features, y = batch[0], batch[1]
        logits.append(forward(features).numpy())
        targets.append(y[head_name].numpy())
    return targets, logits


def evaluate_model(
    model: TaskModel, head_name: str, examples, *, batch_size: int = 64
) -> dict:
    """The head's own report (accuracy, F1, ...) on labelled examples."""
    targets, logits = predict_split(model, head_name, examples, batch_size=batch_size)
    return model.head(head_name).evaluate(targets, logits, examples)
