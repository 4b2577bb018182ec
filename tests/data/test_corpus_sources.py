"""Tests for kerasft.data.corpus_sources: specs, sources and their files."""

import pytest

from kerasft.data.corpus_sources import (
    CorpusSource,
    file_kind,
    parse_corpus_spec,
    resolve_files,
    to_corpus_sources,
)


# Spec parsing.


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("reviews.txt", CorpusSource("txt", "reviews.txt")),
        ("reviews.txt:0.7", CorpusSource("txt", "reviews.txt", weight=0.7)),
        (
            "data.jsonl?field=body:0.3",
            CorpusSource("jsonl", "data.jsonl", text_field="body", weight=0.3),
        ),
        ("t.TSV?field=x", CorpusSource("tsv", "t.TSV", text_field="x")),
        ("ner/a.conll:2", CorpusSource("conll", "ner/a.conll", weight=2)),
        ("corpus_dir/", CorpusSource("dir", "corpus_dir/")),
        ("data/*.txt:1e-1", CorpusSource("glob", "data/*.txt", weight=0.1)),
        ("data/doc?.txt", CorpusSource("glob", "data/doc?.txt")),
        (
            "data/**/*.jsonl?field=body",
            CorpusSource("glob", "data/**/*.jsonl", text_field="body"),
        ),
        (
            "tfds:imdb_reviews/plain_text?split=unsupervised&data_dir=/x:0.5",
            CorpusSource(
                "tfds",
                "imdb_reviews/plain_text",
                weight=0.5,
                split="unsupervised",
                data_dir="/x",
            ),
        ),
        ("tfds:mnist:3.0.1", CorpusSource("tfds", "mnist:3.0.1")),
    ],
)
def test_parse_corpus_spec(spec, expected):
    source = parse_corpus_spec(spec)
    assert source == expected
    assert parse_corpus_spec(source.to_spec()) == source


def test_parse_corpus_spec_defaults():
    source = parse_corpus_spec("tfds:imdb_reviews")
    assert (source.weight, source.split, source.text_field) == (
        1.0,
        "train",
        "text",
    )


@pytest.mark.parametrize(
    "spec, message",
    [
        ("a.txt:0", "positive finite"),
        ("a.txt:-1", "positive finite"),
        ("a.txt:nan", "positive finite"),
        ("a.txt:inf", "positive finite"),
        ("a.txt?field=x", "does not apply to .txt"),
        ("a.jsonl?colour=red", "Unknown option 'colour'"),
        ("a.jsonl?field=a&field=b", "given twice"),
        ("a.jsonl?field=", "empty value"),
        ("a.jsonl?data_dir=/x", "only applies to TFDS"),
        (":0.5", "needs a file"),
    ],
)
def test_parse_corpus_spec_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_corpus_spec(spec)


def test_parse_corpus_spec_rejects_non_string():
    with pytest.raises(TypeError, match="`spec` must be a string"):
        parse_corpus_spec(3)


def test_corpus_source_validates_weight_type():
    with pytest.raises(TypeError, match="`weight` must be a number"):
        CorpusSource("txt", "a.txt", weight="0.5")


def test_to_corpus_sources_accepts_one_or_many():
    source = CorpusSource("txt", "a.txt")
    assert to_corpus_sources(source) == [source]
    assert to_corpus_sources(["a.txt", source]) == [source, source]


@pytest.mark.parametrize(
    "sources, error, message",
    [
        ([], ValueError, "at least one corpus"),
        (3, TypeError, "must be a CorpusSource"),
        ([3], TypeError, "Each corpus must be"),
    ],
)
def test_to_corpus_sources_errors(sources, error, message):
    with pytest.raises(error, match=message):
        to_corpus_sources(sources)


def test_file_kind():
    assert [file_kind(p) for p in ("a.TXT", "d/b.jsonl", "c.md", "dir")] == [
        "txt",
        "jsonl",
        None,
        None,
    ]


def test_resolve_files_walks_directories_in_sorted_order(tmp_path, write):
    write(tmp_path / "d" / "b.txt", "from b\n")
    write(tmp_path / "d" / "a.jsonl", '{"text": "from a"}\n')
    write(tmp_path / "d" / "sub" / "c.conll", "from X\n")
    write(tmp_path / "d" / "README.md", "ignored\n")
    d = tmp_path / "d"
    assert resolve_files(parse_corpus_spec(str(d))) == [
        (str(d / "a.jsonl"), "jsonl"),
        (str(d / "b.txt"), "txt"),
        (str(d / "sub" / "c.conll"), "conll"),
    ]


def test_resolve_files_glob_keeps_supported_files(tmp_path, write):
    write(tmp_path / "g" / "2.txt", "two\n")
    write(tmp_path / "g" / "1.md", "one\n")
    with pytest.raises(ValueError, match="no supported files"):
        resolve_files(parse_corpus_spec(str(tmp_path / "g" / "*.md")))
    assert resolve_files(parse_corpus_spec(str(tmp_path / "g" / "*"))) == [
        (str(tmp_path / "g" / "2.txt"), "txt")
    ]


def test_resolve_files_errors(tmp_path, write):
    with pytest.raises(ValueError, match="has no files"):
        resolve_files(parse_corpus_spec("tfds:imdb_reviews"))
    not_a_dir = write(tmp_path / "notes.md", "x\n")
    with pytest.raises(ValueError, match="neither a directory"):
        resolve_files(CorpusSource("dir", not_a_dir))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="contains no supported files"):
        resolve_files(CorpusSource("dir", str(tmp_path / "empty")))
