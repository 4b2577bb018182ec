"""Tests for kerasft.data.corpus_stream: corpora as iterators and datasets."""

import pytest
import tensorflow as tf

from kerasft.data.corpus_stats import CorpusStats
from kerasft.data.corpus_stream import (
    check_has_text,
    count_corpus,
    iter_texts,
    text_dataset,
)


# Errors and counting.


def test_no_text_is_an_error_naming_the_source(tmp_path, write):
    path = write(tmp_path / "empty.txt", "\n  \n\n")
    with pytest.raises(ValueError, match=r"empty\.txt.*yields no text"):
        text_dataset(path)
    with pytest.raises(ValueError, match=r"empty\.txt.*yields no text"):
        count_corpus(path)


def test_missing_file_and_empty_glob(tmp_path):
    with pytest.raises(ValueError, match=r"not found: .*missing\.txt"):
        text_dataset(str(tmp_path / "missing.txt"))
    with pytest.raises(ValueError, match=r"nothing-\*\.jsonl.*matches no"):
        text_dataset(str(tmp_path / "nothing-*.jsonl"))
    with pytest.raises(ValueError, match="directory not found"):
        text_dataset(str(tmp_path / "no_dir"))


def test_count_corpus_over_several_sources(tmp_path, write):
    a = write(tmp_path / "a.txt", "x\n\ny\n")
    b = write(tmp_path / "b.jsonl", '{"text": "z"}\nbroken\n')
    stats = count_corpus([a, b])
    assert stats.to_dict() == {
        "documents": 3,
        "empty_lines": 1,
        "undecodable_lines": 0,
        "skipped_records": 1,
        "files": {
            a: {
                "documents": 2,
                "empty_lines": 1,
                "undecodable_lines": 0,
                "skipped_records": 0,
            },
            b: {
                "documents": 1,
                "empty_lines": 0,
                "undecodable_lines": 0,
                "skipped_records": 1,
            },
        },
    }



def test_text_dataset_streams_in_order_across_chunks(tmp_path, write):
    # More documents than one generator chunk (256), over two corpora.
    a = write(tmp_path / "a.txt", "".join(f"a{i}\n" for i in range(300)))
    b = write(tmp_path / "b.txt", "b0\n")
    stats = CorpusStats()
    dataset = text_dataset([a, b], stats=stats)
    assert dataset.element_spec == tf.TensorSpec((), tf.string)
    texts = [t.decode() for t in dataset.as_numpy_iterator()]
    assert texts == [f"a{i}" for i in range(300)] + ["b0"]
    assert stats.documents == 301


def test_iter_texts_resolves_lazily_and_counts_into_stats(tmp_path, write):
    stream = iter_texts(str(tmp_path / "later.txt"))
    path = write(tmp_path / "later.txt", "x\n\ny\n")
    stats = CorpusStats()
    assert list(stream) == ["x", "y"]
    assert list(iter_texts(path, stats)) == ["x", "y"]
    assert (stats.documents, stats.empty_lines) == (2, 1)


def test_check_has_text(tmp_path, write):
    check_has_text(write(tmp_path / "a.txt", "x\n"))
    message = r"bad\.jsonl' yields no text.*1 skipped records"
    with pytest.raises(ValueError, match=message):
        check_has_text(write(tmp_path / "bad.jsonl", "{\n"))
