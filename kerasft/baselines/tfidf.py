"""TF-IDF + logistic regression: the baseline of single-label text classification.

Features: word 1-2-grams and `char_wb` 2-5-grams, each a sublinear-tf
`TfidfVectorizer`, side by side in a `FeatureUnion` fit on train only.
Classifier: L2 logistic regression (L-BFGS, multinomial), its `C` tuned on
the validation split over a log grid by the head's `primary_metric`; the
model of the chosen `C`, fit on train only (never on train + validation), is
scored once on test. Reports come from the heads' own
`kerasft.metrics.classification.classification_report`, with the head's
label order.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence

import numpy as np
from absl import logging

from kerasft.baselines.common import (
    Stopwatch,
    baseline_result,
    check_known_labels,
    check_splits,
    head_name,
    predict_cost,
)
from kerasft.metrics.classification import classification_report

NAME = "tfidf_logreg"
DEFAULT_C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
MAX_ITER = 2000
WORD_NGRAMS = (1, 2)
CHAR_NGRAMS = (2, 5)


def build_features():
    """The unfitted word + char TF-IDF `FeatureUnion` of this baseline.

    Example:
    >>> features = build_features()
    >>> x = features.fit_transform(["a good film", "a bad film"])
    >>> x.shape[0], x.shape[1] > 10
    (2, True)
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion([
        ("word", TfidfVectorizer(
            analyzer="word", ngram_range=WORD_NGRAMS, sublinear_tf=True,
            dtype=np.float64,
        )),
        ("char", TfidfVectorizer(
            analyzer="char_wb", ngram_range=CHAR_NGRAMS, sublinear_tf=True,
            dtype=np.float64,
        )),
    ])


def feature_params() -> dict:
    """How `build_features` builds its features, for the result's `params`.

    Example:
    >>> feature_params()["word"]["ngram_range"]
    [1, 2]
    """
    return {
        "word": {"analyzer": "word", "ngram_range": list(WORD_NGRAMS),
                 "sublinear_tf": True, "lowercase": True},
        "char": {"analyzer": "char_wb", "ngram_range": list(CHAR_NGRAMS),
                 "sublinear_tf": True, "lowercase": True},
    }


def _check_grid(c_grid: Sequence[float]) -> list[float]:
    grid = [float(c) for c in c_grid]
    if not grid or any(not np.isfinite(c) or c <= 0 for c in grid):
        raise ValueError(
            "`c_grid` must be a non-empty sequence of positive numbers. "
            f"Received: c_grid={list(c_grid)!r}."
        )
    return sorted(set(grid))


