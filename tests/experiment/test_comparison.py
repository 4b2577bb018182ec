"""Paired bootstrap intervals: hand-computed fixtures, a loop reference, errors."""

import itertools
import time

import numpy as np
import pytest

from kerasft.experiment.comparison import (
    CountMetric,
    accuracy,
    compare_regimes,
    describe,
    detectable,
    entity_f1,
    macro_f1,
    paired_bootstrap,
)
from kerasft.metrics.classification import classification_report
from kerasft.metrics.entity_metrics import conlleval


def _loop_reference(metric_fn, gold, runs_a, runs_b, n_resamples, confidence, seed):
    """The definition, written plainly: the documented draws, one replicate at a time."""
    rng = np.random.default_rng(seed)
    n = len(gold)
    differences = []
    for _ in range(n_resamples):
        idx = rng.integers(0, n, size=n)
        g = [gold[i] for i in idx]
        a = np.mean([metric_fn(g, [run[i] for i in idx]) for run in runs_a])
        b = np.mean([metric_fn(g, [run[i] for i in idx]) for run in runs_b])
        differences.append(a - b)
    tail = (1 - confidence) / 2
    return np.quantile(differences, [tail, 1 - tail])


def test_hand_computed_interval_matches_the_exact_bootstrap_distribution():
    # A is right on all 4 examples, B only on the last: per-example
    # differences d = [1, 1, 1, 0], so a replicate's difference is
    # (4 - zeros drawn) / 4 with zeros ~ Binomial(4, 1/4):
    #   P(0.00) = 1/256, P(0.25) = 12/256, P(0.50) = 54/256,
    #   P(0.75) = 108/256, P(1.00) = 81/256.
    # The 2.5% point lies in the 0.25 mass (1/256 < 2.5% < 13/256) and the
    # 97.5% point in the 1.00 mass (81/256 > 2.5%): the interval is [0.25, 1].
    gold = [0, 1, 0, 1]
    a = [gold, gold]  # two seeds with the same predictions
    b = [[1, 0, 1, 1], [1, 0, 1, 1]]
    result = paired_bootstrap(accuracy, gold, a, b, n_resamples=2000, seed=0)
    assert result["difference"] == 0.75
    assert (result["low"], result["high"]) == (0.25, 1.0)
    assert (result["metric_a"], result["metric_b"]) == (1.0, 0.25)
    # The same percentiles of the exact distribution (all 4^4 resamples).
    d = np.array([1, 1, 1, 0])
    exact = [d[list(idx)].mean() for idx in itertools.product(range(4), repeat=4)]
    assert list(np.quantile(exact, [0.025, 0.975])) == [0.25, 1.0]
    assert (result["n_resamples"], result["n_examples"], result["n_seeds"]) == (2000, 4, 2)


def test_identical_systems_give_zero_and_opposite_systems_give_one():
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 3, 50).tolist()
    runs = [rng.integers(0, 3, 50).tolist() for _ in range(3)]
    same = paired_bootstrap(accuracy, gold, runs, runs)
    assert (same["difference"], same["low"], same["high"]) == (0.0, 0.0, 0.0)
    wrong = [[(g + 1) % 3 for g in gold]] * 3
    opposite = paired_bootstrap(accuracy, gold, [gold] * 3, wrong)
    assert (opposite["difference"], opposite["low"], opposite["high"]) == (1.0, 1.0, 1.0)
    reverse = paired_bootstrap(accuracy, gold, wrong, [gold] * 3)
    assert (reverse["difference"], reverse["low"], reverse["high"]) == (-1.0, -1.0, -1.0)


def test_one_resample_is_shared_across_seeds():
    # Seed 0: A wins example 0 only; seed 1: example 1 only. Averaged over
    # seeds every example has d = 0.5, so with the same draw for both seeds
    # every replicate gives 0.5; independent draws per seed would not.
    gold = [1, 1]
    a = [[1, 0], [0, 1]]
    b = [[0, 0], [0, 0]]
    result = paired_bootstrap(accuracy, gold, a, b, n_resamples=500, seed=3)
    assert (result["difference"], result["low"], result["high"]) == (0.5, 0.5, 0.5)


