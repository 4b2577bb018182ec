"""Tests for kerasft.data.corpus."""

import json

import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from absl import logging

from kerasft.data import corpus
from kerasft.data.corpus import CorpusSource, parse_corpus_spec


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


@pytest.fixture
def warnings_logged(monkeypatch):
    messages = []
    monkeypatch.setattr(
        logging, "warning", lambda msg, *args: messages.append(msg % args)
    )
    return messages


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return str(path)


def read_all(source):
    dataset = corpus.text_dataset(source)
    return [t.decode("utf-8") for t in dataset.as_numpy_iterator()]


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


# Formats.


def test_txt_counts_empty_and_undecodable_lines(tmp_path, warnings_logged):
    path = write(
        tmp_path / "c.txt",
        b"first doc\n\n   \nbad \xff\xfe bytes\r\n  second doc \r\nlast",
    )
    stats = corpus.CorpusStats()
    dataset = corpus.text_dataset(path, stats=stats)
    texts = [t.decode() for t in dataset.as_numpy_iterator()]
    assert texts == ["first doc", "second doc", "last"]
    counts = stats.files[path]
    assert (counts.documents, counts.empty_lines, counts.undecodable_lines) == (
        3,
        2,
        1,
    )
    assert any(f"{path}, line 4" in m and "UTF-8" in m for m in warnings_logged)


def test_jsonl_custom_field_skips_bad_records(tmp_path, warnings_logged):
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
    stats = corpus.CorpusStats()
    texts = [
        t.decode()
        for t in corpus.text_dataset(f"{path}?field=body", stats=stats)
        .as_numpy_iterator()
    ]
    assert texts == ["alpha", "beta \u00e9"]
    assert stats.skipped_records == 3
    assert stats.empty_lines == 2
    assert any(f"{path}, line 2" in m and "JSON" in m for m in warnings_logged)
    assert any(
        f"{path}, line 3" in m and "'body'" in m for m in warnings_logged
    )


def test_jsonl_default_field_is_text(tmp_path):
    path = write(tmp_path / "c.jsonl", '{"text": "x y", "label": "positive"}\n')
    assert read_all(path) == ["x y"]


def test_csv_header_and_quoted_fields(tmp_path):
    path = write(
        tmp_path / "c.csv",
        'id,review,label\n'
        '1,"good, really good",pos\n'
        '2,"said ""meh""\nover two lines",neg\n'
        '3\n'
        '4,plain,pos\n',
    )
    stats = corpus.CorpusStats()
    texts = list(corpus.iter_texts(f"{path}?field=review", stats))
    assert texts == ["good, really good", 'said "meh"\nover two lines', "plain"]
    assert stats.skipped_records == 1


def test_csv_missing_column_names_file_and_line(tmp_path):
    path = write(tmp_path / "c.csv", "id,body\n1,x\n")
    with pytest.raises(ValueError, match=r"c\.csv, line 1.*no column 'text'"):
        corpus.text_dataset(path)


def test_tsv(tmp_path):
    path = write(
        tmp_path / "c.tsv",
        'text\tlabel\nfirst, with comma\t1\n"tab\tinside"\t0\n',
    )
    assert read_all(path) == ["first, with comma", "tab\tinside"]


def test_conll_joins_sentence_tokens(tmp_path):
    path = write(
        tmp_path / "c.conll",
        "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n"
        # No final newline, like the CoNLL-2003 files.
        "\n\nPeter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER",
    )
    assert read_all(path) == ["EU rejects", "Peter Blackburn"]


def test_conll_drops_sentence_with_undecodable_line(tmp_path):
    path = write(tmp_path / "c.conll", b"a X\n\xff X\n\nb X\n")
    stats = corpus.CorpusStats()
    assert list(corpus.iter_texts(path, stats)) == ["b"]
    assert (stats.undecodable_lines, stats.skipped_records) == (1, 1)


def test_directory_reads_supported_files_sorted(tmp_path):
    write(tmp_path / "d" / "b.txt", "from b\n")
    write(tmp_path / "d" / "a.jsonl", '{"text": "from a"}\n')
    write(tmp_path / "d" / "sub" / "c.conll", "from X\nc X\n")
    write(tmp_path / "d" / "README.md", "ignored\n")
    assert read_all(str(tmp_path / "d")) == ["from a", "from b", "from c"]


def test_glob(tmp_path):
    write(tmp_path / "g" / "2.txt", "two\n")
    write(tmp_path / "g" / "1.txt", "one\n")
    write(tmp_path / "g" / "x.jsonl", '{"text": "not matched"}\n')
    assert read_all(str(tmp_path / "g" / "*.txt")) == ["one", "two"]


