"""Every reader, fed bad bytes, ends in data or a specific error, never a traceback.

Property-based (`hypothesis`, fixed seed, bounded examples, no example
database written into the repository) over the public readers the binaries
use: `read_labelled_jsonl` (classification, multi-label, style heads),
`read_conll` (NER head), `read_file` and `iter_texts` (pretraining corpora:
txt, JSONL, CSV, TSV, CoNLL files, directories and globs). Inputs mix random
bytes, invalid UTF-8, BOMs, CRLF and lone CR, NUL, mixed separators, missing
final newlines and format fragments that reach deep into each parser.

"A specific error" is a `ValueError` (not a bare `UnicodeError` or
`JSONDecodeError`) whose message names the file and a line inside it, or,
for the few whole-file problems (an empty file, no sentences, no text), the
file or corpus. Memory: reading a 10 MB line peaks below the line plus
`MEMORY_FACTOR` copies of its decoded text (1, 2 or 4 bytes a character in
Python, so 5x to 17x the file size), and streaming a corpus holds no more
than `STREAM_BOUND` whatever its size.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import tempfile
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from kerasft.data.conll import read_conll
from kerasft.data.corpus_readers import read_file
from kerasft.data.corpus_stats import CorpusStats, FileCounts
from kerasft.data.corpus_stream import check_has_text, iter_texts, text_dataset
from kerasft.data.jsonl import read_labelled_jsonl
from kerasft.data.tag_schemes import validate_tags

# Hypothesis's caches (its example database is off) go to the temp dir,
# never into the repository.
set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "kerasft-hypothesis"))

BOM = b"\xef\xbb\xbf"
MEMORY_FACTOR = 4  # decoded copies of a 10 MB line a reader may hold at once
STREAM_BOUND = 2**17  # peak bytes while streaming 512 KB of short lines
TEN_MB = 10 * 2**20
HANG_SECONDS = 60  # a reader still busy after this long is a hang

FUZZ = settings(
    derandomize=True,  # a fixed seed: the same examples on every run
    database=None,  # nothing written into the repository
    deadline=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Bytes that exercise line splitting, decoding and every format's parser.
FRAGMENTS = [
    BOM, b"\r\n", b"\r", b"\n", b"\n\n", b"\x00", b"\xff", b"\xfe\xff",
    b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf",
    b"\xe2\x80\xa8", b"\xc2\x85", b"\x0b", b"\x0c", b"\x1e",
    b",", b"\t", b" ", b"  ", b'"', b'""', b"\\", b"'",
    b'{"text": ', b'"label": ', b'"labels": ', b"{", b"}", b"[", b"]", b":",
    b'"\\ud800"', b'"\\udfff\\ud800"', b'"\\ud83d\\ude00"', b'"\\u0000"',
    b"1" * 5000, b"[" * 50_000, b"null", b"true", b"1e999", b"NaN", b"-0",
    b"text", b"label", b"labels", b"-DOCSTART-", b"B-PER", b"I-PER",
    b"E-LOC", b"S-LOC", b"O", b"B-", b"-", b"X-Y", b"I-LOC-SUB",
]
junk = st.lists(
    st.one_of(
        st.sampled_from(FRAGMENTS),
        st.text(max_size=12).map(lambda s: s.encode("utf-8")),
        st.binary(max_size=6),
    ),
    max_size=40,
).map(b"".join)
line_end = st.sampled_from([b"\n", b"\r\n", b"\r", b"\n\n", b""])
# Any Unicode text (all planes, control characters); lone surrogates only
# arrive through JSON escapes and invalid UTF-8 bytes.
any_text = st.text(max_size=20)


def _lines(line: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """A file of `line`s and junk, with random line ends and maybe a BOM."""
    return st.tuples(
        st.booleans(),
        st.lists(st.tuples(st.one_of(line, line, junk), line_end), max_size=12),
    ).map(lambda t: (BOM if t[0] else b"") + b"".join(a + b for a, b in t[1]))


# JSON strings may hold lone surrogates: `\\ud800` escapes, or (dumped
# without escapes) the invalid UTF-8 bytes they encode to.
# Half of them hold one lone surrogate (none arrives in pairs).
json_text = st.tuples(
    st.text(max_size=8),
    st.sampled_from([None, None, None, "\ud800", "\udbff", "\udc80"]),
    st.integers(0, 8),
).map(lambda t: t[0] if t[1] is None else t[0][: t[2]] + t[1] + t[0][t[2]:])
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | json_text,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(json_text, inner, max_size=3),
    max_leaves=6,
)
dumped = st.tuples(json_value, st.booleans()).map(
    lambda t: json.dumps(t[0], ensure_ascii=t[1]).encode("utf-8", "surrogatepass")
)
# Valid JSON past Python's parser limits, and values of the wrong type.
RAW_JSON = [b"1" * 5000, b"[" * 50_000 + b"]" * 50_000, b'"\\ud800"', b'"\\udc80 x"',
            b'["a", "\\udfff"]', b'["a", 1]', b"NaN", b"1e999", b"null", b"{}", b'"ok"']
json_field = st.one_of(st.sampled_from(RAW_JSON), dumped)
json_object = st.dictionaries(
    st.sampled_from(["text", "label", "labels", "other"]), json_field, max_size=4
).map(lambda d: b"{" + b", ".join(b'"%s": %s' % (k.encode(), v) for k, v in d.items()) + b"}")
JSONL_FILES = _lines(st.one_of(json_object, json_object, json_field))
# Labelled files stop at their first bad line: mostly good lines, so the
# reader gets far enough to check the text and labels themselves.
def _dump_escaping_surrogates(value, ensure_ascii: bool) -> bytes:
    # Lone surrogates always as \\u escapes: as bytes, the reader would
    # stop at the invalid UTF-8 before looking at the text and labels.
    try:
        return json.dumps(value, ensure_ascii=ensure_ascii).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value).encode("utf-8")


labelled_line = st.tuples(
    json_text,
    st.tuples(st.just("label"), json_text)
    | st.tuples(st.just("labels"), st.lists(json_text, max_size=3)),
    st.booleans(),
).map(lambda t: _dump_escaping_surrogates({"text": t[0], t[1][0]: t[1][1]}, t[2]))
LABELLED_FILES = st.lists(
    st.tuples(
        st.one_of(*[labelled_line] * 8, junk),
        st.sampled_from([b"\n", b"\r\n", b"\n \t\n"]),
    ),
    min_size=1, max_size=6,
).map(lambda lines: b"".join(a + b for a, b in lines))
CONLL_TAGS = ["O", "B-PER", "I-PER", "E-PER", "S-LOC", "I-LOC", "B-", "X-Y"]
conll_line = st.one_of(
    st.just(b"-DOCSTART- -X- O"),
    st.lists(
        st.one_of(st.sampled_from(CONLL_TAGS), any_text).map(lambda s: s.encode("utf-8")),
        min_size=1, max_size=4,
    ).flatmap(lambda cols: st.sampled_from([b" ", b"\t", b" \t "]).map(lambda sep: sep.join(cols))),
)
CONLL_FILES = _lines(conll_line)
delimited_row = st.lists(
    st.one_of(any_text, st.sampled_from(["text", '"quoted, field"', '"', "a\tb", ""]))
    .map(lambda s: s.encode("utf-8")),
    max_size=4,
).flatmap(lambda cells: st.sampled_from([b",", b"\t"]).map(lambda sep: sep.join(cells)))
DELIMITED_FILES = st.tuples(
    st.sampled_from([b"text", b"id,text", b"text\tid", b"id\ttext,x", b"\xefx"]),
    _lines(delimited_row),
).map(lambda t: t[0] + b"\n" + t[1])
ANY_FILE = st.one_of(st.binary(max_size=400), _lines(junk))


@pytest.fixture(autouse=True)
def _no_hang():
    """Fails the test, instead of waiting forever, if a reader hangs."""

    def hang(signum, frame):
        raise TimeoutError(f"a reader ran for over {HANG_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(HANG_SECONDS)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
    # Module-scoped: hypothesis runs many examples inside one test call.
    return tmp_path_factory.mktemp("reader_fuzz")


_case = itertools.count()


def _write(directory, suffix: str, data: bytes) -> str:
    path = directory / f"case{next(_case)}.{suffix}"
    path.write_bytes(data)
    return str(path)


def _line_count(data: bytes) -> int:
    return data.count(b"\n") + (bool(data) and not data.endswith(b"\n"))


_LINE = re.compile(r", line (\d+)\b")
_WHOLE_FILE = re.compile(
    r"Data file is empty|contains no sentences|yields no text|"
    r"contains no supported files|matches no"
)


def assert_specific(error: BaseException, path: str, lines: int) -> None:
    """`error` is a ValueError naming `path` and a line in it (or a
    whole-file problem), not a low-level error passed through."""
    assert isinstance(error, ValueError), repr(error)
    assert not isinstance(error, (UnicodeError, json.JSONDecodeError)), repr(error)
    message = str(error)
    assert path in message, message
    found = _LINE.search(message)
    if found is None:
        assert _WHOLE_FILE.search(message), message
    else:
        assert 1 <= int(found.group(1)) <= max(lines, 1), message


def outcome(read, path: str, data: bytes):
    """The reader's result, or `None` after checking its error is specific."""
    try:
        return read()
    except ValueError as e:
        assert_specific(e, path, _line_count(data))
        return None


