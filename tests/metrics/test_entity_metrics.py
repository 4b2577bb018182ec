"""Tests for kerasft/metrics/entity_metrics.py."""

import json
import os

import pytest

from kerasft.data.conll import read_conll
from kerasft.data.tag_schemes import convert_tags
from kerasft.metrics.entity_metrics import (
    EntityF1Accumulator,
    EntityMetrics,
    conlleval,
    format_table,
)

CONLL_VALIDATION = "/work/shared/data/ner_conll2003/validation.conll"

# Hand-counted fixture. Per sentence, gold chunks (G), predicted chunks (P)
# and correct chunks (C), with (type, start, end-exclusive):
#
# S1 John Smith visited New York City with Mary today .
#    G: PER(0,2) LOC(3,6) PER(7,8)   P: PER(0,2) LOC(3,5) ORG(7,8)
#    C: PER(0,2). LOC(3,5) overlaps LOC(3,6) only partly: 1 FP + 1 FN.
#    Mary is a wrong-type span: FP ORG + FN PER.
# S2 Paris Berlin talks with EU Commission officials
#    G: LOC(0,1) LOC(1,2) ORG(4,6)   P: LOC(0,2) ORG(4,6)
#    Adjacent gold entities merged by the prediction: FP LOC, 2 FN LOC.
#    The predicted ORG starts with I- after O, which starts a chunk: C ORG.
# S3 Germany France and UN said Reuters
#    G: LOC(0,1) LOC(1,2) ORG(3,4)   P: LOC(0,1) LOC(1,2) ORG(5,6)
#    Adjacent entities found: C LOC x2. FN ORG(3,4), FP ORG(5,6).
# S4 Acme
#    G: ORG(0,1)   P: ORG(0,1) (an I-ORG right after S3's predicted ORG;
#    only a sentence boundary keeps them apart): C ORG.
# S5 Bank of England
#    G: ORG(0,3)   P: LOC(0,1) ORG(1,3) (I-ORG after B-LOC starts a chunk)
#    FP LOC, FP ORG, FN ORG.
# S6 Tokyo
#    G: LOC(0,1)   P: none. FN LOC.
#
# Totals   gold (found_correct)  predicted (found_guessed)  correct
#   PER    2 (S1 x2)             1 (S1)                     1
#   LOC    6 (S1, S2 x2, S3 x2, S6)  5 (S1, S2, S3 x2, S5)  2
#   ORG    4 (S2, S3, S4, S5)    5 (S1, S2, S3, S4, S5)     2
#   all    12                    11                         5
# Overall P = 5/11, R = 5/12, F1 = 2*5/(11+12) = 10/23.
IOB2_TRUE = [
    ["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "I-LOC", "O", "B-PER", "O", "O"],
    ["B-LOC", "B-LOC", "O", "O", "B-ORG", "I-ORG", "O"],
    ["B-LOC", "B-LOC", "O", "B-ORG", "O", "O"],
    ["B-ORG"],
    ["B-ORG", "I-ORG", "I-ORG"],
    ["B-LOC"],
]
IOB2_PRED = [
    ["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O", "O", "B-ORG", "O", "O"],
    ["B-LOC", "I-LOC", "O", "O", "I-ORG", "I-ORG", "O"],
    ["B-LOC", "B-LOC", "O", "O", "O", "B-ORG"],
    ["I-ORG"],
    ["B-LOC", "I-ORG", "I-ORG"],
    ["O"],
]
# Token accuracy, IOB2: wrong tokens S1 {5, 7}, S2 {1, 4}, S3 {3, 5}, S4 {0},
# S5 {0}, S6 {0}: 28 tokens - 9 wrong = 19 correct.

# The same entities written by hand in IOB1 (B- only between same-type
# neighbours). Wrong tokens: S1 {5, 7}, S2 {1}, S3 {3, 5}, S5 {0}, S6 {0}:
# 28 - 7 = 21 correct.
IOB1_TRUE = [
    ["I-PER", "I-PER", "O", "I-LOC", "I-LOC", "I-LOC", "O", "I-PER", "O", "O"],
    ["I-LOC", "B-LOC", "O", "O", "I-ORG", "I-ORG", "O"],
    ["I-LOC", "B-LOC", "O", "I-ORG", "O", "O"],
    ["I-ORG"],
    ["I-ORG", "I-ORG", "I-ORG"],
    ["I-LOC"],
]
IOB1_PRED = [
    ["I-PER", "I-PER", "O", "I-LOC", "I-LOC", "O", "O", "I-ORG", "O", "O"],
    ["I-LOC", "I-LOC", "O", "O", "I-ORG", "I-ORG", "O"],
    ["I-LOC", "B-LOC", "O", "O", "O", "I-ORG"],
    ["I-ORG"],
    ["I-LOC", "I-ORG", "I-ORG"],
    ["O"],
]

EXPECTED_PER_TYPE = {
    "LOC": {"precision": 2 / 5, "recall": 2 / 6, "f1": 4 / 11,
            "correct_chunks": 2, "found_guessed": 5, "found_correct": 6},
    "ORG": {"precision": 2 / 5, "recall": 2 / 4, "f1": 4 / 9,
            "correct_chunks": 2, "found_guessed": 5, "found_correct": 4},
    "PER": {"precision": 1.0, "recall": 1 / 2, "f1": 2 / 3,
            "correct_chunks": 1, "found_guessed": 1, "found_correct": 2},
}


def assert_entity_figures(metrics):
    assert metrics.counts["correct_chunks"] == 5
    assert metrics.counts["found_guessed"] == 11
    assert metrics.counts["found_correct"] == 12
    assert metrics.precision == pytest.approx(5 / 11)
    assert metrics.recall == pytest.approx(5 / 12)
    assert metrics.f1 == pytest.approx(10 / 23)
    assert list(metrics.per_type) == ["LOC", "ORG", "PER"]
    for name, expected in EXPECTED_PER_TYPE.items():
        assert metrics.per_type[name] == pytest.approx(expected), name


def test_iob2_hand_counted_fixture():
    metrics = conlleval(IOB2_TRUE, IOB2_PRED)
    assert_entity_figures(metrics)
    assert metrics.counts["tokens"] == 28
    assert metrics.counts["correct_tokens"] == 19
    assert metrics.accuracy == pytest.approx(19 / 28)


def test_iob1_hand_counted_fixture_gives_same_entity_figures():
    metrics = conlleval(IOB1_TRUE, IOB1_PRED)
    assert_entity_figures(metrics)
    assert metrics.counts["correct_tokens"] == 21
    assert metrics.accuracy == pytest.approx(21 / 28)


def test_bioes_scheme_gives_same_entity_figures():
    true = [convert_tags(t, "iob2", "bioes") for t in IOB2_TRUE]
    pred = [convert_tags(p, "iob2", "bioes") for p in IOB2_PRED]
    assert_entity_figures(conlleval(true, pred, scheme="bioes"))


def test_sentence_boundaries_separate_chunks():
    # Without the boundary S3's predicted ORG(5,6) and S4's I-ORG would merge
    # into one wrong chunk; with it, S4's ORG is correct.
    metrics = conlleval(IOB2_TRUE[2:4], IOB2_PRED[2:4])
    assert metrics.per_type["ORG"]["correct_chunks"] == 1
    assert metrics.per_type["ORG"]["found_guessed"] == 2


def test_chunk_must_end_at_the_same_token():
    # Gold ORG(0,2); prediction ORG(0,1) then O: same start, different end.
    metrics = conlleval([["B-ORG", "I-ORG"]], [["B-ORG", "O"]])
    assert metrics.counts["correct_chunks"] == 0
    assert (metrics.precision, metrics.recall, metrics.f1) == (0.0, 0.0, 0.0)


def test_adjacent_entities_of_different_types():
    # IOB1 "I-PER I-LOC I-LOC" is PER(0,1) then LOC(1,3): the type change
    # alone ends the PER chunk and starts the LOC one.
    gold = [["I-PER", "I-LOC", "I-LOC"]]
    metrics = conlleval(gold, gold)
    assert metrics.counts["correct_chunks"] == 2
    assert metrics.per_type["PER"]["correct_chunks"] == 1
    assert metrics.per_type["LOC"]["correct_chunks"] == 1
    # Predicted PER(0,2) LOC(2,3): both boundaries are wrong, nothing correct.
    metrics = conlleval(gold, [["I-PER", "I-PER", "I-LOC"]])
    assert metrics.counts == {
        "correct_chunks": 0, "found_guessed": 2, "found_correct": 2,
        "tokens": 3, "correct_tokens": 2,
    }


def test_untyped_chunk_carried_over_a_boundary_like_the_script():
    # conlleval's "." tag never ends a chunk, so a bare "B" chunk followed by
    # "." stays open across the empty line: at the end of the input the script
    # counts it correct; before a B-X it is absorbed and only X is correct.
    at_end = conlleval([["B", "."], ["O"]], [["B", "."], ["O"]])
    assert at_end.counts["correct_chunks"] == 1
    before_typed = conlleval([["B", "."], ["O", "B-X"]], [["B", "."], ["O", "B-X"]])
    assert before_typed.counts["correct_chunks"] == 1
    assert before_typed.per_type[""]["correct_chunks"] == 0
    assert before_typed.per_type["X"]["correct_chunks"] == 1


def test_accumulator_is_exact_over_any_batching():
    accumulator = EntityF1Accumulator()
    for start in range(0, len(IOB2_TRUE), 4):
        accumulator.update(IOB2_TRUE[start:start + 4], IOB2_PRED[start:start + 4])
    assert accumulator.result() == conlleval(IOB2_TRUE, IOB2_PRED)
    accumulator.reset_state()
    accumulator.update([["B-PER"]], [["B-PER"]])
    assert accumulator.result().counts["found_correct"] == 1


def test_bytes_tags_are_decoded():
    metrics = conlleval([[b"B-PER", b"I-PER"]], [[b"B-PER", b"I-PER"]])
    assert metrics.f1 == 1.0
    assert list(metrics.per_type) == ["PER"]


def test_format_table_matches_conlleval_output():
    expected = (
        "processed 28 tokens with 12 phrases; found: 11 phrases; correct: 5.\n"
        "accuracy:  67.86%; precision:  45.45%; recall:  41.67%; FB1:  43.48\n"
        "              LOC: precision:  40.00%; recall:  33.33%; FB1:  36.36  5\n"
        "              ORG: precision:  40.00%; recall:  50.00%; FB1:  44.44  5\n"
        "              PER: precision: 100.00%; recall:  50.00%; FB1:  66.67  1"
    )
    assert format_table(conlleval(IOB2_TRUE, IOB2_PRED)) == expected


def test_empty_input():
    metrics = conlleval([], [])
    assert (metrics.precision, metrics.recall, metrics.f1, metrics.accuracy) == (
        0.0, 0.0, 0.0, 0.0,
    )
    assert metrics.per_type == {}
    assert format_table(metrics) == (
        "processed 0 tokens with 0 phrases; found: 0 phrases; correct: 0."
    )


def test_to_dict_is_json_serialisable(tmp_path):
    metrics = conlleval(IOB2_TRUE, IOB2_PRED)
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(metrics.to_dict()))
    loaded = json.loads(path.read_text())
    assert loaded["f1"] == pytest.approx(10 / 23)
    assert loaded["counts"] == {
        "correct_chunks": 5, "found_guessed": 11, "found_correct": 12,
        "tokens": 28, "correct_tokens": 19,
    }
    assert loaded["per_type"]["PER"]["recall"] == pytest.approx(0.5)