def test_tfds_offline_by_name(tfds_dir):
    spec = (
        "tfds:tiny_corpus_for_kerasft_test?split=unsupervised&field=body"
        f"&data_dir={tfds_dir}"
    )
    stats = corpus.CorpusStats()
    dataset = corpus.text_dataset(spec, stats=stats)
    assert dataset.element_spec == tf.TensorSpec((), tf.string)
    texts = sorted(t.decode() for t in dataset.as_numpy_iterator())
    assert texts == ["free a", "free b"]
    assert stats.empty_lines == 1


def test_tfds_errors(tfds_dir, tmp_path):
    name = "tiny_corpus_for_kerasft_test"
    with pytest.raises(ValueError, match="no feature 'text'"):
        corpus.text_dataset(f"tfds:{name}?data_dir={tfds_dir}")
    with pytest.raises(ValueError, match="Available splits"):
        corpus.text_dataset(
            f"tfds:{name}?field=body&split=nope&data_dir={tfds_dir}"
        )
    with pytest.raises(ValueError, match="not prepared"):
        corpus.text_dataset(f"tfds:{name}?field=body&data_dir={tmp_path}")


# Errors and counting.


def test_no_text_is_an_error_naming_the_source(tmp_path):
    path = write(tmp_path / "empty.txt", "\n  \n\n")
    with pytest.raises(ValueError, match=r"empty\.txt.*yields no text"):
        corpus.text_dataset(path)
    with pytest.raises(ValueError, match=r"empty\.txt.*yields no text"):
        corpus.count_corpus(path)


def test_missing_file_and_empty_glob(tmp_path):
    with pytest.raises(ValueError, match=r"not found: .*missing\.txt"):
        corpus.text_dataset(str(tmp_path / "missing.txt"))
    with pytest.raises(ValueError, match=r"nothing-\*\.jsonl.*matches no"):
        corpus.text_dataset(str(tmp_path / "nothing-*.jsonl"))
    with pytest.raises(ValueError, match="directory not found"):
        corpus.text_dataset(str(tmp_path / "no_dir"))


def test_count_corpus_over_several_sources(tmp_path):
    a = write(tmp_path / "a.txt", "x\n\ny\n")
    b = write(tmp_path / "b.jsonl", '{"text": "z"}\nbroken\n')
    stats = corpus.count_corpus([a, b])
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


# Labelled datasets.


@pytest.fixture
def labelled_dir(tmp_path):
    for split in ("train", "validation", "test"):
        write(
            tmp_path / "sst" / f"{split}.jsonl",
            json.dumps({"text": f"{split} text", "label": "positive"}) + "\n",
        )
    return str(tmp_path / "sst")


def test_labelled_text_sources_reads_text_only(labelled_dir):
    sources = corpus.labelled_text_sources(
        labelled_dir, ("train", "validation")
    )
    assert [s.split for s in sources] == ["train", "validation"]
    assert read_all(sources) == ["train text", "validation text"]
    provenance = corpus.corpus_provenance(sources)
    assert provenance["splits"] == ["train", "validation"]
    assert provenance["transductive"] is False
    assert [parse_corpus_spec(s) for s in provenance["corpora"]] == sources


def test_labelled_text_sources_test_split_needs_opt_in(labelled_dir):
    with pytest.raises(ValueError, match="transductive.*allow_test=True"):
        corpus.labelled_text_sources(labelled_dir, ("train", "test"))


def test_labelled_text_sources_test_split_opt_in_warns(
    labelled_dir, warnings_logged
):
    sources = corpus.labelled_text_sources(
        labelled_dir, ("train", "test"), allow_test=True
    )
    assert [s.split for s in sources] == ["train", "test"]
    assert any("transductive" in m for m in warnings_logged)
    assert corpus.corpus_provenance(sources)["transductive"] is True


def test_labelled_text_sources_conll_and_missing_split(tmp_path):
    write(tmp_path / "ner" / "train.conll", "EU X\nrejects X\n")
    (source,) = corpus.labelled_text_sources(str(tmp_path / "ner"))
    assert source.kind == "conll"
    with pytest.raises(ValueError, match="split 'validation'.*found none"):
        corpus.labelled_text_sources(str(tmp_path / "ner"), ["validation"])


def test_corpus_provenance_flags_tfds_test_split():
    provenance = corpus.corpus_provenance(
        ["tfds:imdb_reviews?split=train[:10%]+test", "a.txt"]
    )
    assert provenance["splits"] == ["test", "train"]
    assert provenance["transductive"] is True
