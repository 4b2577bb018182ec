"""Tests for kerasft.data.corpus_readers: every format, read leniently."""

import json

import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from kerasft.data.corpus_stats import CorpusStats
from kerasft.data.corpus_stream import iter_texts, text_dataset


class TinyCorpusForKerasftTest(tfds.core.GeneratorBasedBuilder):
    """A local TFDS builder: prepared from in-memory examples, no network."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict(
                {"body": tfds.features.Text(), "label": tf.int64}
            ),
        )

    def _split_generators(self, dl_manager):
        del dl_manager
        return {
            "train": self._generate_examples(["train one", "train two"]),
            "unsupervised": self._generate_examples(["free a", "", "free b"]),
        }

    def _generate_examples(self, texts):
        for index, text in enumerate(texts):
            yield index, {"body": text, "label": index}


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tfds")
    TinyCorpusForKerasftTest(data_dir=str(data_dir)).download_and_prepare()
    return str(data_dir)


def read_all(source):
    dataset = text_dataset(source)
    return [t.decode("utf-8") for t in dataset.as_numpy_iterator()]


# Formats.


def test_txt_counts_empty_and_undecodable_lines(tmp_path, write, warnings_logged):
    path = write(
        tmp_path / "c.txt",
        b"first doc\n\n   \nbad \xff\xfe bytes\r\n  second doc \r\nlast",
    )
    stats = CorpusStats()
    dataset = text_dataset(path, stats=stats)
    texts = [t.decode() for t in dataset.as_numpy_iterator()]
    assert texts == ["first doc", "second doc", "last"]
    counts = stats.files[path]
    assert (counts.documents, counts.empty_lines, counts.undecodable_lines) == (
        3,
        2,
        1,
    )
    assert any(f"{path}, line 4" in m and "UTF-8" in m for m in warnings_logged)


def test_jsonl_custom_field_skips_bad_records(tmp_path, write, warnings_logged):
    lines = [
        json.dumps({"body": "alpha", "text": "not this"}),
        "{not json",
        json.dumps({"text": "no body field"}),
        "",
        json.dumps({"body": 7}),
        json.dumps({"body": "  "}),
        json.dumps({"body": "beta \u00e9"}),
    ]
    path = write(tmp_path / "c.jsonl", "\n".join(lines) + "\n")
    stats = CorpusStats()
    texts = [
        t.decode()
        for t in text_dataset(f"{path}?field=body", stats=stats)
        .as_numpy_iterator()
    ]
    assert texts == ["alpha", "beta \u00e9"]
    assert stats.skipped_records == 3
    assert stats.empty_lines == 2
    assert any(f"{path}, line 2" in m and "JSON" in m for m in warnings_logged)
    assert any(
        f"{path}, line 3" in m and "'body'" in m for m in warnings_logged
    )


def test_jsonl_default_field_is_text(tmp_path, write):
    path = write(tmp_path / "c.jsonl", '{"text": "x y", "label": "positive"}\n')
    assert read_all(path) == ["x y"]


def test_csv_header_and_quoted_fields(tmp_path, write):
    path = write(
        tmp_path / "c.csv",
        'id,review,label\n'
        '1,"good, really good",pos\n'
        '2,"said ""meh""\nover two lines",neg\n'
        '3\n'
        '4,plain,pos\n',
    )
    stats = CorpusStats()
    texts = list(iter_texts(f"{path}?field=review", stats))
    assert texts == ["good, really good", 'said "meh"\nover two lines', "plain"]
    assert stats.skipped_records == 1


def test_csv_missing_column_names_file_and_line(tmp_path, write):
    path = write(tmp_path / "c.csv", "id,body\n1,x\n")
    with pytest.raises(ValueError, match=r"c\.csv, line 1.*no column 'text'"):
        text_dataset(path)


def test_tsv(tmp_path, write):
    path = write(
        tmp_path / "c.tsv",
        'text\tlabel\nfirst, with comma\t1\n"tab\tinside"\t0\n',
    )
    assert read_all(path) == ["first, with comma", "tab\tinside"]


def test_conll_joins_sentence_tokens(tmp_path, write):
    path = write(
        tmp_path / "c.conll",
        "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n"
        # No final newline, like the CoNLL-2003 files.
        "\n\nPeter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER",
    )
    assert read_all(path) == ["EU rejects", "Peter Blackburn"]


def test_conll_drops_sentence_with_undecodable_line(tmp_path, write):
    path = write(tmp_path / "c.conll", b"a X\n\xff X\n\nb X\n")
    stats = CorpusStats()
    assert list(iter_texts(path, stats)) == ["b"]
    assert (stats.undecodable_lines, stats.skipped_records) == (1, 1)


def test_directory_reads_supported_files_sorted(tmp_path, write):
    write(tmp_path / "d" / "b.txt", "from b\n")
    write(tmp_path / "d" / "a.jsonl", '{"text": "from a"}\n')
    write(tmp_path / "d" / "sub" / "c.conll", "from X\nc X\n")
    write(tmp_path / "d" / "README.md", "ignored\n")
    assert read_all(str(tmp_path / "d")) == ["from a", "from b", "from c"]


def test_glob(tmp_path, write):
    write(tmp_path / "g" / "2.txt", "two\n")
    write(tmp_path / "g" / "1.txt", "one\n")
    write(tmp_path / "g" / "x.jsonl", '{"text": "not matched"}\n')
    assert read_all(str(tmp_path / "g" / "*.txt")) == ["one", "two"]



def test_conll_bom_and_docstart_end_sentences(tmp_path, write):
    path = write(
        tmp_path / "c.conll",
        "\ufeffEU X\nrejects X\n-DOCSTART- X\nPeter X\n\n\n",
    )
    stats = CorpusStats()
    assert list(iter_texts(path, stats)) == ["EU rejects", "Peter"]
    assert stats.files[path].documents == 2


def test_conll_sentence_warning_names_its_first_line(tmp_path, write, warnings_logged):
    path = write(tmp_path / "c.conll", b"a X\n\nb X\n\xff X\n")
    assert list(iter_texts(path)) == ["a"]
    assert any(f"{path}, line 4: invalid UTF-8" in m for m in warnings_logged)
    assert any(
        f"{path}, line 3: sentence has invalid UTF-8" in m for m in warnings_logged
    )


def test_jsonl_undecodable_line_and_bom(tmp_path, write, warnings_logged):
    path = write(
        tmp_path / "c.jsonl", b'\xef\xbb\xbf{"text": "a"}\n{"text": "\xff"}\n'
    )
    stats = CorpusStats()
    assert list(iter_texts(path, stats)) == ["a"]
    assert stats.undecodable_lines == 1
    assert any(f"{path}, line 2: invalid UTF-8" in m for m in warnings_logged)


def test_csv_bom_and_undecodable_record(tmp_path, write):
    path = write(tmp_path / "c.csv", b"\xef\xbb\xbftext\nok\nbad \xff\n")
    stats = CorpusStats()
    assert list(iter_texts(path, stats)) == ["ok"]
    assert stats.undecodable_lines == 1


def test_warnings_stop_after_five_problems_per_file(tmp_path, write, warnings_logged):
    path = write(tmp_path / "c.jsonl", "broken\n" * 8 + '{"text": "ok"}\n')
    stats = CorpusStats()
    assert list(iter_texts(path, stats)) == ["ok"]
    assert stats.skipped_records == 8
    assert sum("not valid JSON" in m for m in warnings_logged) == 5
    assert any("further problems in this file" in m for m in warnings_logged)


def test_tfds_offline_by_name(tfds_dir):
    spec = (
        "tfds:tiny_corpus_for_kerasft_test?split=unsupervised&field=body"
        f"&data_dir={tfds_dir}"
    )
    stats = CorpusStats()
    dataset = text_dataset(spec, stats=stats)
    assert dataset.element_spec == tf.TensorSpec((), tf.string)
    texts = sorted(t.decode() for t in dataset.as_numpy_iterator())
    assert texts == ["free a", "free b"]
    assert stats.empty_lines == 1


def test_tfds_errors(tfds_dir, tmp_path):
    name = "tiny_corpus_for_kerasft_test"
    with pytest.raises(ValueError, match="no feature 'text'"):
        text_dataset(f"tfds:{name}?data_dir={tfds_dir}")
    with pytest.raises(ValueError, match="Available splits"):
        text_dataset(
            f"tfds:{name}?field=body&split=nope&data_dir={tfds_dir}"
        )
    with pytest.raises(ValueError, match="not prepared"):
        text_dataset(f"tfds:{name}?field=body&data_dir={tmp_path}")

