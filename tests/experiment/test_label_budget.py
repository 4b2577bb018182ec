"""Label-budget subsets: nested, stratified, and the same for every regime and seed."""

import collections
import math

import numpy as np
import pytest

from kerasft.experiment.label_budget import (
    check_fractions,
    entity_key,
    nested_subsets,
    stratified_order,
)

FRACTIONS = (0.1, 0.3, 1.0)


def _labels(counts: dict[str, int], seed: int = 0) -> list[str]:
    labels = [label for label, count in counts.items() for _ in range(count)]
    np.random.default_rng(seed).shuffle(labels)  # classes interleaved in the file
    return labels


def test_subsets_are_nested_and_one_is_everything():
    labels = _labels({"pos": 120, "neg": 70, "neutral": 30})
    subsets = nested_subsets(labels, FRACTIONS, seed=0)
    assert list(subsets) == list(FRACTIONS)
    assert set(subsets[0.1]) < set(subsets[0.3]) < set(subsets[1.0])
    assert subsets[1.0] == list(range(len(labels)))
    assert [len(subsets[f]) for f in FRACTIONS] == [22, 66, 220]
    assert all(s == sorted(s) and len(set(s)) == len(s) for s in subsets.values())


def test_class_counts_are_within_one_example_of_the_full_proportions():
    counts = {"pos": 120, "neg": 70, "neutral": 30, "mixed": 13}
    labels = _labels(counts)
    n = len(labels)
    for seed in range(5):
        for fraction, subset in nested_subsets(labels, "0.1,0.25,0.5,0.9", seed=seed).items():
            kept = collections.Counter(labels[i] for i in subset)
            assert len(subset) == math.floor(fraction * n + 0.5)
            for label, total in counts.items():
                assert abs(kept[label] - len(subset) * total / n) <= 1, (seed, fraction, label)


def test_every_prefix_of_the_order_is_stratified():
    rng = np.random.default_rng(0)
    for trial in range(40):
        k = int(rng.integers(1, 9))
        keys = rng.choice(k, size=int(rng.integers(1, 120)),
                          p=rng.dirichlet(np.full(k, 0.5))).tolist()
        order = stratified_order(keys, seed=trial)
        assert sorted(order) == list(range(len(keys)))
        totals = collections.Counter(keys)
        running = collections.Counter()
        for m, index in enumerate(order, start=1):
            running[keys[index]] += 1
            for key, total in totals.items():
                assert abs(running[key] - m * total / len(keys)) <= 1 + 1e-9


def test_identical_across_regimes_and_seeds_whatever_the_call_order():
    labels = _labels({"pos": 50, "neg": 40, "neutral": 10})
    # One call per (regime, fine-tuning seed): only the data seed matters.
    first = nested_subsets(labels, FRACTIONS, seed=0)
    calls = [nested_subsets(labels, FRACTIONS, seed=s) for s in (1, 0, 2, 0)]
    assert calls[1] == first and calls[3] == first
    assert calls[0] != first  # another data seed draws other examples
    # A fraction's subset does not depend on the other fractions asked for.
    assert nested_subsets(labels, [0.3], seed=0)[0.3] == first[0.3]


def test_rare_classes_are_present_in_every_subset():
    labels = _labels({"common": 197, "rare": 2, "rarer": 1})
    subsets = nested_subsets(labels, FRACTIONS, seed=4)
    for subset in subsets.values():
        assert {labels[i] for i in subset} == {"common", "rare", "rarer"}
    assert set(subsets[0.1]) < set(subsets[0.3]) < set(subsets[1.0])
    assert len(subsets[0.1]) == 20 + 2  # 10%, plus the first of each rare class


