"""Every reader takes a UTF-8 BOM and Windows (CRLF) line endings as it takes plain files."""

import pytest

from kerasft.data.conll import read_conll
from kerasft.data.corpus_readers import read_file
from kerasft.data.corpus_stats import FileCounts
from kerasft.data.jsonl import read_labelled_jsonl

BOM = "\ufeff"

# (file suffix, its text with LF endings, how to read it)
CORPUS_FILES = {
    "txt": "first document\nsecond document\n",
    "jsonl": '{"text": "first document"}\n{"text": "second document"}\n',
    # The text column first: a BOM left in the header would hide its name.
    "csv": "text,id\nfirst document,1\n\"second, quoted\",2\n",
    "tsv": "text\tid\nfirst document\t1\nsecond document\t2\n",
    "conll": "EU B-ORG\nrejects O\n\nPeter B-PER\nBlackburn I-PER\n",
}


def _windows(text: str) -> str:
    return BOM + text.replace("\n", "\r\n")


def _write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return str(path)


@pytest.mark.parametrize("kind", sorted(CORPUS_FILES))
def test_corpus_files(tmp_path, kind):
    text = CORPUS_FILES[kind]
    plain = list(read_file(_write(tmp_path, f"a.{kind}", text), kind, "text", FileCounts()))
    counts = FileCounts()
    windows = list(read_file(_write(tmp_path, f"b.{kind}", _windows(text)), kind, "text", counts))
    assert windows == plain and len(plain) == 2
    assert not any(BOM in t or "\r" in t for t in windows)
    assert (counts.skipped_records, counts.undecodable_lines) == (0, 0)


def test_labelled_jsonl(tmp_path):
    text = '{"text": "a good film", "label": "positive"}\n{"text": "dull", "label": "negative"}\n'
    plain = read_labelled_jsonl(_write(tmp_path, "a.jsonl", text))
    windows = read_labelled_jsonl(_write(tmp_path, "b.jsonl", _windows(text)))
    assert [(e.text, e.label) for e in windows] == [(e.text, e.label) for e in plain]
    assert [e.label for e in windows] == ["positive", "negative"]


def test_tagged_conll(tmp_path):
    text = "-DOCSTART- -X- O\n\nEU NNP B-ORG\nrejects VBZ O\n\nPeter NNP B-PER\nBlackburn NNP I-PER\n"
    plain = read_conll(_write(tmp_path, "a.conll", text))
    windows = read_conll(_write(tmp_path, "b.conll", _windows(text)))
    assert [(s.tokens, s.tags) for s in windows] == [(s.tokens, s.tags) for s in plain]
    assert windows[1].tags == ("B-PER", "I-PER")