def test_length_mismatch_names_the_sequence():
    with pytest.raises(ValueError, match=r"Sequence 1 has 2 gold tags but 1"):
        conlleval([["O"], ["O", "O"]], [["O"], ["O"]])


def test_batch_size_mismatch():
    with pytest.raises(ValueError, match=r"Received: 2 and 1"):
        conlleval([["O"], ["O"]], [["O"]])


def test_single_sequence_instead_of_batch():
    with pytest.raises(TypeError, match=r"Wrap a single sequence in a list"):
        conlleval(["B-PER", "O"], ["B-PER", "O"])


def test_bad_tag_type():
    with pytest.raises(TypeError, match=r"Received: a int"):
        conlleval([[1]], [["O"]])


def test_unknown_scheme():
    with pytest.raises(ValueError, match=r"Received: scheme='iob3'"):
        EntityF1Accumulator("iob3")


def test_explicit_scheme_rejects_foreign_prefixes():
    accumulator = EntityF1Accumulator("iob2")
    with pytest.raises(ValueError, match=r"pred_sequences\[0\], position 1"):
        accumulator.update([["O", "B-PER"]], [["O", "S-PER"]])
    # A rejected batch adds nothing.
    assert accumulator.result().counts["tokens"] == 0


def test_format_table_rejects_other_types():
    with pytest.raises(TypeError, match=r"EntityMetrics"):
        format_table({"f1": 1.0})
    assert isinstance(conlleval([["O"]], [["O"]]), EntityMetrics)


@pytest.mark.skipif(
    not os.path.isfile(CONLL_VALIDATION), reason="shared CoNLL-2003 data absent"
)
def test_conll2003_validation_gold_against_gold():
    sentences = read_conll(CONLL_VALIDATION)
    tags = [sentence.tags for sentence in sentences]
    metrics = conlleval(tags, tags)
    assert metrics.f1 == 1.0
    assert metrics.accuracy == 1.0
    # The CoNLL-2003 English development set has 5,942 entities.
    assert metrics.counts["found_correct"] == 5942
    assert list(metrics.per_type) == ["LOC", "MISC", "ORG", "PER"]