def test_ner_keys_stratify_sentences():
    sentences = [["B-PER", "O"]] * 20 + [["O", "O"]] * 60 + [["B-LOC", "I-LOC", "B-PER"]] * 20
    keys = [entity_key(tags) for tags in sentences]
    assert set(keys) == {("PER",), (), ("LOC", "PER")}
    subset = nested_subsets(keys, [0.5], seed=0)[0.5]
    assert collections.Counter(keys[i] for i in subset) == {
        (): 30, ("PER",): 10, ("LOC", "PER"): 10}
    # Unhashable keys (a list or set of types) are accepted and mean the same.
    as_sets = nested_subsets([set(k) for k in keys], [0.5], seed=0)[0.5]
    assert as_sets == subset
    assert nested_subsets([list(k) for k in keys], [0.5], seed=0)[0.5] == subset


def test_a_tiny_split_keeps_at_least_one_example():
    assert nested_subsets(["a"], [0.1, 1.0], seed=0) == {0.1: [0], 1.0: [0]}
    with pytest.raises(ValueError, match="at least one train example"):
        nested_subsets([], [0.5], seed=0)


@pytest.mark.parametrize(
    "fractions, fragment",
    [
        ("0,0.5", "in \\(0, 1\\]"),
        ([0.5, 1.5], "in \\(0, 1\\]"),
        ([float("nan")], "in \\(0, 1\\]"),
        ("0.3,0.1", "sorted and unique"),
        ([0.3, 0.3, 1.0], "sorted and unique"),
        ("", "at least one"),
        ("0.1,half", "numbers"),
    ],
)
def test_rejects_bad_fractions(fractions, fragment):
    with pytest.raises(ValueError, match=fragment):
        check_fractions(fractions)
    with pytest.raises(ValueError, match=fragment):
        nested_subsets(["a", "b"], fractions, seed=0)


def test_check_fractions_parses_a_flag_value():
    assert check_fractions(" 0.1, 0.3 ,1") == (0.1, 0.3, 1.0)
    assert check_fractions([1]) == (1.0,)


@pytest.mark.parametrize("task", ["sentiment", "ner"])
def test_written_subsets_are_nested_stratified_files(task, shared_data, tmp_path):
    import json

    from kerasft.experiment.dataset import split_files
    from kerasft.experiment.label_budget import stratum_keys, write_label_subsets
    from kerasft.registry import get_head

    train = split_files(str(shared_data / {"sentiment": "sentiment_rt_polarity",
                                           "ner": "ner_conll2003"}[task]))["train"]
    head_cls = get_head(task)
    examples = head_cls.read_examples(train)
    head = head_cls(labels=head_cls.labels_from_examples(examples))
    keys = stratum_keys(head_cls.target_kind, head.gold_labels(examples))
    budgets = write_label_subsets(train, keys, FRACTIONS, str(tmp_path / "a"), seed=0)
    again = write_label_subsets(train, keys, FRACTIONS, str(tmp_path / "b"), seed=0)
    assert [b["fraction"] for b in budgets] == list(FRACTIONS)
    assert budgets[-1] == {"fraction": 1.0, "examples": len(examples), "train": train}
    subsets = json.loads((tmp_path / "a" / "subsets.json").read_text())["subsets"]
    assert subsets == json.loads((tmp_path / "b" / "subsets.json").read_text())["subsets"]
    read = {b["fraction"]: head_cls.read_examples(b["train"]) for b in budgets}

    def content(split):
        return {(head_cls.example_text(e), repr(g)) for e, g in zip(split, head.gold_labels(split))}

    for (f, small), large in zip(list(read.items()), list(read.values())[1:]):
        assert len(small) >= math.floor(f * len(examples) + 0.5)
        assert content(small) <= content(large)  # nested
    # Each subset reads back as the examples its indices name.
    for budget, again_budget in zip(budgets[:-1], again[:-1]):
        indices = subsets[f"{budget['fraction']:g}"]
        gold = head.gold_labels(read[budget["fraction"]])
        assert gold == [head.gold_labels([examples[i]])[0] for i in indices]
        assert (open(budget["train"]).read() == open(again_budget["train"]).read())
        # Stratified: each stratum within one example of its share.
        for key in set(keys):
            share = keys.count(key) * len(indices) / len(keys)
            assert abs([keys[i] for i in indices].count(key) - share) <= 1 + 1e-9, key