def assert_texts(texts: list[str], counts: FileCounts) -> None:
    """Corpus texts are what a tf.string can hold, and all are counted."""
    assert counts.documents == len(texts)
    for text in texts:
        assert isinstance(text, str) and text and text == text.strip()
        text.encode("utf-8")  # no lone surrogate


def txt_oracle(data: bytes) -> tuple[list[str], int]:
    """What a .txt corpus must yield, decoded independently of the reader."""
    raws = data.split(b"\n")
    if raws[-1] == b"":
        raws.pop()
    texts = []
    for number, raw in enumerate(raws):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if number == 0:
            text = text.removeprefix("\ufeff")
        if text.strip():
            texts.append(text.strip())
    return texts, len(raws)


@FUZZ
@given(data=st.one_of(ANY_FILE, _lines(any_text.map(str.encode))))
def test_txt_corpus_yields_every_decodable_line(fuzz_dir, data):
    path = _write(fuzz_dir, "txt", data)
    counts = FileCounts()
    texts = list(read_file(path, "txt", "text", counts))
    expected, lines = txt_oracle(data)
    assert texts == expected
    assert_texts(texts, counts)
    # Nothing lost: every line is a document, empty or undecodable.
    assert counts.documents + counts.empty_lines + counts.undecodable_lines == lines
    assert counts.skipped_records == 0