@pytest.mark.parametrize("seed", [0, 7])
def test_fast_path_and_generic_path_match_a_plain_loop(seed):
    rng = np.random.default_rng(seed)
    n = 40
    gold = rng.integers(0, 3, n).tolist()
    runs_a = [np.where(rng.random(n) < 0.8, gold, rng.integers(0, 3, n)).tolist()
              for _ in range(3)]
    runs_b = [np.where(rng.random(n) < 0.6, gold, rng.integers(0, 3, n)).tolist()
              for _ in range(3)]

    def plain_accuracy(g, p):
        assert isinstance(g, list) and len(g) == n  # a resample of the test set
        return sum(x == y for x, y in zip(g, p)) / len(g)

    low, high = _loop_reference(plain_accuracy, gold, runs_a, runs_b, 300, 0.9, seed)
    fast = paired_bootstrap(accuracy, gold, runs_a, runs_b, n_resamples=300,
                            confidence=0.9, seed=seed)
    generic = paired_bootstrap(plain_accuracy, gold, runs_a, runs_b, n_resamples=300,
                               confidence=0.9, seed=seed)
    for result in (fast, generic):
        assert result["low"] == pytest.approx(low, abs=1e-12)
        assert result["high"] == pytest.approx(high, abs=1e-12)
        assert result["difference"] == pytest.approx(
            np.mean([plain_accuracy(gold, r) for r in runs_a])
            - np.mean([plain_accuracy(gold, r) for r in runs_b]), abs=1e-12)
    assert fast["low"] < fast["difference"] < fast["high"]


def test_macro_f1_fast_path_matches_classification_report_per_resample():
    rng = np.random.default_rng(1)
    n = 30
    gold = rng.integers(0, 3, n).tolist()
    runs_a = [rng.integers(0, 3, n).tolist() for _ in range(2)]
    runs_b = [rng.integers(0, 3, n).tolist() for _ in range(2)]

    def report_macro_f1(g, p):
        return classification_report(g, p, ["a", "b", "c"])["macro_f1"]

    low, high = _loop_reference(report_macro_f1, gold, runs_a, runs_b, 200, 0.95, 5)
    result = paired_bootstrap(macro_f1([0, 1, 2]), gold, runs_a, runs_b,
                              n_resamples=200, seed=5)
    assert (result["low"], result["high"]) == (pytest.approx(low), pytest.approx(high))
    assert result["metric_a"] == pytest.approx(np.mean([report_macro_f1(gold, r) for r in runs_a]))


def _random_tags(rng, length):
    tags, previous = [], "O"
    for _ in range(length):
        choice = rng.choice(["O", "O", "B-PER", "B-LOC", "I"])
        if choice == "I":
            choice = "I-" + previous[2:] if previous != "O" else "O"
        tags.append(choice)
        previous = choice
    return tags


def test_entity_f1_resamples_sentences_like_conlleval_on_the_resampled_corpus():
    rng = np.random.default_rng(2)
    gold = [_random_tags(rng, int(rng.integers(1, 7))) for _ in range(25)]

    def noisy(sentence, p):
        return [t if rng.random() < p else str(rng.choice(["O", "B-PER", "B-LOC"]))
                for t in sentence]

    runs_a = [[noisy(s, 0.9) for s in gold] for _ in range(2)]
    runs_b = [[noisy(s, 0.6) for s in gold] for _ in range(2)]

    def corpus_f1(g, p):  # conlleval over the resampled sentences, duplicates included
        return conlleval(g, p).f1

    low, high = _loop_reference(corpus_f1, gold, runs_a, runs_b, 150, 0.95, 0)
    result = paired_bootstrap(entity_f1(), gold, runs_a, runs_b, n_resamples=150, seed=0)
    assert (result["low"], result["high"]) == (pytest.approx(low), pytest.approx(high))
    assert result["metric_a"] == pytest.approx(np.mean([corpus_f1(gold, r) for r in runs_a]))
    generic = paired_bootstrap(corpus_f1, gold, runs_a, runs_b, n_resamples=150, seed=0)
    assert generic["low"] == pytest.approx(result["low"])
    assert generic["high"] == pytest.approx(result["high"])


def test_mappings_are_paired_by_seed_not_by_order():
    gold = [0, 1, 1, 0, 1]
    a = {0: [0, 1, 1, 0, 0], 1: [0, 1, 0, 0, 1]}
    b = {1: [1, 1, 0, 0, 1], 0: [0, 0, 1, 0, 0]}
    as_lists = paired_bootstrap(accuracy, gold, [a[0], a[1]], [b[0], b[1]], seed=4)
    assert paired_bootstrap(accuracy, gold, a, b, seed=4) == as_lists


