"""Tests for kerasft/data/conll.py."""

import os
import re

import pytest

from kerasft.data.conll import (
    Sentence,
    iter_conll_sentences,
    iter_sentence_lines,
    read_conll,
)

CONLL_VALIDATION = "/work/shared/data/ner_conll2003/validation.conll"

# Lines: 1 DOCSTART, 2 empty, 3-5 first sentence (tab-separated columns on
# line 4), 6 empty, 7 DOCSTART, 8-9 empty, 10-11 second sentence with no
# final newline.
IOB2_FILE = (
    "-DOCSTART- -X- -X- O\n"
    "\n"
    "John NNP B-NP B-PER\n"
    "Smith\tNNP\tI-NP\tI-PER\n"
    "runs  VBZ B-VP   O\n"
    "\n"
    "-DOCSTART- -X- -X- O\n"
    "\n"
    "\n"
    "Paris NNP B-NP B-LOC\n"
    ". . O O"
)


def write(tmp_path, text, name="data.conll"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def test_reads_spaces_tabs_docstart_and_no_final_newline(tmp_path):
    path = write(tmp_path, IOB2_FILE)
    sentences = read_conll(path)
    assert sentences == [
        Sentence(("John", "Smith", "runs"), ("B-PER", "I-PER", "O"), str(path), 3),
        Sentence(("Paris", "."), ("B-LOC", "O"), str(path), 10),
    ]


def test_windows_line_endings_and_two_columns(tmp_path):
    path = write(tmp_path, "a B-X\r\nb I-X\r\n\r\nc O\r\n")
    sentences = read_conll(path)
    assert [s.tokens for s in sentences] == [("a", "b"), ("c",)]
    assert [s.line for s in sentences] == [1, 4]


def test_iob1_is_detected_and_converted(tmp_path):
    path = write(tmp_path, "EU I-ORG\nParis I-LOC\nLyon B-LOC\nsaid O\n")
    assert read_conll(path)[0].tags == ("B-ORG", "B-LOC", "B-LOC", "O")
    assert read_conll(path, convert_to=None)[0].tags == ("I-ORG", "I-LOC", "B-LOC", "O")
    assert read_conll(path, convert_to="bioes")[0].tags == ("S-ORG", "S-LOC", "S-LOC", "O")
    assert read_conll(path, tag_scheme="iob1", convert_to="iob1")[0].tags == (
        "I-ORG", "I-LOC", "B-LOC", "O",
    )


def test_bioes_file(tmp_path):
    path = write(tmp_path, "New B-LOC\nYork E-LOC\nis O\nbig O\n\nBob S-PER\n")
    sentences = read_conll(path)
    assert [s.tags for s in sentences] == [("B-LOC", "I-LOC", "O", "O"), ("B-PER",)]


def test_wrong_column_count_names_file_line_and_expected_count(tmp_path):
    path = write(tmp_path, "a NN B-X\nb NN I-X\n\nc O\n")
    with pytest.raises(ValueError) as info:
        read_conll(path)
    message = str(info.value)
    assert f"{path}, line 4: wrong number of columns" in message
    assert "Received: line='c O' (2 columns)" in message
    assert "Expected 3 columns like the first token line (line 1)" in message


def test_one_column_is_too_few(tmp_path):
    path = write(tmp_path, "\nlonely\n")
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}, line 2: too few columns"):
        read_conll(path)


def test_unknown_tag_prefix_names_file_and_line(tmp_path):
    path = write(tmp_path, "-DOCSTART- O\n\nJohn B-PER\nSmith X-PER\n")
    with pytest.raises(ValueError) as info:
        read_conll(path)
    assert str(info.value).startswith(f"{path}, line 4: Unknown tag 'X-PER'")


