"""The TF-IDF + logistic regression baseline of classification heads."""

import json

import numpy as np
import pytest

import kerasft
from conftest import NEGATIVE, POSITIVE, write_jsonl
from kerasft.baselines import run_baseline, tfidf_logreg_baseline
from kerasft.baselines.tfidf import DEFAULT_C_GRID
from kerasft.data.jsonl import LabelledText


def examples(rows, source="mem"):
    return [LabelledText(text, label, source, i + 1) for i, (text, label) in enumerate(rows)]


TRAIN = examples([(t, "positive") for t in POSITIVE] + [(t, "negative") for t in NEGATIVE])
VALIDATION = examples([
    ("a great film", "positive"), ("the acting was wonderful", "positive"),
    ("a dull film", "negative"), ("the acting was awful", "negative"),
])
TEST = examples([
    ("the movie is great", "positive"), ("wonderful , very fun", "positive"),
    ("loved it", "positive"), ("the story is awful", "negative"),
    ("very boring", "negative"), ("hated the film", "negative"),
])


@pytest.fixture(scope="module")
def result():
    return run_baseline(kerasft.get_head("sentiment"), TRAIN, VALIDATION, TEST, seed=0)


def test_learns_the_tiny_task_and_is_marked_baseline(result):
    assert result["kind"] == "baseline"
    assert result["name"] == "tfidf_logreg"
    assert result["head"] == "sentiment"
    assert result["primary_metric"] == "accuracy"
    assert result["test"]["accuracy"] == 1.0
    assert result["test"]["examples"] == len(TEST)
    assert result["predictions"] == [e.label for e in TEST]
    # What it costs to serve: one input a call, and the fitted model's pickle.
    assert result["serving"]["calls"] == 100 and result["serving"]["latency_ms_p50"] > 0
    assert result["serving"]["size_bytes"] > 1000
    steps = result["seconds_by_step"]
    assert set(steps) == {"features", "tuning", "test"}
    assert all(s > 0 for s in steps.values())
    assert result["seconds"] >= sum(steps.values())


def test_reports_are_the_heads_own_evaluate(result):
    head_cls = kerasft.get_head("sentiment")
    labels = head_cls.labels_from_examples(TRAIN)
    assert result["labels"] == labels == ["negative", "positive"]
    head = head_cls(labels)
    targets = np.array([labels.index(e.label) for e in TEST])
    logits = np.eye(len(labels))[[labels.index(p) for p in result["predictions"]]]
    assert result["test"] == head.evaluate([targets], [logits], TEST)
    assert set(result["validation"]) == set(result["test"])
    assert result["validation"]["examples"] == len(VALIDATION)


def test_c_is_tuned_on_validation_and_recorded(result):
    params = result["params"]
    scores = params["validation_scores"]
    assert [s["C"] for s in scores] == sorted(DEFAULT_C_GRID) == params["c_grid"]
    best = max(s["accuracy"] for s in scores)
    # The chosen C is the smallest C with the best validation accuracy.
    assert params["C"] == min(s["C"] for s in scores if s["accuracy"] == best)
    assert result["validation"]["accuracy"] == best
    assert params["fit_on"] == "train"
    assert params["selection_metric"] == "accuracy"
    assert params["features"]["word"]["ngram_range"] == [1, 2]
    assert params["features"]["char"] == {
        "analyzer": "char_wb", "ngram_range": [2, 5], "sublinear_tf": True,
        "lowercase": True,
    }
    assert params["num_features"] > 100
    json.dumps(result)  # the record goes into JSON reports as it is


def test_deterministic_given_the_seed(result):
    again = run_baseline(kerasft.get_head("sentiment"), TRAIN, VALIDATION, TEST, seed=0)
    assert again["predictions"] == result["predictions"]
    assert again["params"]["C"] == result["params"]["C"]
    assert again["test"] == result["test"]


def test_many_classes_read_from_files_keep_the_head_label_order(tmp_path):
    head_cls = kerasft.get_head("topic")
    rows = {
        "sports": ["the team won the match", "a late goal in the final", "the striker scored twice"],
        "politics": ["parliament passed the bill", "the minister resigned", "voters went to the polls"],
        "science": ["the telescope found a planet", "a new vaccine trial", "physicists measured a particle"],
    }
    train = write_jsonl(tmp_path / "train.jsonl", [
        {"text": t, "label": label} for label, texts in rows.items() for t in texts
    ])
    test = write_jsonl(tmp_path / "test.jsonl", [
        {"text": "the team scored a goal", "label": "sports"},
        {"text": "the minister passed the bill", "label": "politics"},
        {"text": "the telescope measured a planet", "label": "science"},
    ])
    train_examples = head_cls.read_examples(train)
    test_examples = head_cls.read_examples(test)
    result = tfidf_logreg_baseline(
        head_cls, train_examples, test_examples, test_examples, seed=0, c_grid=[10.0]
    )
    assert result["labels"] == ["politics", "science", "sports"]
    assert list(result["test"]["per_class"]) == result["labels"]
    assert result["predictions"] == ["sports", "politics", "science"]
    assert result["params"]["C"] == 10.0


def test_a_label_train_lacks_is_an_error():
    test = examples([("a good film", "neutral")], source="test.jsonl")
    with pytest.raises(ValueError, match=r"test.jsonl, line 1: label 'neutral' of the test split was never seen"):
        run_baseline(kerasft.get_head("sentiment"), TRAIN, VALIDATION, test, seed=0)


@pytest.mark.parametrize("c_grid", [[], [0.0], [-1.0, 1.0]])
def test_bad_c_grid_is_an_error(c_grid):
    with pytest.raises(ValueError, match="`c_grid` must be a non-empty sequence of positive"):
        tfidf_logreg_baseline(kerasft.get_head("sentiment"), TRAIN, VALIDATION, TEST, c_grid=c_grid)


def test_an_empty_split_is_an_error():
    with pytest.raises(ValueError, match="0 validation"):
        run_baseline(kerasft.get_head("sentiment"), TRAIN, [], TEST, seed=0)


def test_one_train_label_is_an_error():
    train = [e for e in TRAIN if e.label == "positive"]
    test = [e for e in TEST if e.label == "positive"]
    with pytest.raises(ValueError, match="at least 2 labels in train"):
        run_baseline(kerasft.get_head("sentiment"), train, test, test, seed=0)