def jsonl_oracle(data: bytes) -> list[str]:
    texts = []
    for number, raw in enumerate(data.split(b"\n")):
        try:
            text = raw.decode("utf-8")
            if number == 0:
                text = text.removeprefix("\ufeff")
            value = json.loads(text)
            value = value["text"].strip()
            value.encode("utf-8")
        except Exception:  # the oracle: any failure means "skipped"
            continue
        if value:
            texts.append(value)
    return texts


@FUZZ
@given(data=st.one_of(ANY_FILE, JSONL_FILES))
def test_jsonl_corpus_skips_and_counts_every_bad_line(fuzz_dir, data):
    path = _write(fuzz_dir, "jsonl", data)
    counts = FileCounts()
    texts = list(read_file(path, "jsonl", "text", counts))
    assert texts == jsonl_oracle(data)
    assert_texts(texts, counts)
    accounted = (counts.documents + counts.empty_lines + counts.undecodable_lines
                 + counts.skipped_records)
    assert accounted == _line_count(data)


@FUZZ
@given(data=st.one_of(ANY_FILE, DELIMITED_FILES), kind=st.sampled_from(["csv", "tsv"]))
def test_csv_and_tsv_corpora_give_texts_or_a_located_error(fuzz_dir, data, kind):
    path = _write(fuzz_dir, kind, data)
    counts = FileCounts()
    texts = outcome(lambda: list(read_file(path, kind, "text", counts)), path, data)
    if texts is not None:
        assert_texts(texts, counts)


@FUZZ
@given(data=st.one_of(ANY_FILE, CONLL_FILES))
def test_conll_corpus_yields_token_texts(fuzz_dir, data):
    path = _write(fuzz_dir, "conll", data)
    counts = FileCounts()
    texts = list(read_file(path, "conll", "text", counts))
    assert_texts(texts, counts)
    for text in texts:
        # Tokens joined by single spaces; a lone CR never glues lines.
        assert "\r" not in text and "\t" not in text and "\n" not in text
        assert "  " not in text


@FUZZ
@given(data=st.sampled_from([ANY_FILE, JSONL_FILES] + [LABELLED_FILES] * 3).flatmap(lambda s: s))
def test_labelled_jsonl_gives_examples_or_a_located_error(fuzz_dir, data):
    path = _write(fuzz_dir, "jsonl", data)
    multi = b'"labels"' in data  # the multi-label heads' reader
    kwargs = {"label_field": "labels", "label_type": list} if multi else {}
    examples = outcome(lambda: read_labelled_jsonl(path, **kwargs), path, data)
    if examples is None:
        return
    assert examples
    lines = _line_count(data)
    for example in examples:
        labels = example.label if multi else [example.label]
        assert all(isinstance(x, str) for x in labels)
        for value in [example.text, *labels]:
            value.encode("utf-8")  # what TF strings and the export need
        assert example.source == path and 1 <= example.line <= lines


