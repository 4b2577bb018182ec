"""Paired bootstrap confidence intervals of the difference between two systems.

Every comparison is paired: both systems were fine-tuned with the same seeds
(on the same train subset) and predicted the same test examples, so one
bootstrap replicate draws one resample of test-example indices and scores
both systems, every seed, on it. The interval is the percentile interval of
`mean over seeds metric(A) - mean over seeds metric(B)` over the replicates.

Why one resample shared by A, B and every seed: what the interval has to
cover is the luck of the test set (which examples we happened to draw).
Sharing the draw between A and B cancels example difficulty, which is what
pairing buys; sharing it across seeds is right because all seeds were scored
on the same test set; drawing per seed would average independent test-set
noise and make the interval too narrow. Seed-to-seed variance enters
through the mean over the seeds actually run; seeds are not resampled (with
three seeds that would say little).

Metrics are `metric_fn(gold, predicted) -> float` on lists of the resampled
examples, so corpus-level metrics (entity F1 over resampled sentences)
work. A `CountMetric` (`accuracy`, `macro_f1(labels)`, `entity_f1()`) is the
fast path: it is a function of per-example counts summed over the examples,
so a replicate is a weighted sum, vectorised with numpy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

# Replicates resampled at once: bounds the (rows, examples) weight matrix.
_BLOCK_CELLS = 1 << 22


@dataclasses.dataclass(frozen=True)
class CountMetric:
    """A metric that is a function of per-example counts summed over examples.

    Args:
        name: the metric's name (e.g. `"accuracy"`).
        counts: `(gold_item, predicted_item) -> sequence of k numbers`.
        from_counts: summed counts, an array of shape `(..., k)`, to the
            metric, an array of shape `(...)` (vectorised over leading axes).

    Example:
    >>> hits = CountMetric("hits", lambda g, p: (float(g == p),), lambda t: t[..., 0])
    >>> hits([1, 2, 3], [1, 0, 3])
    2.0
    """

    name: str
    counts: Callable[[Any, Any], Sequence[float]]
    from_counts: Callable[[np.ndarray], np.ndarray]

    def count_matrix(self, gold: Sequence, predicted: Sequence) -> np.ndarray:
        """The `(examples, k)` counts of one system's predictions."""
        return np.asarray(
            [self.counts(g, p) for g, p in zip(gold, predicted)], dtype=np.float64
        )

    def __call__(self, gold: Sequence, predicted: Sequence) -> float:
        return float(self.from_counts(self.count_matrix(gold, predicted).sum(axis=0)))


# Share of examples whose prediction equals the gold label, e.g.
# `accuracy(["pos", "neg"], ["pos", "pos"]) == 0.5`.
accuracy = CountMetric(
    "accuracy",
    lambda g, p: (float(g == p), 1.0),
    lambda t: t[..., 0] / t[..., 1],
)


def macro_f1(labels: Sequence) -> CountMetric:
    """Macro-F1 over `labels`, as `kerasft.metrics.classification_report` computes it.

    Every label counts, present or not (its F1 is 0 without a true positive).

    Args:
        labels: the classes (the values gold and predictions take).

    Example:
    >>> macro_f1([0, 1])([0, 1, 1, 1], [0, 1, 0, 1])
    0.7333333333333334
    """
    labels = list(labels)
    position = {label: i for i, label in enumerate(labels)}
    k = len(labels)

    def counts(g, p) -> np.ndarray:
        row = np.zeros(3 * k)  # true positives, predicted, support per class
        row[3 * position[p] + 1] += 1
        row[3 * position[g] + 2] += 1
        if g == p:
            row[3 * position[g]] += 1
        return row

    def from_counts(t: np.ndarray) -> np.ndarray:
        t = t.reshape(*t.shape[:-1], k, 3)
        tp, denominator = t[..., 0], t[..., 1] + t[..., 2]
        # 2PR/(P+R) = 2tp/(predicted+support); 0 without a true positive.
        f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=tp > 0)
        return f1.mean(axis=-1)

    return CountMetric("macro_f1", counts, from_counts)


