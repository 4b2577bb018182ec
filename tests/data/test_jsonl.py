"""Labelled JSONL reading: every bad input names the file and the line."""

import pytest

from kerasft.data.jsonl import iter_json_lines, read_labelled_jsonl


def test_reads_text_and_label(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "good", "label": "pos"}\n\n{"text": "bad", "label": "neg"}\n')
    rows = read_labelled_jsonl(path)
    assert [(r.text, r.label, r.line) for r in rows] == [("good", "pos", 1), ("bad", "neg", 3)]


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match=r"Data file not found: '.*nope.jsonl'"):
        read_labelled_jsonl(tmp_path / "nope.jsonl")


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\n", r"Data file is empty: '.*f.jsonl'"),
        (
            b'{"text": "ok", "label": "pos"}\n{"text": "oops", \n',
            r"f.jsonl, line 2: not valid JSON",
        ),
        (b'{"label": "pos"}\n', r"f.jsonl, line 1: missing the 'text' field"),
        (b'{"text": "x"}\n', r"f.jsonl, line 1: missing the 'label' field"),
        (b'{"text": "x", "label": 3}\n', r"line 1: 'label' must be a string"),
        (
            b'{"text": "ok", "label": "pos"}\n{"text": "\xff", "label": "pos"}\n',
            r"line 2: not valid UTF-8",
        ),
        (b"[1]\n", r"line 1: expected a JSON object, received list"),
    ],
)
def test_bad_input_names_file_and_line(tmp_path, data, message):
    path = tmp_path / "f.jsonl"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=message):
        read_labelled_jsonl(path)


def test_utf8_bom_is_ignored(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"text": "x", "label": "pos"}\n')
    assert [r.text for r in read_labelled_jsonl(path)] == ["x"]


def test_iter_json_lines_reports_instead_of_raising(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_bytes(b'{"a": 1}\n\n{oops\n\xff\n[2]\n')
    records = list(iter_json_lines(path))
    assert [r.line.number for r in records] == [1, 2, 3, 4, 5]
    assert [r.value for r in records] == [{"a": 1}, None, None, None, [2]]
    assert records[1].line.is_blank and records[1].error is None
    assert records[2].error.msg.startswith("Expecting property name")
    assert records[3].line.error is not None and records[3].error is None