@FUZZ
@given(data=st.one_of(ANY_FILE, CONLL_FILES))
def test_tagged_conll_gives_valid_sentences_or_a_located_error(fuzz_dir, data):
    path = _write(fuzz_dir, "conll", data)
    sentences = outcome(lambda: read_conll(path), path, data)
    if sentences is None:
        return
    assert sentences
    lines = _line_count(data)
    for sentence in sentences:
        assert 0 < len(sentence.tokens) == len(sentence.tags)
        validate_tags(sentence.tags, "iob2")  # converted to IOB2, well-formed
        for token in sentence.tokens + sentence.tags:
            assert token and not re.search(r"[ \t\r\n]", token), token
        assert 1 <= sentence.line <= lines


_KINDS = ["txt", "jsonl", "csv", "tsv", "conll", "md"]


@settings(FUZZ, max_examples=30)
@given(
    files=st.lists(st.tuples(st.sampled_from(_KINDS), ANY_FILE), max_size=4),
    glob=st.booleans(),
)
def test_directory_and_glob_corpora_read_every_file_in_order(fuzz_dir, files, glob):
    directory = fuzz_dir / f"corpus{next(_case)}"
    (directory / "sub").mkdir(parents=True)
    paths = []
    for index, (kind, data) in enumerate(files):
        where = directory / ("sub" if index % 2 else "")
        paths.append((_write(where, kind, data), kind, data))
    spec = str(directory / "**" / "*") if glob else str(directory)
    stats = CorpusStats()
    try:
        texts = list(iter_texts(spec, stats))
    except ValueError as e:
        located = re.search(r"(/\S+), line \d+", str(e))
        if located:  # a bad line of one of the files
            data = {p: d for p, _, d in paths}[located.group(1)]
            assert_specific(e, located.group(1), _line_count(data))
        else:  # a whole-corpus problem names the corpus
            assert_specific(e, spec, 0)
        return
    expected = []
    for path, kind, _ in sorted(paths):
        if kind != "md":  # not a corpus extension: not read
            expected += read_file(path, kind, "text", FileCounts())
    assert texts == expected
    assert stats.documents == len(texts)


# Deterministic cases.