def entity_f1(scheme: str | None = None) -> CountMetric:
    """Entity F1 of tag sequences, `conlleval`'s, one example a sentence.

    Summing per-sentence chunk counts equals `conlleval` on the whole list
    for typed tags (`B-PER`, ...), whose chunks never cross sentences.

    Args:
        scheme: see `kerasft.metrics.entity_metrics.conlleval`.

    Example:
    >>> entity_f1()([["B-PER", "O"], ["B-LOC"]], [["B-PER", "O"], ["O"]])
    0.6666666666666666
    """
    from kerasft.metrics.entity_metrics import conlleval

    def counts(g, p) -> tuple[float, float, float]:
        c = conlleval([g], [p], scheme=scheme).counts
        return c["correct_chunks"], c["found_guessed"], c["found_correct"]

    def from_counts(t: np.ndarray) -> np.ndarray:
        correct, denominator = t[..., 0], t[..., 1] + t[..., 2]
        # conlleval's 2PR/(P+R) is 2 correct/(guessed+gold); 0 when nothing is correct.
        return np.divide(
            2 * correct, denominator, out=np.zeros_like(correct), where=correct > 0
        )

    return CountMetric("f1", counts, from_counts)


def _per_seed(predictions_a, predictions_b, n: int) -> tuple[list, list, list]:
    """Pair the two systems' runs by seed; check they cover the same examples."""
    if isinstance(predictions_a, Mapping) != isinstance(predictions_b, Mapping):
        raise ValueError(
            "`predictions_a` and `predictions_b` must both be mappings seed -> "
            "predictions or both lists (one run a seed, in the same seed order)."
        )
    if isinstance(predictions_a, Mapping):
        if set(predictions_a) != set(predictions_b):
            raise ValueError(
                "A paired comparison needs the same seeds for both systems. "
                f"Received: seeds {sorted(predictions_a)} and "
                f"{sorted(predictions_b)}. A deterministic system (e.g. the "
                "baseline) can repeat its one run for every seed."
            )
        seeds = sorted(predictions_a)
        runs_a = [predictions_a[s] for s in seeds]
        runs_b = [predictions_b[s] for s in seeds]
    else:
        runs_a, runs_b = list(predictions_a), list(predictions_b)
        if len(runs_a) != len(runs_b):
            raise ValueError(
                "A paired comparison needs the same seeds for both systems. "
                f"Received: {len(runs_a)} and {len(runs_b)} runs. A "
                "deterministic system (e.g. the baseline) can repeat its one "
                "run for every seed."
            )
        seeds = list(range(len(runs_a)))
    if not runs_a:
        raise ValueError("A paired comparison needs at least one seed. Received: none.")
    for system, runs in (("predictions_a", runs_a), ("predictions_b", runs_b)):
        for seed, run in zip(seeds, runs):
            if len(run) != n:
                raise ValueError(
                    f"`{system}` of seed {seed!r} has {len(run)} predictions but "
                    f"`gold` has {n} test examples; both systems must predict "
                    "the same test examples, in the same order."
                )
    return seeds, runs_a, runs_b


