"""Train several heads of one `TaskModel`: jointly (multitask) or one after another.

Joint training mixes the heads' `make_dataset` streams into one dataset for
`model.fit` with `multitask_dataset`: every batch belongs to one task, the
other heads get dummy targets with sample weight 0, so Keras's per-head dict
losses and metrics only count the task the batch came from. Tasks are drawn
in proportion to their sizes (`sampling="proportional"`) or in turn
(`sampling="round_robin"`). `sequential_fit` trains head after head instead,
each stage with only the active head trainable next to the backbone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import keras
import tensorflow as tf


SAMPLINGS = ("proportional", "round_robin")


def _check_datasets(model, datasets: Mapping[str, tf.data.Dataset]) -> list[str]:
    names = list(datasets)
    if not names:
        raise ValueError(
            "`datasets` must map at least one head name to its dataset. Received: {}."
        )
    known = [h.name for h in model.heads]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(
            f"`datasets` has keys that are not heads of the model: {unknown}. "
            f"Expected a subset of {known}."
        )
    return names


def _dataset_sizes(datasets, names, sizes) -> list[int]:
    if sizes is not None:
        missing = [n for n in names if n not in sizes]
        if missing:
            raise ValueError(
                f"`sizes` must give a size for every dataset. Missing: {missing}. "
                f"Received: sizes={dict(sizes)}."
            )
        values = [int(sizes[n]) for n in names]
    else:
        values = [int(datasets[n].cardinality().numpy()) for n in names]
        unknown = [n for n, v in zip(names, values) if v < 0]
        if unknown:
            raise ValueError(
                f"The number of batches of {unknown} is unknown or infinite. "
                "Pass `sizes={head_name: number_of_batches, ...}` (or use "
                "`assert_cardinality` on the dataset)."
            )
    bad = {n: v for n, v in zip(names, values) if v <= 0}
    if bad:
        raise ValueError(f"Every dataset must hold at least one batch. Received sizes: {bad}.")
    return values


def _fill_other_heads(model, name: str, ds: tf.data.Dataset) -> tf.data.Dataset:
    """`(features, {name: y})` batches to `(features, targets, sample_weights)` for every head."""
    heads = model.heads

    def fill(features, targets, *rest):
        batch = tf.shape(features["token_ids"])[0]
        width = tf.shape(features["token_ids"])[1]
        all_targets, weights = {}, {}
        for head in heads:
            per_token = head.target_kind == "token"
            if head.name == name:
                y = targets[head.name]
                all_targets[head.name] = y
                shape = tf.shape(y) if per_token else [batch]
                weights[head.name] = tf.ones(shape, tf.float32)
                continue
            if per_token:
                # Padded to this batch's width, so it matches the head's logits.
                y = tf.fill([batch, width], tf.constant(-1, tf.int32))
                weights[head.name] = tf.zeros([batch, width], tf.float32)
            elif head.target_kind == "multi_hot":
                y = tf.zeros([batch, head.num_labels], tf.float32)
                weights[head.name] = tf.zeros([batch], tf.float32)
            else:
                y = tf.zeros([batch], tf.int32)
                weights[head.name] = tf.zeros([batch], tf.float32)
            all_targets[head.name] = y
        return features, all_targets, weights

    unknown = {h.name: h.target_kind for h in heads
               if h.target_kind not in ("class", "multi_hot", "token")}
    if unknown:
        raise ValueError(
            "Multi-task training fills in the targets of the other heads, so it "
            "needs each head's `target_kind` to be 'class', 'multi_hot' or "
            f"'token'. Received: {unknown}."
        )
    return ds.map(fill)


def multitask_dataset(
    model,
    datasets: Mapping[str, tf.data.Dataset],
    *,
    sampling: str = "proportional",
    seed: int | None = None,
    sizes: Mapping[str, int] | None = None,
    steps: int | None = None,
) -> tf.data.Dataset:
    """One `fit` dataset of single-task batches drawn from several heads' datasets.

    Each element is `(features, targets, sample_weights)`, with `targets`
    and `sample_weights` dicts over every head of `model`: the head the batch
    came from gets its real targets and weight 1, the others dummy targets
    and weight 0 (per token for token heads). The datasets repeat, so one
    pass over the result is `steps` batches.

    Args:
        model: the `TaskModel` whose heads the datasets train.
        datasets: head name to that head's `make_dataset(...)` output.
        sampling: `"proportional"` (each batch's task drawn at random with
            probability proportional to its size; Keras's
            `sample_from_datasets`) or `"round_robin"` (tasks in turn, in the
            order of `datasets`).
        seed: seed of the proportional draw.
        sizes: optional sizes (batches) per head for the proportions, needed
            when a dataset's cardinality is unknown.
        steps: batches a pass; default the sum of the sizes (one epoch of
            every dataset on average).

    Example:
    >>> ds = multitask_dataset(model, {"sentiment": s_ds, "ner": n_ds},  # doctest: +SKIP
    ...                        sampling="round_robin")
    >>> model.compile("adam", loss=model.default_losses(),  # doctest: +SKIP
    ...               metrics=model.default_metrics())
    >>> model.fit(ds, epochs=3)  # doctest: +SKIP
    """
    if sampling not in SAMPLINGS:
        raise ValueError(
            f"`sampling` must be one of {list(SAMPLINGS)}. Received: sampling={sampling!r}."
        )
    names = _check_datasets(model, datasets)
    counts = _dataset_sizes(datasets, names, sizes)
    if steps is None:
        steps = sum(counts)
    if steps <= 0:
        raise ValueError(f"`steps` must be positive. Received: steps={steps!r}.")
    streams = [_fill_other_heads(model, n, datasets[n]).repeat() for n in names]
    if len(streams) == 1:
        mixed = streams[0]
    elif sampling == "proportional":
        weights = [c / sum(counts) for c in counts]
        mixed = tf.data.Dataset.sample_from_datasets(streams, weights=weights, seed=seed)
    else:
        order = tf.data.Dataset.range(len(streams)).repeat()
        mixed = tf.data.Dataset.choose_from_datasets(streams, order)
    return (
        mixed.take(steps)
        .apply(tf.data.experimental.assert_cardinality(steps))
        .prefetch(tf.data.AUTOTUNE)
    )


def batch_task(batch_weights: Mapping[str, tf.Tensor]) -> str:
    """The head a `multitask_dataset` batch belongs to, from its sample weights.

    Example:
    >>> [batch_task(w) for _, _, w in ds.take(4)]  # doctest: +SKIP
    ['sentiment', 'ner', 'sentiment', 'ner']
    """
    active = [n for n, w in batch_weights.items() if float(tf.reduce_max(w)) > 0]
    if len(active) != 1:
        raise ValueError(
            f"Expected exactly one head with nonzero sample weights. Received: {active}."
        )
    return active[0]


def sequential_fit(
    model,
    datasets: Mapping[str, tf.data.Dataset],
    *,
    epochs_per_head: int | Mapping[str, int] = 1,
    optimizer: str | Callable[[], keras.optimizers.Optimizer] = "adam",
    metrics: bool = True,
    validation_data: Mapping[str, tf.data.Dataset] | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | str = 0,
    **compile_kwargs,
) -> dict[str, dict]:
    """Train head after head on the shared backbone, in the order of `datasets`.

    Each stage freezes every other head (the backbone keeps training), compiles
    the model with a fresh optimizer and only the active head's loss (the
    others get weight 0), and fits on that head's dataset. Trainability is
    restored at the end.

    Args:
        model: the `TaskModel`.
        datasets: head name to its `make_dataset(...)` output; stages run in
            this order.
        epochs_per_head: epochs of every stage, or a dict per head name.
        optimizer: an optimizer name or a zero-argument callable returning a
            new optimizer (each stage needs its own).
        metrics: compile each head's `metrics_list()`.
        validation_data: optional head name to its validation dataset.
        callbacks: passed to every stage's `fit`.
        verbose: `fit` verbosity.
        **compile_kwargs: more `compile` arguments (e.g. `jit_compile`).

    Returns:
        Head name to that stage's `History.history`.

    Example:
    >>> histories = sequential_fit(model, {"ner": ner_ds, "sentiment": s_ds},  # doctest: +SKIP
    ...                            epochs_per_head=2,
    ...                            optimizer=lambda: keras.optimizers.Adam(1e-4))
    """
    names = _check_datasets(model, datasets)
    if isinstance(optimizer, keras.optimizers.Optimizer):
        raise TypeError(
            "`optimizer` must be an optimizer name or a zero-argument callable "
            "returning a new optimizer, since each stage needs fresh optimizer "
            f"state. Received: an instance of {type(optimizer).__name__}. Pass "
            "e.g. `optimizer=lambda: keras.optimizers.Adam(1e-4)`."
        )
    if isinstance(epochs_per_head, Mapping):
        missing = [n for n in names if n not in epochs_per_head]
        if missing:
            raise ValueError(
                f"`epochs_per_head` has no entry for {missing}. Received: "
                f"epochs_per_head={dict(epochs_per_head)}."
            )
        epochs = {n: int(epochs_per_head[n]) for n in names}
    else:
        epochs = {n: int(epochs_per_head) for n in names}
    bad = {n: e for n, e in epochs.items() if e <= 0}
    if bad:
        raise ValueError(f"`epochs_per_head` must be positive. Received: {bad}.")

    trainable = {h.name: h.trainable for h in model.heads}
    histories = {}
    try:
        for name in names:
            for head in model.heads:
                head.trainable = head.name == name and trainable[head.name]
            model.compile(
                optimizer=optimizer() if callable(optimizer) else optimizer,
                loss=model.default_losses(),
                loss_weights={h.name: float(h.name == name) for h in model.heads},
                metrics=model.default_metrics() if metrics else None,
                **compile_kwargs,
            )
            train = _fill_other_heads(model, name, datasets[name])
            val = None
            if validation_data is not None and name in validation_data:
                val = _fill_other_heads(model, name, validation_data[name])
            history = model.fit(
                train, epochs=epochs[name], validation_data=val,
                callbacks=list(callbacks), verbose=verbose,
            )
            histories[name] = history.history
    finally:
        for head in model.heads:
            head.trainable = trainable[head.name]
    return histories
