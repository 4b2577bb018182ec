"""Tests for kerasft.data.labelled_corpus: labelled text and provenance."""

import json

import pytest

from kerasft.data.corpus_sources import parse_corpus_spec
from kerasft.data.corpus_stream import text_dataset
from kerasft.data.labelled_corpus import corpus_provenance, labelled_text_sources


def read_all(sources):
    return [t.decode("utf-8") for t in text_dataset(sources).as_numpy_iterator()]


@pytest.fixture
def labelled_dir(tmp_path, write):
    for split in ("train", "validation", "test"):
        write(
            tmp_path / "sst" / f"{split}.jsonl",
            json.dumps({"text": f"{split} text", "label": "positive"}) + "\n",
        )
    return str(tmp_path / "sst")


def test_labelled_text_sources_reads_text_only(labelled_dir):
    sources = labelled_text_sources(
        labelled_dir, ("train", "validation")
    )
    assert [s.split for s in sources] == ["train", "validation"]
    assert read_all(sources) == ["train text", "validation text"]
    provenance = corpus_provenance(sources)
    assert provenance["splits"] == ["train", "validation"]
    assert provenance["transductive"] is False
    assert [parse_corpus_spec(s) for s in provenance["corpora"]] == sources


def test_labelled_text_sources_test_split_needs_opt_in(labelled_dir):
    with pytest.raises(ValueError, match="transductive.*allow_test=True"):
        labelled_text_sources(labelled_dir, ("train", "test"))


def test_labelled_text_sources_test_split_opt_in_warns(
    labelled_dir, warnings_logged
):
    sources = labelled_text_sources(
        labelled_dir, ("train", "test"), allow_test=True
    )
    assert [s.split for s in sources] == ["train", "test"]
    assert any("transductive" in m for m in warnings_logged)
    assert corpus_provenance(sources)["transductive"] is True


def test_labelled_text_sources_conll_and_missing_split(tmp_path, write):
    write(tmp_path / "ner" / "train.conll", "EU X\nrejects X\n")
    (source,) = labelled_text_sources(str(tmp_path / "ner"))
    assert source.kind == "conll"
    with pytest.raises(ValueError, match="split 'validation'.*found none"):
        labelled_text_sources(str(tmp_path / "ner"), ["validation"])


def test_corpus_provenance_flags_tfds_test_split():
    provenance = corpus_provenance(
        ["tfds:imdb_reviews?split=train[:10%]+test", "a.txt"]
    )
    assert provenance["splits"] == ["test", "train"]
    assert provenance["transductive"] is True


@pytest.mark.parametrize(
    "splits, message",
    [((), "non-empty sequence"), (("train", "train"), "duplicates")],
)
def test_labelled_text_sources_checks_splits(labelled_dir, splits, message):
    with pytest.raises(ValueError, match=message):
        labelled_text_sources(labelled_dir, splits)


def test_labelled_text_sources_needs_a_folder(tmp_path):
    with pytest.raises(ValueError, match="not a directory"):
        labelled_text_sources(str(tmp_path / "nope"))