def test_tags_invalid_in_the_given_scheme_name_file_and_line(tmp_path):
    iob1_path = write(tmp_path, "a O\nb I-PER\n", "iob1.conll")
    with pytest.raises(ValueError) as info:
        read_conll(iob1_path, tag_scheme="iob2")
    message = str(info.value)
    assert message.startswith(f"{iob1_path}, line 2: Tag 'I-PER' follows 'O'")
    assert "(tag scheme given: 'iob2')" in message

    bioes_path = write(tmp_path, "a O\n\nb S-PER\n", "bioes.conll")
    with pytest.raises(ValueError, match=r"line 3: Unknown tag 'S-PER'\. Expected IOB2"):
        read_conll(bioes_path, tag_scheme="iob2")

    broken_path = write(tmp_path, "a B-PER\nb O\n\nc S-LOC\n", "broken.conll")
    with pytest.raises(ValueError, match=r"line 1: .*\(tag scheme detected: 'bioes'\)"):
        read_conll(broken_path)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"tag_scheme": "bio"}, r"`tag_scheme` must be one of .*Received: tag_scheme='bio'"),
        ({"convert_to": "auto"}, r"`convert_to` must be one of .*Received: convert_to='auto'"),
    ],
)
def test_unknown_scheme_names(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        read_conll(write(tmp_path, "a O\n"), **kwargs)


@pytest.mark.parametrize(
    "text", ["", "\n\n", "  \t\n", "-DOCSTART- -X- -X- O\n\n"]
)
def test_file_without_sentences(tmp_path, text):
    path = write(tmp_path, text)
    with pytest.raises(ValueError, match=rf"{re.escape(repr(str(path)))} contains no sentences"):
        read_conll(path)
    with pytest.raises(ValueError, match="contains no sentences"):
        list(iter_conll_sentences(path))


def test_missing_file_and_directory(tmp_path):
    missing = tmp_path / "missing.conll"
    with pytest.raises(ValueError, match=r"CoNLL file not found: .*missing\.conll"):
        read_conll(missing)
    # The streaming reader fails at the call, not at the first `next()`.
    with pytest.raises(ValueError, match="CoNLL file not found"):
        iter_conll_sentences(missing)
    with pytest.raises(ValueError, match="CoNLL file not found"):
        read_conll(tmp_path)


def test_path_of_wrong_type():
    with pytest.raises(TypeError, match=r"Received: path=3"):
        read_conll(3)


def test_undecodable_bytes_name_file_and_line(tmp_path):
    path = write(tmp_path, b"a O\n\ncaf\xe9 O\n")
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}, line 3: not valid UTF-8"):
        read_conll(path)


def test_utf8_bom_is_ignored(tmp_path):
    path = write(tmp_path, "\ufeffZ\u00fcrich B-LOC\n")
    assert read_conll(path)[0].tokens == ("Z\u00fcrich",)


def test_iter_conll_sentences_streams_untyped_tags(tmp_path):
    # The streaming reader does not validate tags (pretraining only needs tokens).
    path = write(tmp_path, "the DT\ncat NN\n\n-DOCSTART- x\nsat VBD")
    stream = iter_conll_sentences(path)
    assert iter(stream) is stream
    assert next(stream) == (("the", "cat"), ("DT", "NN"), 1)
    assert list(stream) == [(("sat",), ("VBD",), 5)]


def test_sentence_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="2 tokens and 1 tags"):
        Sentence(("a", "b"), ("O",), "x.conll", 1)


@pytest.mark.skipif(
    not os.path.isfile(CONLL_VALIDATION), reason="shared CoNLL-2003 data absent"
)
def test_conll2003_validation():
    sentences = read_conll(CONLL_VALIDATION, tag_scheme="iob2")
    assert len(sentences) == 3250
    assert sentences[0].tokens[:3] == ("CRICKET", "-", "LEICESTERSHIRE")
    assert sentences[0].line == 3
    assert {tag for s in sentences for tag in s.tags} == {
        "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC",
    }
    streamed = sum(1 for _ in iter_conll_sentences(CONLL_VALIDATION))
    assert streamed == 3250


def test_iter_sentence_lines_keeps_undecodable_lines_in_their_sentence(tmp_path):
    path = write(tmp_path, b"a X\n\xff X\nb X Y\n-DOCSTART- X\nc\n\n")
    sentences = list(iter_sentence_lines(path))
    assert [[line.number for line, _ in s] for s in sentences] == [[1, 2, 3], [5]]
    assert [columns for _, columns in sentences[0]] == [["a", "X"], None, ["b", "X", "Y"]]
    assert sentences[0][1].line.error is not None
    assert sentences[1][0].columns == ["c"]