def _peak(function) -> tuple[object, int]:
    tracemalloc.start()
    try:
        result = function()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _long_line(last: str) -> bytes:
    """10 MB of words on one line, no final newline, ending in `last`: one
    character decides how many bytes a character Python's `str` takes."""
    return ("word " * (TEN_MB // 5 - 1) + last).encode("utf-8")


def _long_file(kind: str, line: bytes) -> bytes:
    return {
        "txt": line,
        "jsonl": b'{"text": "' + line + b'", "label": "long"}',
        "conll": line.replace(b" ", b"") + b" O",  # one 10 MB token
        "csv": b"text\n" + line,
        "tsv": b"text\n" + line,
    }[kind]


# (last character, bytes a character of the decoded line takes)
WIDTHS = [("x", 1), ("\u20ac", 2), ("\U0001f600", 4)]


def memory_bound(size: int, width: int) -> int:
    """The stated bound: the raw line plus four copies of its decoded text
    (a reader holds the line, its text, the parsed value and a transient)."""
    return size * (1 + MEMORY_FACTOR * width)


@pytest.mark.parametrize(
    "kind, last, width",
    [(kind, *w) for kind in ("txt", "jsonl", "conll") for w in WIDTHS]
    + [("csv", "x", 1), ("tsv", "x", 1)],
)
def test_a_10_mb_line_is_read_in_bounded_memory(tmp_path, kind, last, width):
    data = _long_file(kind, _long_line(last))
    path = _write(tmp_path, kind, data)
    counts = FileCounts()
    texts, peak = _peak(
        lambda: outcome(lambda: list(read_file(path, kind, "text", counts)), path, data)
    )
    assert peak < memory_bound(len(data), width), (kind, width, peak / len(data))
    if kind in ("csv", "tsv"):
        # Over the csv module's field limit: a located error, not data.
        assert texts is None
    else:
        assert len(texts) == 1 and len(texts[0]) >= TEN_MB // 5
        assert texts[0].endswith(last)


@pytest.mark.parametrize("kind", ["jsonl", "conll"])
def test_a_10_mb_line_in_labelled_data(tmp_path, kind):
    data = _long_file(kind, _long_line("\U0001f600"))  # the costliest width
    path = _write(tmp_path, kind, data)
    read = read_labelled_jsonl if kind == "jsonl" else read_conll
    examples, peak = _peak(lambda: read(path))
    assert peak < memory_bound(len(data), 4), peak / len(data)
    assert len(examples) == 1


def test_streaming_a_corpus_holds_memory_bounded(tmp_path):
    # 512 KB of short lines, most of them broken: counted, not kept (the
    # texts alone, if kept, would take more than the bound).
    line = b'{"text": "a short document"}\n{"text": \xff}\n' + b'{"t": 1}\n' * 8
    data = line * (2**19 // len(line))
    path = _write(tmp_path, "jsonl", data)
    stats = CorpusStats()
    count, peak = _peak(lambda: sum(1 for _ in iter_texts(path, stats)))
    assert count == data.count(b"short")
    assert stats.undecodable_lines + stats.skipped_records == data.count(b"\n") - count
    assert peak < STREAM_BOUND, peak


@pytest.mark.parametrize("kind", ["txt", "jsonl", "csv", "tsv", "conll"])
def test_empty_file(tmp_path, kind):
    path = _write(tmp_path, kind, b"")
    counts = FileCounts()
    assert list(read_file(path, kind, "text", counts)) == []
    assert counts == FileCounts()
    assert list(iter_texts(path)) == []
    with pytest.raises(ValueError, match=r"yields no text") as raised:
        check_has_text(path)
    assert path in str(raised.value)


def test_empty_labelled_files(tmp_path):
    with pytest.raises(ValueError, match="Data file is empty"):
        read_labelled_jsonl(_write(tmp_path, "jsonl", b""))
    with pytest.raises(ValueError, match="contains no sentences"):
        read_conll(_write(tmp_path, "conll", b"\n\n"))


def test_missing_final_newline(tmp_path):
    jsonl = _write(tmp_path, "jsonl", b'{"text": "a", "label": "x"}\n{"text": "b", "label": "y"}')
    assert [(e.text, e.line) for e in read_labelled_jsonl(jsonl)] == [("a", 1), ("b", 2)]
    conll = _write(tmp_path, "conll", b"EU B-ORG\nrejects O")
    assert read_conll(conll)[0].tags == ("B-ORG", "O")
    csv = _write(tmp_path, "csv", b"id,text\n1,last row")
    assert list(read_file(csv, "csv", "text", FileCounts())) == ["last row"]


def test_lone_carriage_returns(tmp_path):
    # Classic Mac line ends: one line to a reader splitting on \n.
    conll = _write(tmp_path, "conll", b"EU B-ORG\rrejects O\r")
    with pytest.raises(ValueError, match=r", line 1: a carriage return \(\\r\) inside"):
        read_conll(conll)
    counts = FileCounts()
    assert list(read_file(conll, "conll", "text", counts)) == []
    assert counts.skipped_records == 1
    csv = _write(tmp_path, "csv", b"text\rfirst\rsecond\r")
    with pytest.raises(ValueError, match=r"csv, line 1: new-line character"):
        list(read_file(csv, "csv", "text", FileCounts()))
    # A .txt document keeps its lone CRs: white space to the tokenizer.
    txt = _write(tmp_path, "txt", b"one\rtwo\r\nthree\n")
    assert list(read_file(txt, "txt", "text", FileCounts())) == ["one\rtwo", "three"]


def test_nul_bytes_are_data(tmp_path):
    txt = _write(tmp_path, "txt", b"a\x00b\n\x00\n")
    assert list(read_file(txt, "txt", "text", FileCounts())) == ["a\x00b", "\x00"]
    tsv = _write(tmp_path, "tsv", b"text\ta\x00\n\x00x\t1\n")
    assert list(read_file(tsv, "tsv", "text", FileCounts())) == ["\x00x"]
    jsonl = _write(tmp_path, "jsonl", b'{"text": "a\x00", "label": "x"}\n')
    with pytest.raises(ValueError, match=r"jsonl, line 1: not valid JSON \(Invalid control"):
        read_labelled_jsonl(jsonl)


def test_mixed_separators(tmp_path):
    # CoNLL takes spaces and tabs alike; CSV/TSV split on their own only.
    conll = _write(tmp_path, "conll", b"EU\tNNP B-ORG\nrejects VBZ\tO\n")
    assert read_conll(conll)[0].tokens == ("EU", "rejects")
    csv = _write(tmp_path, "csv", b"text,id\na\tb,1\n")
    assert list(read_file(csv, "csv", "text", FileCounts())) == ["a\tb"]
    tsv = _write(tmp_path, "tsv", b"text\tid\na,b\t1\nshort\n")
    counts = FileCounts()
    assert list(read_file(tsv, "tsv", "text", counts)) == ["a,b", "short"]
    tsv_by_id = _write(tmp_path, "tsv", b"text\tid\na,b\t1\nshort\n")
    counts = FileCounts()
    assert list(read_file(tsv_by_id, "tsv", "id", counts)) == ["1"]
    assert counts.skipped_records == 1  # "short" has no id column


@pytest.mark.parametrize(
    "data, message, corpus_texts",
    [
        (b"[" * 100_000, r"line 1: not valid JSON \(nested too deeply", []),
        (b'{"text": ' + b"1" * 5000 + b', "label": "x"}',
         r"line 1: not valid JSON \(a number too long", []),
        (b'{"text": "ok", "label": "x"}\n{"text": "\\ud800", "label": "x"}',
         r"line 2: 'text' holds an unpaired surrogate", ["ok"]),
        (b'{"text": "ok", "labels": ["a", "\\udc80"]}',
         r"line 1: 'labels' holds an unpaired surrogate", ["ok"]),
    ],
)
def test_json_past_the_parser_limits_is_a_located_error(
    tmp_path, data, message, corpus_texts
):
    path = _write(tmp_path, "jsonl", data)
    multi = b"labels" in data
    kwargs = {"label_field": "labels", "label_type": list} if multi else {}
    with pytest.raises(ValueError, match=message) as raised:
        read_labelled_jsonl(path, **kwargs)
    assert_specific(raised.value, path, _line_count(data))
    # The pretraining reader skips the same line and counts it.
    counts = FileCounts()
    assert list(read_file(path, "jsonl", "text", counts)) == corpus_texts
    assert counts.problems == _line_count(data) - len(corpus_texts)


def test_missing_files(tmp_path):
    missing = str(tmp_path / "nope")
    for kind in ("txt", "jsonl", "csv", "conll"):
        with pytest.raises(ValueError, match="not found") as raised:
            list(iter_texts(f"{missing}.{kind}"))
        assert missing in str(raised.value)
    with pytest.raises(ValueError, match="not found"):
        read_labelled_jsonl(missing + ".jsonl")
    with pytest.raises(ValueError, match="not found"):
        read_conll(missing + ".conll")
    with pytest.raises(FileNotFoundError):
        list(read_file(missing + ".txt", "txt", "text", FileCounts()))
    assert os.listdir(tmp_path) == []


def test_the_pretraining_dataset_yields_what_the_readers_yield(tmp_path):
    # `text_dataset` (what kerasft-pretrain reads) over a directory of broken
    # files of every format: the same texts as `iter_texts`, as UTF-8.
    files = {
        "a.txt": b"\xef\xbb\xbfone\r\n\xff\xfe\n\x00two\rthree\n\n",
        "b.jsonl": b'{"text": "four"}\n' + b"[" * 50_000 + b'\n{"text": "\\ud800"}\n{"text": "five"}',
        "c.csv": b"id,text\n1,six\n2,\"se\nven\"\n3\n",
        "d.tsv": b"text\n\xc3\x28\neight\t\x00\n",
        "e.conll": b"nine O\nten B-PER\n\neleven B-X\rtwelve O\n\n\xe2\x82 O\n",
    }
    for name, data in files.items():
        _write_named(tmp_path / "corpus", name, data)
    spec = str(tmp_path / "corpus")
    expected = list(iter_texts(spec))
    assert expected == ["one", "\x00two\rthree", "four", "five", "six", "se\nven", "eight", "nine ten"]
    stats = CorpusStats()
    dataset = text_dataset(spec, stats=stats)
    assert [t.decode("utf-8") for t in dataset.as_numpy_iterator()] == expected
    # Undecodable: a.txt line 2, the surrogate, d.tsv's \xc3\x28, e.conll's
    # last line; skipped: the nesting, c.csv's short row, both bad sentences.
    assert stats.documents == len(expected)
    assert (stats.undecodable_lines, stats.skipped_records) == (4, 4)


def _write_named(directory, name: str, data: bytes) -> None:
    directory.mkdir(exist_ok=True)
    (directory / name).write_bytes(data)