def test_same_seed_same_interval_other_seed_other_draws():
    rng = np.random.default_rng(3)
    gold = rng.integers(0, 2, 200).tolist()
    a = [rng.integers(0, 2, 200).tolist() for _ in range(2)]
    b = [rng.integers(0, 2, 200).tolist() for _ in range(2)]
    first = paired_bootstrap(accuracy, gold, a, b, seed=1)
    assert paired_bootstrap(accuracy, gold, a, b, seed=1) == first
    other = paired_bootstrap(accuracy, gold, a, b, seed=2)
    assert (other["low"], other["high"]) != (first["low"], first["high"])
    assert other["difference"] == first["difference"]


@pytest.mark.parametrize(
    "a, b, kwargs, fragment",
    [
        ([[0, 1, 1]], [[0, 1, 1], [1, 1, 1]], {}, "same seeds"),
        ({0: [0, 1, 1]}, {1: [0, 1, 1]}, {}, "same seeds"),
        ({0: [0, 1, 1]}, [[0, 1, 1]], {}, "both be mappings"),
        ([[0, 1]], [[0, 1, 1]], {}, "the same test examples"),
        ([], [], {}, "at least one seed"),
        ([[0, 1, 1]], [[0, 1, 1]], {"confidence": 1.0}, "`confidence`"),
        ([[0, 1, 1]], [[0, 1, 1]], {"n_resamples": 0}, "`n_resamples`"),
        ([[0, 1, 1]], [[0, 1, 1]], {"n_resamples": 10.5}, "`n_resamples`"),
    ],
)
def test_rejects_unpaired_or_bad_arguments(a, b, kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        paired_bootstrap(accuracy, [0, 1, 1], a, b, **kwargs)


def test_rejects_empty_gold():
    with pytest.raises(ValueError, match="at least one test example"):
        paired_bootstrap(accuracy, [], [[]], [[]])


def test_accuracy_is_fast_for_a_realistic_experiment():
    rng = np.random.default_rng(0)
    n = 2000
    gold = rng.integers(0, 3, n)
    a = [np.where(rng.random(n) < 0.85, gold, (gold + 1) % 3) for _ in range(3)]
    b = [np.where(rng.random(n) < 0.80, gold, (gold + 1) % 3) for _ in range(3)]
    start = time.perf_counter()
    result = paired_bootstrap(accuracy, gold, a, b, n_resamples=1000)
    # About 0.1 s on one core; the bound leaves room for a busy machine.
    assert time.perf_counter() - start < 2.0
    assert 0 < result["low"] < result["difference"] < result["high"] < 0.1


def test_compare_regimes_against_a_reference():
    gold = [1, 0, 1, 1, 0, 1]
    runs = {"scratch": [[0, 0, 0, 1, 1, 1]] * 2, "self_train": [gold] * 2,
            "mixture": [[1, 0, 1, 0, 0, 1]] * 2}
    compared = compare_regimes(accuracy, gold, runs, "scratch", n_resamples=200, seed=9)
    assert sorted(compared) == ["mixture", "self_train"]
    assert compared["self_train"] == paired_bootstrap(
        accuracy, gold, runs["self_train"], runs["scratch"], n_resamples=200, seed=9)
    with pytest.raises(ValueError, match="`reference`"):
        compare_regimes(accuracy, gold, runs, "continued")


def test_describe_gives_the_two_phrasings():
    win = {"difference": 0.021, "low": 0.004, "high": 0.038}
    assert describe("self_train", "scratch", win, "accuracy") == (
        "self_train beats scratch by 0.021 [0.004, 0.038] accuracy")
    loss = {"difference": -0.021, "low": -0.038, "high": -0.004}
    assert describe("scratch", "self_train", loss, "accuracy") == (
        "self_train beats scratch by 0.021 [0.004, 0.038] accuracy")
    tie = {"difference": -0.0002, "low": -0.012, "high": 0.0}
    assert describe("mixture", "self_train", tie, "f1") == (
        "no detectable difference between mixture and self_train (0.000 [-0.012, 0.000])")
    assert (detectable(win), detectable(loss), detectable(tie)) == (True, True, False)


def test_count_metric_is_a_plain_metric_too():
    assert accuracy([1, 2, 3, 4], [1, 2, 0, 0]) == 0.5
    hits = CountMetric("hits", lambda g, p: (float(g == p),), lambda t: t[..., 0])
    assert hits(["a", "b"], ["a", "a"]) == 1.0
    assert entity_f1()([["B-PER", "I-PER"]], [["B-PER", "I-PER"]]) == 1.0
