"""Reading one corpus file or TFDS split into texts, leniently.

Each format's reader yields stripped, non-empty texts and counts in a
`FileCounts` what it skipped: empty lines, undecodable bytes, malformed
records. Lines, JSON records and CoNLL sentences come from the shared
readers in `kerasft.data.lines`, `kerasft.data.jsonl` and
`kerasft.data.conll`; only the lenient policy lives here.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

import tensorflow as tf

from kerasft.data.conll import has_lone_carriage_return, iter_sentence_lines
from kerasft.data.corpus_sources import CorpusSource
from kerasft.data.corpus_stats import CorpusStats, FileCounts, warn_skipped
from kerasft.data.jsonl import iter_json_lines
from kerasft.data.lines import Line, read_lines


def _decoded(line: Line, counts: FileCounts) -> bool:
    """Returns whether `line` is UTF-8; counts and logs it if not."""
    if line.error is None:
        return True
    counts.undecodable_lines += 1
    warn_skipped(counts, line.where, f"invalid UTF-8 ({line.error.reason})")
    return False


def _accept(text: str, counts: FileCounts, where: str) -> str | None:
    text = text.strip()
    if not text:
        counts.empty_lines += 1
        return None
    try:
        # Lone surrogates (JSON escapes, CSV surrogateescape) cannot become
        # a tf.string.
        text.encode("utf-8")
    except UnicodeEncodeError:
        counts.undecodable_lines += 1
        warn_skipped(counts, where, "text is not valid UTF-8")
        return None
    counts.documents += 1
    return text


def _read_txt(path: str, field: str, counts: FileCounts) -> Iterator[str]:
    del field
    for line in read_lines(path):
        # Tested inline: this loop runs once a line of the largest corpora.
        if line.error is None or _decoded(line, counts):
            text = _accept(line.text, counts, line.where)
            if text is not None:
                yield text


def _read_jsonl(path: str, field: str, counts: FileCounts) -> Iterator[str]:
    for record in iter_json_lines(path):
        line, where = record.line, record.line.where
        if not _decoded(line, counts):
            continue
        if line.is_blank:
            counts.empty_lines += 1
            continue
        if record.error is not None:
            counts.skipped_records += 1
            warn_skipped(counts, where, f"not valid JSON ({record.error.msg})")
            continue
        value = record.value
        if not isinstance(value, dict) or field not in value:
            counts.skipped_records += 1
            warn_skipped(counts, where, f"no field {field!r}")
            continue
        if not isinstance(value[field], str):
            counts.skipped_records += 1
            warn_skipped(counts, where, f"field {field!r} is not a string")
            continue
        text = _accept(value[field], counts, where)
        if text is not None:
            yield text


def _surrogate_lines(path: str) -> Iterator[str]:
    # Decoding leniently keeps multi-line quoted fields intact; bad bytes
    # become lone surrogates that `_accept` rejects per record.
    for line in read_lines(path, errors="surrogateescape"):
        yield line.text


def _next_row(reader, problem: str) -> list[str] | None:
    """Returns the next CSV/TSV row, `None` at the end; raises on bad CSV."""
    try:
        return next(reader)
    except StopIteration:
        return None
    except csv.Error as e:
        # The reader cannot resynchronise after e.g. an oversized field.
        raise ValueError(f"{problem}: {e}") from None


def _read_delimited(
    path: str, field: str, counts: FileCounts, delimiter: str
) -> Iterator[str]:
    reader = csv.reader(_surrogate_lines(path), delimiter=delimiter)
    header = _next_row(reader, f"Malformed header in {path}, line 1")
    if header is None:
        return
    header = [name.strip() for name in header]
    if field not in header:
        raise ValueError(
            f"{path}, line 1: the header has no column {field!r}. Columns: "
            f"{header}. Pass the text column with '?field=NAME'."
        )
    column = header.index(field)
    while True:
        where = f"{path}, line {reader.line_num + 1}"
        row = _next_row(reader, f"Malformed CSV/TSV in {where}")
        if row is None:
            return
        if not row:
            counts.empty_lines += 1
            continue
        if len(row) <= column:
            counts.skipped_records += 1
            warn_skipped(
                counts, where, f"row has {len(row)} columns, no {field!r}"
            )
            continue
        text = _accept(row[column], counts, where)
        if text is not None:
            yield text


def _read_csv(path: str, field: str, counts: FileCounts) -> Iterator[str]:
    return _read_delimited(path, field, counts, ",")


def _read_tsv(path: str, field: str, counts: FileCounts) -> Iterator[str]:
    return _read_delimited(path, field, counts, "\t")


def _read_conll(path: str, field: str, counts: FileCounts) -> Iterator[str]:
    del field
    for sentence in iter_sentence_lines(path):
        where = sentence[0].line.where
        # A list, not a generator: every bad line is counted and logged.
        decoded = [_decoded(line, counts) for line, _ in sentence]
        if not all(decoded):
            counts.skipped_records += 1
            warn_skipped(counts, where, "sentence has invalid UTF-8")
            continue
        if any(has_lone_carriage_return(line) for line, _ in sentence):
            counts.skipped_records += 1
            warn_skipped(counts, where, "a carriage return (\\r) inside a line")
            continue
        tokens = [columns[0] for _, columns in sentence]
        text = _accept(" ".join(tokens), counts, where)
        if text is not None:
            yield text


_READERS = {
    "txt": _read_txt,
    "jsonl": _read_jsonl,
    "csv": _read_csv,
    "tsv": _read_tsv,
    "conll": _read_conll,
}


def read_file(
    path: str, kind: str, text_field: str, counts: FileCounts
) -> Iterator[str]:
    """Streams the texts of one corpus file, counting what it skips.

    Args:
        path: the file.
        kind: its format, one of `corpus_sources.FILE_KINDS`.
        text_field: JSONL key or CSV/TSV column with the text; ignored for
            `.txt` and `.conll`.
        counts: updated while the stream is consumed.

    Example:

    >>> list(read_file("a.txt", "txt", "text", FileCounts()))  # doctest: +SKIP
    ['first document', 'second document']
    """
    return _READERS[kind](path, text_field, counts)


def _tfds_texts(source: CorpusSource) -> tf.data.Dataset:
    """Returns the TFDS text feature as a dataset, validating eagerly."""
    # Imported lazily: tensorflow_datasets takes seconds to import.
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(source.path, data_dir=source.data_dir)
    except Exception as e:  # TFDS raises several types; keep one clear one.
        first_line = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(
            f"Cannot load TFDS dataset {source.path!r} (corpus "
            f"{source.name!r}): {first_line}"
        ) from None
    if not builder.is_prepared():
        raise ValueError(
            f"TFDS dataset {source.path!r} is not prepared in data_dir "
            f"{builder.data_dir!r} (corpus {source.name!r}). Prepare it "
            "once with `tfds.builder(name, data_dir=...)"
            ".download_and_prepare()` or pass '?data_dir=' pointing at the "
            "prepared data."
        )
    features = builder.info.features
    if source.text_field not in features.keys():
        raise ValueError(
            f"TFDS dataset {source.path!r} has no feature "
            f"{source.text_field!r}. Features: {sorted(features.keys())}. "
            "Pass the text feature with '?field=NAME'."
        )
    if features[source.text_field].dtype != tf.string:
        raise ValueError(
            f"TFDS feature {source.text_field!r} of {source.path!r} is not "
            f"text (dtype {features[source.text_field].dtype!r})."
        )
    try:
        dataset = builder.as_dataset(split=source.split, shuffle_files=False)
    except Exception as e:
        raise ValueError(
            f"Cannot read split {source.split!r} of TFDS dataset "
            f"{source.path!r}. Available splits: {sorted(builder.info.splits)}"
            f". ({e})"
        ) from None
    field = source.text_field
    return dataset.map(lambda example: example[field])


def read_tfds(source: CorpusSource, stats: CorpusStats) -> Iterator[str]:
    """Streams the texts of a TFDS corpus, counting what it skips.

    The dataset is loaded, and checked for the split and the text feature, on
    the first `next()`.

    Args:
        source: a corpus of kind `"tfds"`.
        stats: its counts go under the key `tfds:NAME[SPLIT]`.

    Example:

    >>> texts = read_tfds(parse_corpus_spec("tfds:imdb_reviews"), CorpusStats())
    ... # doctest: +SKIP
    """
    key = f"tfds:{source.path}[{source.split}]"
    counts = stats.for_file(key)
    for index, value in enumerate(_tfds_texts(source).as_numpy_iterator()):
        where = f"{key}, example {index + 1}"
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError as e:
            counts.undecodable_lines += 1
            warn_skipped(counts, where, f"invalid UTF-8 ({e.reason})")
            continue
        text = _accept(text, counts, where)
        if text is not None:
            yield text
