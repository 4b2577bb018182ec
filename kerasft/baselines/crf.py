"""A linear-chain CRF with standard word features: the baseline of NER.

Features (`word_features`): the lowercased word, its 2- and 3-character
prefixes and suffixes, whether it is title-case, upper-case or digits, its
word shape, and the lowercased words (plus title/upper/shape for the
nearest) at -2, -1, +1 and +2, with `BOS`/`EOS` at the sentence edges.
Trained with L-BFGS (`sklearn-crfsuite` over CRFsuite); `c1`/`c2` (L1/L2)
are tuned on validation over a small grid by the head's `primary_metric`
(entity F1), each model fit on train only; the chosen one is scored once on
test. Reports are `kerasft.metrics.entity_metrics.conlleval`'s, exactly as
`TokenClassificationHead.evaluate` makes them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from absl import logging

from kerasft.baselines.common import (
    Stopwatch,
    baseline_result,
    check_known_labels,
    check_splits,
    head_name,
    predict_cost,
)
from kerasft.metrics.entity_metrics import conlleval

NAME = "crf"
# (c1, c2): L1 and L2 strengths. Four fits of ~25 s each on CoNLL-2003 train.
DEFAULT_GRID = ((0.05, 0.01), (0.05, 0.1), (0.2, 0.01), (0.2, 0.1))
MAX_ITERATIONS = 100
LOG_EVERY = 25
FEATURES = (
    "word.lower, prefix/suffix 2-3, is_title, is_upper, is_digit, shape; "
    "word.lower at -2..+2; is_title, is_upper, shape at -1 and +1; BOS/EOS"
)

_UPPER = re.compile(r"[A-Z]")
_LOWER = re.compile(r"[a-z]")
_DIGIT = re.compile(r"[0-9]")
_RUNS = re.compile(r"(.)\1+")


def word_shape(word: str) -> str:
    """The word's shape: `X`/`x`/`d` for upper/lower/digit, runs collapsed.

    Example:
    >>> word_shape("McDonald"), word_shape("1996-08-22"), word_shape("U.S.")
    ('XxXx', 'd-d-d', 'X.X.')
    """
    shape = _DIGIT.sub("d", _LOWER.sub("x", _UPPER.sub("X", word)))
    return _RUNS.sub(r"\1", shape)


def word_features(tokens: Sequence[str]) -> list[dict]:
    """One CRFsuite feature dict per token of a sentence.

    Args:
        tokens: the sentence's tokens.

    Example:
    >>> features = word_features(["Peter", "runs"])
    >>> features[0]["word.lower"], features[0]["shape"], features[0]["BOS"]
    ('peter', 'Xx', True)
    >>> features[1]["-1:word.lower"], features[1]["EOS"]
    ('peter', True)
    """
    n = len(tokens)
    shapes = [word_shape(w) for w in tokens]
    lowered = [w.lower() for w in tokens]
    out = []
    for i, word in enumerate(tokens):
        f = {
            "bias": 1.0,
            "word.lower": lowered[i],
            "prefix2": word[:2],
            "prefix3": word[:3],
            "suffix2": word[-2:],
            "suffix3": word[-3:],
            "is_title": word.istitle(),
            "is_upper": word.isupper(),
            "is_digit": word.isdigit(),
            "shape": shapes[i],
        }
        if i == 0:
            f["BOS"] = True
        if i == n - 1:
            f["EOS"] = True
        for offset in (-2, -1, 1, 2):
            j = i + offset
            if not 0 <= j < n:
                continue
            key = f"{offset:+d}" if offset > 0 else str(offset)
            f[f"{key}:word.lower"] = lowered[j]
            if abs(offset) == 1:
                f[f"{key}:is_title"] = tokens[j].istitle()
                f[f"{key}:is_upper"] = tokens[j].isupper()
                f[f"{key}:shape"] = shapes[j]
        out.append(f)
    return out


def _logging_trainer_cls():
    """A `pycrfsuite.Trainer` that logs L-BFGS progress through absl."""
    import pycrfsuite

    class LoggingTrainer(pycrfsuite.Trainer):
        def message(self, message):
            event = self.logparser.feed(message)
            if event == "iteration":
                info = self.logparser.last_iteration
                if info["num"] == 1 or info["num"] % LOG_EVERY == 0:
                    logging.info(
                        "Baseline %s: L-BFGS iteration %d, loss %.1f.",
                        NAME, info["num"], info.get("loss", float("nan")),
                    )
            elif event == "end":
                logging.info(
                    "Baseline %s: CRFsuite finished after %d iterations.",
                    NAME, len(self.logparser.iterations),
                )

    return LoggingTrainer


def _check_grid(grid) -> list[tuple[float, float]]:
    pairs = []
    for pair in grid:
        try:
            c1, c2 = (float(v) for v in pair)
        except (TypeError, ValueError):
            c1 = c2 = -1.0
        if c1 < 0 or c2 < 0:
            raise ValueError(
                "`grid` must be a non-empty sequence of (c1, c2) pairs of "
                f"non-negative numbers. Received: grid={list(grid)!r}."
            )
        pairs.append((c1, c2))
    if not pairs:
        raise ValueError(f"`grid` must not be empty. Received: grid={list(grid)!r}.")
    return pairs


def _entity_report(examples: Sequence, predictions: list[list[str]], scheme) -> dict:
    # Exactly `TokenClassificationHead.evaluate`'s report.
    metrics = conlleval([list(e.tags) for e in examples], predictions, scheme=scheme)
    report = metrics.to_dict()
    report["sentences"] = len(examples)
    return report


def crf_baseline(
    head_cls: type,
    train_examples: Sequence,
    validation_examples: Sequence,
    test_examples: Sequence,
    *,
    seed: int = 0,
    grid: Sequence[tuple[float, float]] = DEFAULT_GRID,
    max_iterations: int = MAX_ITERATIONS,
) -> dict:
    """Fit a CRF on train, tune `c1`/`c2` on validation, score test.

    `(c1, c2)` is chosen by the head's `primary_metric` (entity F1) on
    validation; ties go to the first pair of `grid`. L-BFGS draws nothing
    at random, so the run is deterministic; `seed` is recorded only.

    Args:
        head_cls: a token classification head class (`target_kind`
            `"token"`); gives the tag vocabulary (`labels_from_examples`)
            and the selection metric (`primary_metric`).
        train_examples: `Sentence`-like examples (`.tokens`, `.tags`), e.g.
            from `NerHead.read_examples` (IOB2); the CRF is fit on these only.
        validation_examples: sentences `c1`/`c2` are tuned on.
        test_examples: sentences scored once, with the chosen `c1`/`c2`.
        seed: the run's seed (recorded; the fit is deterministic).
        grid: the `(c1, c2)` pairs to try.
        max_iterations: L-BFGS iterations per fit.

    Returns:
        The `kerasft.baselines.common.baseline_result` record: `kind`
        `"baseline"`, `name` `"crf"`, `seconds`, `validation` and `test`
        reports (as `TokenClassificationHead.evaluate` makes them),
        `params` (`c1`, `c2`, the grid's validation scores, the features)
        and `predictions` (the predicted tags of each test sentence).

    Example:
    >>> from kerasft import TokenClassificationHead
    >>> from kerasft.data.conll import Sentence
    >>> rows = [(("Peter", "runs"), ("B-PER", "O")), (("Anna", "runs"), ("B-PER", "O"))]
    >>> data = [Sentence(w, t, "mem", i) for i, (w, t) in enumerate(rows * 4)]
    >>> result = crf_baseline(TokenClassificationHead, data, data, data, grid=[(0.0, 0.01)])
    >>> result["kind"], result["name"], result["test"]["f1"], result["predictions"][0]
    ('baseline', 'crf', 1.0, ['B-PER', 'O'])
    """
    import sklearn_crfsuite

    watch = Stopwatch()
    pairs = _check_grid(grid)
    if int(max_iterations) < 1:
        raise ValueError(
            f"`max_iterations` must be at least 1. Received: max_iterations={max_iterations!r}."
        )
    check_splits(train_examples, validation_examples, test_examples)
    labels = list(head_cls.labels_from_examples(train_examples))
    check_known_labels(
        labels, {"validation": validation_examples, "test": test_examples},
        lambda e: e.tags, what="tag",
    )
    # The scheme rule of `TokenClassificationHead.evaluate`.
    scheme = "bioes" if any(label[:2] in ("E-", "S-") for label in labels) else None
    metric = getattr(head_cls, "primary_metric", "f1")
    name = head_name(head_cls)

    logging.info(
        "Baseline %s (%s): word features of %d train, %d validation and %d "
        "test sentences.", NAME, name, len(train_examples),
        len(validation_examples), len(test_examples),
    )
    with watch.step("features"):
        x_train = [word_features(e.tokens) for e in train_examples]
        y_train = [list(e.tags) for e in train_examples]
        x_validation = [word_features(e.tokens) for e in validation_examples]
        x_test = [word_features(e.tokens) for e in test_examples]
    logging.info("Baseline %s: features in %.1f s.", NAME, watch.steps["features"])

    trainer_cls = _logging_trainer_cls()
    best = None
    scores = []
    with watch.step("tuning"):
        for number, (c1, c2) in enumerate(pairs, 1):
            logging.info(
                "Baseline %s: fit %d of %d, c1=%g c2=%g, on %d sentences "
                "(%d L-BFGS iterations at most).", NAME, number, len(pairs),
                c1, c2, len(x_train), max_iterations,
            )
            fit_watch = Stopwatch()
            crf = sklearn_crfsuite.CRF(
                algorithm="lbfgs", c1=c1, c2=c2,
                max_iterations=int(max_iterations),
                all_possible_transitions=True, trainer_cls=trainer_cls,
            )
            crf.fit(x_train, y_train)
            predicted = [[str(t) for t in tags] for tags in crf.predict(x_validation)]
            report = _entity_report(validation_examples, predicted, scheme)
            seconds = fit_watch.total()
            scores.append({
                "c1": c1, "c2": c2, "f1": report["f1"],
                "accuracy": report["accuracy"], "seconds": seconds,
                "iterations": len(crf.training_log_.iterations),
            })
            logging.info(
                "Baseline %s: c1=%g c2=%g, validation %s %.4f (%.1f s).",
                NAME, c1, c2, metric, report[metric], seconds,
            )
            if best is None or report[metric] > best[2][metric]:
                best = ((c1, c2), crf, report)
    (c1, c2), crf, validation_report = best

    with watch.step("test"):
        predictions = [[str(t) for t in tags] for tags in crf.predict(x_test)]
        test_report = _entity_report(test_examples, predictions, scheme)
    logging.info(
        "Baseline %s: chosen c1=%g c2=%g (validation %s %.4f); test entity F1 "
        "%.4f; %.1f s in all.", NAME, c1, c2, metric, validation_report[metric],
        test_report["f1"], watch.total(),
    )
    params = {
        "c1": c1,
        "c2": c2,
        "grid": [list(p) for p in pairs],
        "selection_metric": metric,
        "validation_scores": scores,
        "fit_on": "train",
        "algorithm": "lbfgs",
        "max_iterations": int(max_iterations),
        "all_possible_transitions": True,
        "scheme": scheme,
        "features": FEATURES,
    }
    return baseline_result(
        name=NAME, head_cls=head_cls, seed=seed, watch=watch,
        validation=validation_report, test=test_report, params=params,
        predictions=predictions, labels=labels,
        # Tokens in, as the CRF serves them (no tokenizer of its own).
        serving=predict_cost(
            lambda tokens: crf.predict_single(word_features(tokens)),
            [e.tokens for e in test_examples], os.path.getsize(crf.modelfile.name),
        ),
    )
