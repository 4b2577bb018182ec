"""Test-text leakage: normalised exact matches, and every regime's on known overlap."""

import pytest

from conftest import NEGATIVE, POSITIVE, minilm_dir, write_jsonl

from kerasft.experiment import (
    REGIMES,
    ExperimentConfig,
    leakage,
    normalize_text,
    regime_leakage,
)

# Two of the four test texts are train texts (one with different spacing),
# one more is only in the mixture's extra corpus, one is nowhere else.
TEST_ROWS = [
    {"text": POSITIVE[0], "label": "positive"},
    {"text": "  " + NEGATIVE[1].replace(" ", "   ") + " ", "label": "negative"},
    {"text": "a wonderful story , not boring", "label": "positive"},
    {"text": "the acting was awful", "label": "negative"},
]
EXPECTED_LEAKAGE = {
    "baseline": 0.0,  # trains on train only
    "scratch": 0.0,
    "self_train": 0.5,
    "self_transductive": 1.0,  # the test text itself is pretraining text
    "mixture": 0.75,  # train text + the extra corpus
    "off_the_shelf": None,  # MiniLM's own corpus is unknown
    "continued": 0.5,  # the train text it adds
}


@pytest.fixture
def overlap_data(tmp_path):
    """A labelled dataset with known test/train overlap, plus an extra corpus."""
    data = tmp_path / "data"
    data.mkdir()
    train = [{"text": t, "label": "positive"} for t in POSITIVE] + [
        {"text": t, "label": "negative"} for t in NEGATIVE
    ]
    write_jsonl(data / "train.jsonl", train)
    write_jsonl(data / "validation.jsonl", train[::2])
    write_jsonl(data / "test.jsonl", TEST_ROWS)
    extra = tmp_path / "extra.txt"
    extra.write_text("the story was fun\na wonderful story , not boring\nboring\n")
    return {"dir": str(data), "mixture": [f"{data / 'train.jsonl'}:1", f"{extra}:1"]}


def test_leakage_counts_whitespace_normalised_exact_matches():
    assert normalize_text("  a\t gripping\nfilm ") == "a gripping film"
    assert leakage(["a  film", "a plot", "A film"], {"a film"}) == pytest.approx(1 / 3)
    assert leakage([], {"a"}) == 0.0


def test_leakage_of_every_regime_on_known_overlap(overlap_data):
    config = ExperimentConfig(
        head="sentiment", data_dir=overlap_data["dir"],
        mixture_corpora=overlap_data["mixture"], minilm_dir=str(minilm_dir()),
    )
    for name in REGIMES:
        assert regime_leakage(config, name) == EXPECTED_LEAKAGE[name], name
