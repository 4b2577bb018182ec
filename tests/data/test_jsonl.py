"""Labelled JSONL reading: every bad input names the file and the line."""

import pytest

from kerasft.data.jsonl import read_labelled_jsonl


def test_reads_text_and_label(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "good", "label": "pos"}\n\n{"text": "bad", "label": "neg"}\n')
    rows = read_labelled_jsonl(path)
    assert [(r.text, r.label, r.line) for r in rows] == [("good", "pos", 1), ("bad", "neg", 3)]


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match=r"Data file not found: '.*nope.jsonl'"):
        read_labelled_jsonl(tmp_path / "nope.jsonl")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n")
    with pytest.raises(ValueError, match=r"Data file is empty: '.*empty.jsonl'"):
        read_labelled_jsonl(path)


def test_invalid_json_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok", "label": "pos"}\n{"text": "oops", \n')
    with pytest.raises(ValueError, match=r"bad.jsonl, line 2: not valid JSON"):
        read_labelled_jsonl(path)


@pytest.mark.parametrize("row, field", [('{"label": "pos"}', "text"), ('{"text": "x"}', "label")])
def test_missing_field(tmp_path, row, field):
    path = tmp_path / "f.jsonl"
    path.write_text(row + "\n")
    with pytest.raises(ValueError, match=rf"f.jsonl, line 1: missing the '{field}' field"):
        read_labelled_jsonl(path)


def test_non_string_label(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_text('{"text": "x", "label": 3}\n')
    with pytest.raises(ValueError, match=r"line 1: 'label' must be a string"):
        read_labelled_jsonl(path)


def test_invalid_utf8(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_bytes(b'{"text": "ok", "label": "pos"}\n{"text": "\xff", "label": "pos"}\n')
    with pytest.raises(ValueError, match=r"line 2: not valid UTF-8"):
        read_labelled_jsonl(path)
