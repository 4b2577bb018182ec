"""The linear-chain CRF baseline of token classification (NER) heads."""

import json

import numpy as np
import pytest

import kerasft
from kerasft.baselines import run_baseline
from kerasft.baselines.crf import crf_baseline, word_features, word_shape
from kerasft.data.conll import Sentence

NAMES = ["Peter", "Anna", "Maria", "John", "Klaus", "Sofia"]
CITIES = ["Paris", "Berlin", "Madrid", "Rome", "Vienna", "Oslo"]
FIRMS = ["Siemens", "Fiat", "Nokia", "Renault"]


def sentence(pieces, source="mem", line=1):
    """`pieces`: (word, tag) pairs; a multi-word entity is several pairs."""
    return Sentence(tuple(w for w, _ in pieces), tuple(t for _, t in pieces), source, line)


def make_sentences(names, cities, firms):
    out = []
    for i, (name, city) in enumerate(zip(names, cities)):
        firm = firms[i % len(firms)]
        out.append(sentence([("Mr", "O"), (name, "B-PER"), ("Smith", "I-PER"), ("lives", "O"),
                             ("in", "O"), (city, "B-LOC"), (".", "O")], line=3 * i + 1))
        out.append(sentence([(name, "B-PER"), ("works", "O"), ("for", "O"),
                             (firm, "B-ORG"), ("Corp", "I-ORG"), ("in", "O"), (city, "B-LOC")],
                            line=3 * i + 2))
        out.append(sentence([("the", "O"), ("weather", "O"), ("is", "O"), ("fine", "O")],
                            line=3 * i + 3))
    return out


TRAIN = make_sentences(NAMES[:4], CITIES[:4], FIRMS[:2]) * 3
VALIDATION = make_sentences(NAMES[4:], CITIES[4:], FIRMS[2:])
# Names, cities and firms never seen in train: only context and shape tell.
TEST = make_sentences(["Ingrid", "Tomas"], ["Lisbon", "Prague"], ["Volvo", "Bosch"])


@pytest.fixture(scope="module")
def result():
    return run_baseline(kerasft.get_head("ner"), TRAIN, VALIDATION, TEST, seed=0)


def test_learns_the_tiny_task_and_is_marked_baseline(result):
    assert result["kind"] == "baseline"
    assert result["name"] == "crf"
    assert result["head"] == "ner"
    assert result["primary_metric"] == "f1"
    assert result["test"]["f1"] >= 0.9
    assert result["test"]["sentences"] == len(TEST)
    assert [len(p) for p in result["predictions"]] == [len(e.tokens) for e in TEST]
    assert result["predictions"][0][:3] == ["O", "B-PER", "I-PER"]
    # What it costs to serve: one input a call, and the fitted model's pickle.
    assert result["serving"]["calls"] == 100 and result["serving"]["latency_ms_p50"] > 0
    assert result["serving"]["size_bytes"] > 1000
    steps = result["seconds_by_step"]
    assert set(steps) == {"features", "tuning", "test"}
    assert all(s > 0 for s in steps.values())
    assert result["seconds"] >= sum(steps.values())
    json.dumps(result)


def test_reports_are_the_heads_own_evaluate(result):
    head_cls = kerasft.get_head("ner")
    labels = head_cls.labels_from_examples(TRAIN)
    assert result["labels"] == labels
    head = head_cls(labels)
    # One sentence a batch; every word is its own first piece.
    targets = [np.array([[labels.index(t) for t in e.tags]]) for e in TEST]
    logits = [np.eye(len(labels))[[labels.index(t) for t in p]][None]
              for p in result["predictions"]]
    assert result["test"] == head.evaluate(targets, logits, TEST)
    assert set(result["validation"]) == set(result["test"])


def test_c1_c2_are_tuned_on_validation_and_recorded(result):
    params = result["params"]
    scores = params["validation_scores"]
    assert len(scores) == len(params["grid"]) == 4
    best = max(s["f1"] for s in scores)
    first_best = next(s for s in scores if s["f1"] == best)
    assert (params["c1"], params["c2"]) == (first_best["c1"], first_best["c2"])
    assert result["validation"]["f1"] == best
    assert params["fit_on"] == "train"
    assert params["scheme"] is None
    assert all(1 <= s["iterations"] <= params["max_iterations"] for s in scores)


def test_deterministic(result):
    again = run_baseline(kerasft.get_head("ner"), TRAIN, VALIDATION, TEST, seed=1)
    assert again["predictions"] == result["predictions"]
    assert again["test"] == result["test"]


def test_reads_iob2_from_the_heads_conll_reader(tmp_path):
    head_cls = kerasft.get_head("ner")
    file_name, contents = head_cls.example_data
    path = tmp_path / file_name
    path.write_text(contents, encoding="utf-8")
    sentences = head_cls.read_examples(path)
    result = crf_baseline(head_cls, sentences, sentences, sentences, grid=[(0.0, 0.01)])
    assert result["predictions"] == [list(s.tags) for s in sentences]
    assert result["test"]["f1"] == 1.0


def test_bioes_tags_are_scored_as_the_head_scores_them():
    head_cls = kerasft.TokenClassificationHead
    train = [
        sentence([("Mr", "O"), ("Peter", "B-PER"), ("Smith", "E-PER"), ("left", "O")]),
        sentence([("Anna", "S-PER"), ("left", "O")]),
    ] * 4
    result = crf_baseline(head_cls, train, train, train, grid=[(0.0, 0.01)])
    labels = head_cls.labels_from_examples(train)
    assert result["params"]["scheme"] == "bioes"
    targets = [np.array([[labels.index(t) for t in e.tags]]) for e in train]
    logits = [np.eye(len(labels))[[labels.index(t) for t in p]][None]
              for p in result["predictions"]]
    assert result["test"] == head_cls(labels).evaluate(targets, logits, train)
    assert result["test"]["f1"] == 1.0


def test_a_tag_train_lacks_is_an_error():
    test = [sentence([("Paris", "B-GPE")], source="test.conll", line=7)]
    with pytest.raises(ValueError, match=r"test.conll, line 7: tag 'B-GPE' of the test split"):
        run_baseline(kerasft.get_head("ner"), TRAIN, VALIDATION, test, seed=0)


@pytest.mark.parametrize("grid", [[], [(0.1,)], [(-0.1, 0.1)], ["ab"]])
def test_bad_grid_is_an_error(grid):
    with pytest.raises(ValueError, match="`grid` must"):
        crf_baseline(kerasft.get_head("ner"), TRAIN, VALIDATION, TEST, grid=grid)


def test_word_features_are_the_standard_set():
    features = word_features(["Mr", "Peter", "Smith", "left", "1996"])
    middle = features[2]
    assert middle["word.lower"] == "smith"
    assert (middle["prefix2"], middle["prefix3"], middle["suffix2"], middle["suffix3"]) == (
        "Sm", "Smi", "th", "ith")
    assert middle["is_title"] and not middle["is_upper"] and not middle["is_digit"]
    assert middle["shape"] == "Xx"
    assert (middle["-2:word.lower"], middle["-1:word.lower"]) == ("mr", "peter")
    assert (middle["+1:word.lower"], middle["+2:word.lower"]) == ("left", "1996")
    assert middle["-1:is_title"] and middle["+1:shape"] == "x"
    assert "BOS" not in middle and "EOS" not in middle
    assert features[0]["BOS"] and "-1:word.lower" not in features[0]
    assert features[-1]["EOS"] and features[-1]["is_digit"] and features[-1]["shape"] == "d"
    assert "+1:word.lower" not in features[-1]
    assert word_shape("CoNLL-2003") == "XxX-d"
