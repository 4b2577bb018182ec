"""What every baseline shares: the result record, a stopwatch and split checks.

A baseline result is a plain, JSON-able dict (see `baseline_result`), always
`kind="baseline"` with its wall-clock `seconds`, so that every report the
experiment writes can tell baselines from neural runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

from kerasft.metrics.latency import time_calls

BASELINE_KIND = "baseline"


class Stopwatch:
    """Wall-clock seconds of named steps, and of everything since creation.

    Example:
    >>> watch = Stopwatch()
    >>> with watch.step("features"):
    ...     pass
    >>> sorted(watch.steps), watch.total() >= watch.steps["features"]
    (['features'], True)
    """

    def __init__(self):
        self._start = time.perf_counter()
        self.steps: dict[str, float] = {}

    def step(self, name: str) -> "_Step":
        """A context manager that adds its duration to `steps[name]`."""
        return _Step(self, name)

    def total(self) -> float:
        """Seconds since the stopwatch was created."""
        return time.perf_counter() - self._start


class _Step:
    def __init__(self, watch: Stopwatch, name: str):
        self._watch, self._name = watch, name

    def __enter__(self) -> "_Step":
        self._begin = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        elapsed = time.perf_counter() - self._begin
        self._watch.steps[self._name] = self._watch.steps.get(self._name, 0.0) + elapsed


def head_name(head_cls: type) -> str:
    """The registered name of a head class (its class name if unregistered).

    Example:
    >>> class MyHead:
    ...     registered_name_ = "sentiment"
    >>> head_name(MyHead)
    'sentiment'
    """
    return getattr(head_cls, "registered_name_", None) or head_cls.__name__


def check_splits(train: Sequence, validation: Sequence, test: Sequence) -> None:
    """Raise a `ValueError` unless all three splits have examples.

    Args:
        train: the train examples (the baseline is fit on these only).
        validation: the validation examples (its settings are tuned on these).
        test: the test examples (scored once, with the chosen settings).

    Example:
    >>> check_splits([1], [2], [3])
    >>> check_splits([1], [], [3])
    Traceback (most recent call last):
    ...
    ValueError: The baseline needs train, validation and test examples. Received: 1 train, 0 validation and 1 test examples.
    """
    if not (len(train) and len(validation) and len(test)):
        raise ValueError(
            "The baseline needs train, validation and test examples. Received: "
            f"{len(train)} train, {len(validation)} validation and {len(test)} "
            "test examples."
        )


def check_known_labels(
    labels: Sequence[str],
    splits: dict[str, Sequence],
    labels_of: Callable[[object], Iterable[str]],
    what: str = "label",
) -> None:
    """Raise a `ValueError` for a label of a split that train never had.

    The same rule as the heads' `encode`: a label (or tag) outside the train
    label vocabulary cannot be predicted, so it is an error, not a miss.

    Args:
        labels: the train label vocabulary (`head_cls.labels_from_examples`).
        splits: split name -> its examples.
        labels_of: one example's labels (e.g. `lambda e: [e.label]`).
        what: what a label is called in the message (`"label"`, `"tag"`).

    Example:
    >>> check_known_labels(["neg", "pos"], {"test": ["pos"]}, lambda e: [e])
    """
    known = set(labels)
    for split, examples in splits.items():
        for example in examples:
            for label in labels_of(example):
                if label not in known:
                    where = ""
                    if hasattr(example, "source") and hasattr(example, "line"):
                        where = f"{example.source}, line {example.line}: "
                    raise ValueError(
                        f"{where}{what} {label!r} of the {split} split was never "
                        f"seen in the train data. Known {what}s: {list(labels)}. "
                        f"Fix the {what} or add examples of it to train."
                    )


def baseline_result(
    *,
    name: str,
    head_cls: type,
    seed: int,
    watch: Stopwatch,
    validation: dict,
    test: dict,
    params: dict,
    predictions: list,
    labels: Sequence[str],
    serving: dict | None = None,
) -> dict:
    """The record every baseline returns (JSON-able).

    Args:
        name: the baseline's name (`"tfidf_logreg"`, `"crf"`).
        head_cls: the head class whose task and metric the baseline follows.
        seed: the seed the run was given.
        watch: the run's stopwatch; gives `seconds` (the whole run) and
            `seconds_by_step`.
        validation: the validation report of the chosen settings.
        test: the test report of the chosen settings.
        params: what was tuned and how the features were built.
        predictions: the predicted label (or tag sequence) of each test
            example, in the order of the test examples.
        labels: the label vocabulary of train, in the head's order.
        serving: the fitted model's `predict_cost`, if measured.

    Example:
    >>> class H:
    ...     primary_metric = "accuracy"
    >>> r = baseline_result(name="x", head_cls=H, seed=0, watch=Stopwatch(),
    ...                     validation={}, test={}, params={}, predictions=[],
    ...                     labels=["a", "b"])
    >>> r["kind"], r["name"], r["head"], r["seconds"] >= 0
    ('baseline', 'x', 'H', True)
    """
    return {
        "kind": BASELINE_KIND,
        "name": name,
        "head": head_name(head_cls),
        "primary_metric": getattr(head_cls, "primary_metric", "accuracy"),
        "seed": int(seed),
        "seconds": float(watch.total()),
        "seconds_by_step": {k: float(v) for k, v in watch.steps.items()},
        "labels": list(labels),
        "validation": validation,
        "test": test,
        "params": params,
        "predictions": predictions,
        "serving": serving,
    }


def predict_cost(
    predict_one: Callable[[object], object], inputs: Sequence, size_bytes: int,
    *, calls: int = 100,
) -> dict:
    """Batch-1 prediction latency of a fitted baseline and its pickled size.

    The counterpart of `kerasft.export.serving_cost.measure_saved_model`
    for a model that is not a SavedModel: one input a call, cycled.

    Args:
        predict_one: predicts one input (a text, or a sentence's tokens).
        inputs: the inputs to cycle through (e.g. the test examples').
        size_bytes: the size of what a server would load (features and
            model), e.g. `len(pickle.dumps(fitted))`.
        calls: timed calls.

    Example:
    >>> cost = predict_cost(len, ["a", "bb"], 1234, calls=4)
    >>> cost["calls"], cost["size_bytes"] > 0
    (4, True)
    """
    return {**time_calls(predict_one, inputs, calls=calls), "size_bytes": int(size_bytes)}
