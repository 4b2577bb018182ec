"""Tests for kerasft/data/tag_schemes.py."""

import os

import pytest

from kerasft.data.conll import read_conll
from kerasft.data.tag_schemes import (
    convert_tags,
    detect_tag_scheme,
    entity_spans,
    find_invalid_tag,
    group_spans,
    split_tag,
    spans_to_tags,
    validate_tags,
)

CONLL_VALIDATION = "/work/shared/data/ner_conll2003/validation.conll"

# One sentence written in the three schemes: PER(0,2), LOC(2,3) right after
# it (different type), two adjacent LOCs (4,5) and (5,7), MISC(8,9).
IOB1 = ["I-PER", "I-PER", "I-LOC", "O", "I-LOC", "B-LOC", "I-LOC", "O", "I-MISC"]
IOB2 = ["B-PER", "I-PER", "B-LOC", "O", "B-LOC", "B-LOC", "I-LOC", "O", "B-MISC"]
BIOES = ["B-PER", "E-PER", "S-LOC", "O", "S-LOC", "B-LOC", "E-LOC", "O", "S-MISC"]
SPANS = [("PER", 0, 2), ("LOC", 2, 3), ("LOC", 4, 5), ("LOC", 5, 7), ("MISC", 8, 9)]


def test_split_tag():
    assert split_tag("O") == ("O", "")
    assert split_tag("B-PER") == ("B", "PER")
    assert split_tag("I-ORG-SUB") == ("I", "ORG-SUB")


@pytest.mark.parametrize("tag", ["X-PER", "PER", "B-", "BI-PER", "o", ""])
def test_split_tag_rejects_unknown_tags(tag):
    with pytest.raises(ValueError, match="Unknown tag"):
        split_tag(tag)


def test_split_tag_rejects_prefixes_outside_the_scheme():
    with pytest.raises(ValueError, match=r"'S-PER'.*IOB2 tags \(B-, I- or O\)"):
        split_tag("S-PER", "iob2")
    assert split_tag("S-PER", "bioes") == ("S", "PER")


def test_split_tag_rejects_non_strings():
    with pytest.raises(TypeError, match="Received: tag=3"):
        split_tag(3)


@pytest.mark.parametrize(
    "sequences, expected",
    [
        ([IOB1], "iob1"),
        ([IOB2], "iob2"),
        ([BIOES], "bioes"),
        ([["O", "O"], []], "iob2"),
        # One I- starting an entity anywhere makes the collection IOB1.
        ([["B-PER", "I-PER"], ["O", "I-LOC"]], "iob1"),
        # ... including an I- right after another type.
        ([["B-PER", "I-LOC"]], "iob1"),
        ([["S-PER"]], "bioes"),
    ],
)
def test_detect_tag_scheme(sequences, expected):
    assert detect_tag_scheme(sequences) == expected


def test_detect_tag_scheme_accepts_a_generator():
    assert detect_tag_scheme(tags for tags in [IOB1, IOB2]) == "iob1"


def test_detect_tag_scheme_names_the_bad_tag():
    with pytest.raises(ValueError, match=r"sequence 1, position 2: Unknown tag 'X-PER'"):
        detect_tag_scheme([["O"], ["O", "B-PER", "X-PER"]])


def test_detect_tag_scheme_rejects_a_single_sequence():
    with pytest.raises(TypeError, match=r"detect_tag_scheme\(\[tags\]\)"):
        detect_tag_scheme(["B-PER", "O"])


@pytest.mark.parametrize(
    "tags, scheme", [(IOB1, "iob1"), (IOB2, "iob2"), (BIOES, "bioes")]
)
def test_entity_spans(tags, scheme):
    assert entity_spans(tags, scheme) == SPANS


def test_entity_spans_reads_ill_formed_tags_like_conlleval():
    # I- after O starts an entity; I- after another type starts a new one.
    assert entity_spans(["O", "I-PER", "I-PER", "I-LOC"]) == [
        ("PER", 1, 3), ("LOC", 3, 4),
    ]
    # BIOES without its E- still ends at the last token of the entity.
    assert entity_spans(["B-PER", "I-PER", "O", "B-LOC"], "bioes") == [
        ("PER", 0, 2), ("LOC", 3, 4),
    ]
    assert entity_spans(["E-PER", "I-PER"], "bioes") == [("PER", 0, 1), ("PER", 1, 2)]