def tfidf_logreg_baseline(
    head_cls: type,
    train_examples: Sequence,
    validation_examples: Sequence,
    test_examples: Sequence,
    *,
    seed: int = 0,
    c_grid: Sequence[float] = DEFAULT_C_GRID,
) -> dict:
    """Fit TF-IDF + logistic regression on train, tune `C` on validation, score test.

    `C` is chosen by the head's `primary_metric` on validation; ties go to
    the smallest `C` (the strongest regularisation). Deterministic for a
    given seed (passed to `LogisticRegression(random_state=...)`; L-BFGS
    itself draws nothing at random).

    Args:
        head_cls: a single-label classification head class (`target_kind`
            `"class"`); gives the label order (`labels_from_examples`) and
            the selection metric (`primary_metric`).
        train_examples: `LabelledText`-like examples (`.text`, `.label`);
            the features and models are fit on these only.
        validation_examples: examples `C` is tuned on.
        test_examples: examples scored once, with the chosen `C`.
        seed: the run's seed.
        c_grid: the inverse regularisation strengths to try.

    Returns:
        The `kerasft.baselines.common.baseline_result` record: `kind`
        `"baseline"`, `name` `"tfidf_logreg"`, `seconds`, `validation` and
        `test` reports (as `ClassificationHead.evaluate` makes them),
        `params` (`C`, the grid's validation scores, the features) and
        `predictions` (the predicted label of each test example).

    Example:
    >>> from kerasft import ClassificationHead
    >>> from kerasft.data.jsonl import LabelledText
    >>> rows = [("a good film", "pos"), ("a bad film", "neg")] * 4
    >>> data = [LabelledText(t, y, "mem", i) for i, (t, y) in enumerate(rows)]
    >>> result = tfidf_logreg_baseline(ClassificationHead, data, data, data, seed=0)
    >>> result["kind"], result["name"], result["test"]["accuracy"]
    ('baseline', 'tfidf_logreg', 1.0)
    """
    from sklearn.linear_model import LogisticRegression

    watch = Stopwatch()
    grid = _check_grid(c_grid)
    check_splits(train_examples, validation_examples, test_examples)
    labels = list(head_cls.labels_from_examples(train_examples))
    if len(labels) < 2:
        raise ValueError(
            "The TF-IDF baseline needs at least 2 labels in train. Received: "
            f"labels={labels}."
        )
    check_known_labels(
        labels, {"validation": validation_examples, "test": test_examples},
        lambda e: [e.label],
    )
    metric = getattr(head_cls, "primary_metric", "accuracy")
    index = {label: i for i, label in enumerate(labels)}
    y = {
        split: np.array([index[e.label] for e in examples], dtype=int)
        for split, examples in (("train", train_examples),
                                ("validation", validation_examples),
                                ("test", test_examples))
    }
    name = head_name(head_cls)

    logging.info(
        "Baseline %s (%s): fitting word %s-grams + char %s-grams TF-IDF on %d "
        "train texts.", NAME, name, WORD_NGRAMS, CHAR_NGRAMS, len(train_examples),
    )
    with watch.step("features"):
        features = build_features()
        x_train = features.fit_transform([e.text for e in train_examples])
        x_validation = features.transform([e.text for e in validation_examples])
        x_test = features.transform([e.text for e in test_examples])
    logging.info(
        "Baseline %s: %d features in %.1f s.", NAME, x_train.shape[1],
        watch.steps["features"],
    )

    best = None
    scores = []
    with watch.step("tuning"):
        for c in grid:
            fit_watch = Stopwatch()
            model = LogisticRegression(
                C=c, solver="lbfgs", max_iter=MAX_ITER, random_state=seed
            )
            model.fit(x_train, y["train"])
            report = classification_report(
                y["validation"], model.predict(x_validation), labels
            )
            seconds = fit_watch.total()
            scores.append({
                "C": c, "accuracy": report["accuracy"],
                "macro_f1": report["macro_f1"], "seconds": seconds,
            })
            logging.info(
                "Baseline %s: C=%g, validation %s %.4f (%.1f s).",
                NAME, c, metric, report[metric], seconds,
            )
            if best is None or report[metric] > best[2][metric]:
                best = (c, model, report)
    c, model, validation_report = best

    with watch.step("test"):
        predicted = model.predict(x_test)
        test_report = classification_report(y["test"], predicted, labels)
    logging.info(
        "Baseline %s: chosen C=%g (validation %s %.4f); test accuracy %.4f, "
        "macro-F1 %.4f; %.1f s in all.", NAME, c, metric, validation_report[metric],
        test_report["accuracy"], test_report["macro_f1"], watch.total(),
    )
    params = {
        "C": c,
        "c_grid": grid,
        "selection_metric": metric,
        "validation_scores": scores,
        "fit_on": "train",
        "classifier": {"type": "LogisticRegression", "solver": "lbfgs",
                       "penalty": "l2", "max_iter": MAX_ITER,
                       "iterations": int(np.max(model.n_iter_))},
        "features": feature_params(),
        "num_features": int(x_train.shape[1]),
    }
    return baseline_result(
        name=NAME, head_cls=head_cls, seed=seed, watch=watch,
        validation=validation_report, test=test_report, params=params,
        predictions=[labels[int(k)] for k in predicted], labels=labels,
        serving=predict_cost(
            lambda text: model.predict(features.transform([text])),
            [e.text for e in test_examples], len(pickle.dumps((features, model))),
        ),
    )