def _resample_blocks(n: int, n_resamples: int, seed: int):
    """Yield `(rows, n)` blocks of resampled test indices, a row a replicate.

    Each replicate is `rng.integers(0, n, size=n)` drawn in turn from
    `np.random.default_rng(seed)`, whatever the blocking, so a plain loop
    reproduces the draws.
    """
    rng = np.random.default_rng(seed)
    rows = max(1, _BLOCK_CELLS // n)
    for start in range(0, n_resamples, rows):
        count = min(rows, n_resamples - start)
        yield np.stack([rng.integers(0, n, size=n) for _ in range(count)])


def _count_replicates(metric: CountMetric, gold, runs_a, runs_b, n, n_resamples, seed):
    """Full-set metrics and replicate differences of a `CountMetric`, vectorised."""
    # Columns: (system, seed, count); a replicate's totals are weights @ counts.
    matrices = [metric.count_matrix(gold, run) for run in (*runs_a, *runs_b)]
    stacked = np.stack(matrices, axis=1)  # (n, 2 * seeds, k)
    shape = stacked.shape
    counts = stacked.reshape(n, -1)
    full = metric.from_counts(stacked.sum(axis=0))  # (2 * seeds,)
    s = len(runs_a)
    differences = []
    for block in _resample_blocks(n, n_resamples, seed):
        rows = block.shape[0]
        offsets = (block + n * np.arange(rows)[:, None]).ravel()
        weights = np.bincount(offsets, minlength=rows * n).reshape(rows, n)
        totals = (weights @ counts).reshape(rows, shape[1], shape[2])
        scores = metric.from_counts(totals)  # (rows, 2 * seeds)
        differences.append(scores[:, :s].mean(axis=1) - scores[:, s:].mean(axis=1))
    return full[:s], full[s:], np.concatenate(differences)


def _loop_replicates(metric_fn, gold, runs_a, runs_b, n, n_resamples, seed):
    """Full-set metrics and replicate differences of any metric, one call each."""
    full_a = [float(metric_fn(list(gold), list(run))) for run in runs_a]
    full_b = [float(metric_fn(list(gold), list(run))) for run in runs_b]
    differences = []
    for block in _resample_blocks(n, n_resamples, seed):
        for indices in block:
            sample = [gold[i] for i in indices]
            a = [metric_fn(sample, [run[i] for i in indices]) for run in runs_a]
            b = [metric_fn(sample, [run[i] for i in indices]) for run in runs_b]
            differences.append(np.mean(a) - np.mean(b))
    return np.asarray(full_a), np.asarray(full_b), np.asarray(differences)


def paired_bootstrap(
    metric_fn: Callable[[Sequence, Sequence], float],
    gold: Sequence,
    predictions_a: Sequence[Sequence] | Mapping[Any, Sequence],
    predictions_b: Sequence[Sequence] | Mapping[Any, Sequence],
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict:
    """Paired bootstrap interval of `metric(A) - metric(B)`, pooled over seeds.

    Each replicate resamples the test examples with replacement (one draw
    shared by both systems and every seed) and computes mean-over-seeds
    metric(A) minus mean-over-seeds metric(B); the interval is the
    percentile interval of those differences.

    Args:
        metric_fn: `(gold, predicted) -> float` on lists of examples, higher
            is better; a `CountMetric` (`accuracy`, `macro_f1(labels)`,
            `entity_f1()`) takes the vectorised fast path.
        gold: the gold label of each test example (a tag list a sentence
            for NER).
        predictions_a: system A's predictions of every test example, one
            list a seed: a list of runs, or a mapping seed -> run.
        predictions_b: system B's, with the same seeds (in the same order
            for lists, the same keys for mappings).
        n_resamples: bootstrap replicates.
        confidence: the interval's coverage, in (0, 1).
        seed: the resampling seed (the same seed resamples the same examples).

    Returns:
        `{"difference", "low", "high", "metric_a", "metric_b", "n_resamples",
        "confidence", "n_examples", "n_seeds"}`: the difference on the full
        test set, the interval's bounds, and each system's mean over seeds.

    Example:
    >>> gold = [1, 0, 1, 1]
    >>> result = paired_bootstrap(accuracy, gold, [gold, gold], [[0, 0, 1, 1]] * 2)
    >>> result["difference"], result["low"], result["high"]
    (0.25, 0.0, 0.75)
    """
    if not 0 < confidence < 1:
        raise ValueError(
            f"`confidence` must be in (0, 1). Received: confidence={confidence!r}."
        )
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or (
        n_resamples < 1
    ):
        raise ValueError(
            "`n_resamples` must be a positive integer. Received: "
            f"n_resamples={n_resamples!r}."
        )
    gold = list(gold)
    n = len(gold)
    if n == 0:
        raise ValueError("`gold` must hold at least one test example. Received: none.")
    _, runs_a, runs_b = _per_seed(predictions_a, predictions_b, n)
    replicates = (
        _count_replicates if isinstance(metric_fn, CountMetric) else _loop_replicates
    )
    full_a, full_b, differences = replicates(
        metric_fn, gold, runs_a, runs_b, n, int(n_resamples), seed
    )
    tail = (1 - confidence) / 2
    low, high = np.quantile(differences, [tail, 1 - tail])
    metric_a, metric_b = float(np.mean(full_a)), float(np.mean(full_b))
    return {
        "difference": metric_a - metric_b,
        "low": float(low),
        "high": float(high),
        "metric_a": metric_a,
        "metric_b": metric_b,
        "n_resamples": int(n_resamples),
        "confidence": float(confidence),
        "n_examples": n,
        "n_seeds": len(runs_a),
    }


def compare_regimes(
    metric_fn: Callable[[Sequence, Sequence], float],
    gold: Sequence,
    predictions: Mapping[str, Sequence[Sequence] | Mapping[Any, Sequence]],
    reference: str,
    **kwargs,
) -> dict[str, dict]:
    """`paired_bootstrap` of every regime against `reference` (regime minus it).

    The same `seed` resamples the same test examples for every regime, so
    the comparisons share their replicates.

    Args:
        metric_fn: see `paired_bootstrap`.
        gold: the test examples' gold labels.
        predictions: regime -> its runs' predictions (see `paired_bootstrap`).
        reference: the regime compared against (e.g. `"scratch"` or the best).
        **kwargs: `n_resamples`, `confidence` and `seed` of `paired_bootstrap`.

    Example:
    >>> gold = [1, 0, 1, 1]
    >>> runs = {"scratch": [[0, 0, 0, 1]], "self_train": [gold]}
    >>> compare_regimes(accuracy, gold, runs, "scratch")["self_train"]["difference"]
    0.5
    """
    if reference not in predictions:
        raise ValueError(
            f"`reference` must be one of the regimes. Received: reference="
            f"{reference!r}; the regimes are {sorted(predictions)}."
        )
    return {
        name: paired_bootstrap(
            metric_fn, gold, runs, predictions[reference], **kwargs
        )
        for name, runs in predictions.items()
        if name != reference
    }


def detectable(result: Mapping[str, float]) -> bool:
    """Whether the interval excludes 0 (a detectable difference).

    Example:
    >>> detectable({"low": 0.004, "high": 0.038}), detectable({"low": -0.01, "high": 0.02})
    (True, False)
    """
    return not result["low"] <= 0 <= result["high"]


def describe(
    a_name: str,
    b_name: str,
    result: Mapping[str, float],
    metric_name: str,
    *,
    digits: int = 3,
) -> str:
    """The report's sentence of a `paired_bootstrap` result of A minus B.

    "A beats B by d [lo, hi] metric" when the interval excludes 0 (the
    winner named first, so B can be the one that beats A), otherwise "no
    detectable difference between A and B (d [lo, hi])".

    Args:
        a_name: system A's name (the `predictions_a` side).
        b_name: system B's name.
        result: `paired_bootstrap`'s `difference`, `low` and `high`.
        metric_name: the metric, e.g. `"accuracy"`.
        digits: decimals of the numbers.

    Example:
    >>> describe("self_train", "scratch",
    ...          {"difference": 0.021, "low": 0.004, "high": 0.038}, "accuracy")
    'self_train beats scratch by 0.021 [0.004, 0.038] accuracy'
    >>> describe("mixture", "scratch",
    ...          {"difference": 0.004, "low": -0.01, "high": 0.018}, "accuracy")
    'no detectable difference between mixture and scratch (0.004 [-0.010, 0.018])'
    """
    d, low, high = result["difference"], result["low"], result["high"]

    def fmt(x: float) -> str:
        text = f"{x:.{digits}f}"
        return text.lstrip("-") if float(text) == 0 else text  # no "-0.000"

    if not detectable(result):
        return (
            f"no detectable difference between {a_name} and {b_name} "
            f"({fmt(d)} [{fmt(low)}, {fmt(high)}])"
        )
    if low > 0:
        return f"{a_name} beats {b_name} by {fmt(d)} [{fmt(low)}, {fmt(high)}] {metric_name}"
    return f"{b_name} beats {a_name} by {fmt(-d)} [{fmt(-high)}, {fmt(-low)}] {metric_name}"