def test_group_spans_begins_and_ends_are_the_callers_choice():
    split = [("B", "PER"), ("E", "PER"), ("I", "PER"), ("S", "LOC"), ("I", "LOC")]
    # BIOES-style (the default): E- and S- close their entity.
    assert group_spans(split) == [("PER", 0, 2), ("PER", 2, 3), ("LOC", 3, 4), ("LOC", 4, 5)]
    # Nothing closes early: only B- / S- and type changes split entities.
    assert group_spans(split, ends=()) == [("PER", 0, 3), ("LOC", 3, 5)]
    assert group_spans([("O", ""), ("I", "")]) == [("", 1, 2)]  # types are not checked
    assert group_spans([]) == []


def test_entity_spans_rejects_prefixes_outside_the_scheme():
    with pytest.raises(ValueError, match=r"position 1: Unknown tag 'S-LOC'"):
        entity_spans(["O", "S-LOC"], "iob2")


@pytest.mark.parametrize(
    "source, target",
    [(s, t) for s in ("iob1", "iob2", "bioes") for t in ("iob1", "iob2", "bioes")],
)
def test_convert_tags_between_all_schemes(source, target):
    tags = {"iob1": IOB1, "iob2": IOB2, "bioes": BIOES}
    assert convert_tags(tags[source], source, target) == tags[target]


def test_convert_tags_repairs_ill_formed_iob2():
    assert convert_tags(["O", "I-PER", "I-LOC"], "iob2", "iob2") == [
        "O", "B-PER", "B-LOC",
    ]


@pytest.mark.parametrize("argument", ["source", "target"])
def test_convert_tags_rejects_unknown_scheme_names(argument):
    schemes = {"source": "iob2", "target": "iob2", argument: "IOBES"}
    with pytest.raises(ValueError, match=rf"`{argument}` must be one of .*Received: {argument}='IOBES'"):
        convert_tags(IOB2, **schemes)


def test_spans_to_tags_rejects_overlapping_spans():
    with pytest.raises(ValueError, match="non-overlapping"):
        spans_to_tags([("PER", 0, 2), ("LOC", 1, 3)], 4)


def test_find_invalid_tag():
    assert find_invalid_tag(IOB1, "iob1") is None
    assert find_invalid_tag(IOB2, "iob2") is None
    assert find_invalid_tag(BIOES, "bioes") is None
    # IOB1 data is not valid IOB2: position 0 is an I- at the start.
    index, reason = find_invalid_tag(IOB1, "iob2")
    assert index == 0 and "use tag scheme 'iob1' or 'auto'" in reason
    assert find_invalid_tag(["B-PER", "I-LOC"], "iob2")[0] == 1
    # BIOES: an entity must be closed by E- (or be a single S-).
    assert find_invalid_tag(["B-PER", "O"], "bioes")[0] == 0
    assert find_invalid_tag(["B-PER", "I-PER"], "bioes")[0] == 1
    assert find_invalid_tag(["O", "E-PER"], "bioes")[0] == 1
    assert find_invalid_tag(["S-PER", "I-PER", "E-PER"], "bioes")[0] == 1
    assert find_invalid_tag(["O", "Z-PER"], "iob1")[0] == 1


def test_validate_tags():
    validate_tags(IOB2, "iob2")
    with pytest.raises(ValueError, match=r"position 3: Tag 'I-LOC' follows 'O'"):
        validate_tags(["B-PER", "I-PER", "O", "I-LOC"], "iob2")
    with pytest.raises(ValueError, match=r"Received: scheme='bio'"):
        validate_tags(IOB2, "bio")


@pytest.mark.skipif(
    not os.path.isfile(CONLL_VALIDATION), reason="shared CoNLL-2003 data absent"
)
def test_round_trips_on_conll2003_validation():
    sentences = read_conll(CONLL_VALIDATION, convert_to=None)
    for sentence in sentences:
        iob2 = list(sentence.tags)
        iob1 = convert_tags(iob2, "iob2", "iob1")
        bioes = convert_tags(iob2, "iob2", "bioes")
        assert convert_tags(iob1, "iob1", "iob2") == iob2
        assert convert_tags(bioes, "bioes", "iob2") == iob2
        assert convert_tags(bioes, "bioes", "iob1") == iob1
        assert convert_tags(iob1, "iob1", "bioes") == bioes
        assert find_invalid_tag(bioes, "bioes") is None
        assert entity_spans(iob1, "iob1") == entity_spans(iob2)
