"""Subsets of labelled files: the records at given indices, as the head reads them."""

import pytest

from kerasft.data.subsets import write_subset
from kerasft.registry import get_head

CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- -X- O

BRUSSELS NNP B-NP B-LOC
1996-08-22 CD I-NP O
"""


def test_jsonl_subset_reads_back_as_those_examples(tmp_path):
    # A BOM, CRLF endings and a blank line: records are non-blank lines.
    path = tmp_path / "train.jsonl"
    path.write_bytes(
        b'\xef\xbb\xbf{"text": "a", "label": "pos"}\r\n\r\n'
        b'{"text": "b", "label": "neg", "extra": 1}\r\n{"text": "c", "label": "pos"}\n'
    )
    head = get_head("sentiment")
    out = tmp_path / "sub" / "train-labels-0.5.jsonl"
    assert write_subset(str(path), [2, 1], str(out)) == 2
    examples = head.read_examples(str(path))
    subset = head.read_examples(str(out))
    assert [(e.text, e.label) for e in subset] == [
        (e.text, e.label) for e in (examples[1], examples[2])
    ]
    assert '"extra": 1' in out.read_text()  # the original line, every field kept


def test_conll_subset_keeps_sentences_whole(tmp_path):
    path = tmp_path / "train.conll"
    path.write_text(CONLL)
    head = get_head("ner")
    examples = head.read_examples(str(path))
    assert len(examples) == 3
    out = tmp_path / "train-labels-0.3.conll"
    write_subset(str(path), [0, 2], str(out))
    subset = head.read_examples(str(out))
    assert [(e.tokens, e.tags) for e in subset] == [
        (e.tokens, e.tags) for e in (examples[0], examples[2])
    ]


def test_out_of_range_indices_write_nothing(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"text": "a", "label": "pos"}\n')
    out = tmp_path / "sub.jsonl"
    with pytest.raises(ValueError, match="has 1 records. Received: indices up to 3"):
        write_subset(str(path), [0, 3], str(out))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.jsonl"]  # no temporary


def test_other_formats_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"\.jsonl or \.conll"):
        write_subset(str(tmp_path / "train.csv"), [0], str(tmp_path / "o.csv"))
