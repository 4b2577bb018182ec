"""Streaming unlabeled text corpora for masked-LM pretraining.

A corpus is described by a `CorpusSource`, usually parsed from a flag string
with `parse_corpus_spec`. The spec syntax is:

    [tfds:]LOCATION[?KEY=VALUE[&KEY=VALUE...]][:WEIGHT]

- `LOCATION` is a file (`.txt`: one document a line; `.jsonl`: one JSON
  object a line; `.csv`/`.tsv`: header row, quoted fields allowed; `.conll`:
  one sentence a document, first column tokens joined by spaces), a directory
  (every supported file under it, recursively, in sorted order), a glob
  (`*`, `?`, `[...]`, `**`), or, after the `tfds:` prefix, a TFDS dataset name
  such as `imdb_reviews/plain_text` (a version may follow as `:1.0.0`).
- `KEY` is one of `field` (JSONL key, CSV/TSV column or TFDS feature holding
  the text; default `text`), `split` (TFDS split to read, default `train`; on
  files it only records which labelled split the text came from) and
  `data_dir` (TFDS data directory).
- `WEIGHT` is a positive number, the relative sampling weight of the corpus
  in a mixture (see `kerasft.data.mixing`); default `1.0`. A trailing `:X` is
  read as a weight only when `X` is a plain number.

Examples: `reviews.txt:0.7`, `data.jsonl?field=body:0.3`,
`tfds:imdb_reviews/plain_text?split=unsupervised&data_dir=/data/tfds:0.5`.

Corpora are lenient: empty lines, undecodable bytes and malformed records are
skipped and counted in a `CorpusStats`, never fatal. A corpus that yields no
text at all, a missing path or a glob matching nothing is a `ValueError`.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import glob
import json
import math
import numbers
import os
import re
from collections.abc import Iterable, Iterator, Sequence

import tensorflow as tf
from absl import logging

FILE_KINDS = ("txt", "jsonl", "csv", "tsv", "conll")
KINDS = FILE_KINDS + ("dir", "glob", "tfds")
DEFAULT_TEXT_FIELD = "text"
DEFAULT_TFDS_SPLIT = "train"
_TFDS_PREFIX = "tfds:"
_SPEC_KEYS = ("field", "split", "data_dir")
_LABELLED_EXTENSIONS = ("jsonl", "conll")
_TEST_SPLIT = "test"
# Beyond this many problems per file, problems are only counted, so a badly
# encoded corpus cannot flood the log (repeated passes add no new warnings).
_MAX_WARNINGS_PER_FILE = 5
_GENERATOR_CHUNK_SIZE = 256
_WEIGHT_RE = re.compile(
    r"^[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|inf|nan)$",
    re.IGNORECASE,
)
_QUERY_RE = re.compile(r"^[A-Za-z_]+=[^&]*(?:&[A-Za-z_]+=[^&]*)*$")
_GLOB_CHARS = ("*", "?", "[")


@dataclasses.dataclass
class FileCounts:
    """Counts for one file (or TFDS split) of a corpus.

    Args:
        documents: texts yielded.
        empty_lines: lines or records whose text is empty or whitespace.
        undecodable_lines: lines (CSV/TSV: records, TFDS: examples) that are
            not valid UTF-8.
        skipped_records: malformed records: invalid JSON, a missing or
            non-string field, a short CSV row, a CoNLL sentence with an
            undecodable line.
    """

    documents: int = 0
    empty_lines: int = 0
    undecodable_lines: int = 0
    skipped_records: int = 0

    @property
    def problems(self) -> int:
        """Number of undecodable lines plus skipped records."""
        return self.undecodable_lines + self.skipped_records


@dataclasses.dataclass
class CorpusStats:
    """Per-file counts of what a corpus pass yielded and skipped.

    Updated while a `text_dataset` or `iter_texts` stream is consumed; counts
    accumulate over repeated passes.

    Args:
        files: `FileCounts` keyed by file path (TFDS: `tfds:NAME[SPLIT]`).

    Example:

    >>> stats = CorpusStats()
    >>> stats.for_file("a.txt").documents += 2
    >>> stats.documents
    2
    """

    files: dict[str, FileCounts] = dataclasses.field(default_factory=dict)

    def for_file(self, path: str) -> FileCounts:
        """Returns the counts of `path`, creating them if needed."""
        return self.files.setdefault(path, FileCounts())

    def _total(self, name: str) -> int:
        return sum(getattr(counts, name) for counts in self.files.values())

    @property
    def documents(self) -> int:
        return self._total("documents")

    @property
    def empty_lines(self) -> int:
        return self._total("empty_lines")

    @property
    def undecodable_lines(self) -> int:
        return self._total("undecodable_lines")

    @property
    def skipped_records(self) -> int:
        return self._total("skipped_records")

    def to_dict(self) -> dict:
        """Returns totals and per-file counts as plain JSON-able values."""
        names = [f.name for f in dataclasses.fields(FileCounts)]
        totals = {name: self._total(name) for name in names}
        totals["files"] = {
            path: dataclasses.asdict(counts)
            for path, counts in self.files.items()
        }
        return totals

    def summary(self) -> str:
        """Returns a one-line-per-file human readable summary."""
        lines = [
            f"{self.documents} documents, {self.empty_lines} empty lines, "
            f"{self.undecodable_lines} undecodable lines, "
            f"{self.skipped_records} skipped records "
            f"in {len(self.files)} file(s)"
        ]
        for path, c in self.files.items():
            lines.append(
                f"  {path}: {c.documents} documents, {c.empty_lines} empty, "
                f"{c.undecodable_lines} undecodable, "
                f"{c.skipped_records} skipped"
            )
        return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class CorpusSource:
    """One unlabeled text corpus: a file, directory, glob or TFDS dataset.

    Args:
        kind: one of `"txt"`, `"jsonl"`, `"csv"`, `"tsv"`, `"conll"`, `"dir"`,
            `"glob"`, `"tfds"`.
        path: file or directory path, glob pattern, or TFDS dataset name.
        text_field: JSONL key, CSV/TSV column or TFDS feature with the text.
            Ignored for `.txt` and `.conll` files.
        weight: positive relative sampling weight in a mixture.
        split: TFDS split to read (default `"train"`). For file corpora, the
            labelled split the text came from, recorded for provenance only.
        data_dir: TFDS data directory (TFDS only).

    Example:

    >>> source = parse_corpus_spec("reviews.jsonl?field=body:0.5")
    >>> (source.kind, source.text_field, source.weight)
    ('jsonl', 'body', 0.5)
    >>> source.to_spec()
    'reviews.jsonl?field=body:0.5'
    """

    kind: str
    path: str
    text_field: str = DEFAULT_TEXT_FIELD
    weight: float = 1.0
    split: str | None = None
    data_dir: str | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(
                f"`kind` must be one of {KINDS}. Received: kind={self.kind!r}"
            )
        if not isinstance(self.path, str) or not self.path:
            raise ValueError(
                "`path` must be a non-empty string. "
                f"Received: path={self.path!r}"
            )
        if not isinstance(self.text_field, str) or not self.text_field:
            raise ValueError(
                "`text_field` must be a non-empty string. "
                f"Received: text_field={self.text_field!r}"
            )
        object.__setattr__(self, "weight", validate_weight(self.weight))
        if self.data_dir is not None and self.kind != "tfds":
            raise ValueError(
                "`data_dir` only applies to TFDS corpora (`tfds:NAME`). "
                f"Received: data_dir={self.data_dir!r} for {self.path!r}"
            )
        if self.kind == "tfds" and self.split is None:
            object.__setattr__(self, "split", DEFAULT_TFDS_SPLIT)

    @property
    def name(self) -> str:
        """A short label for logs and error messages."""
        return self.to_spec()

    def to_spec(self) -> str:
        """Returns the spec string that `parse_corpus_spec` parses back."""
        prefix = _TFDS_PREFIX if self.kind == "tfds" else ""
        query = []
        if self.text_field != DEFAULT_TEXT_FIELD:
            query.append(f"field={self.text_field}")
        if self.split is not None:
            query.append(f"split={self.split}")
        if self.data_dir is not None:
            query.append(f"data_dir={self.data_dir}")
        spec = prefix + self.path
        if query:
            spec += "?" + "&".join(query)
        if self.weight != 1.0:
            spec += f":{self.weight!r}"
        return spec


def validate_weight(weight, name: str = "weight") -> float:
    """Returns `weight` as a float, or raises if it is not positive finite.

    Args:
        weight: the value to check.
        name: argument name used in the error message.

    Example:

    >>> validate_weight(2)
    2.0
    """
    if isinstance(weight, bool) or not isinstance(weight, numbers.Real):
        raise TypeError(
            f"`{name}` must be a number. Received: {name}={weight!r} "
            f"of type {type(weight).__name__}"
        )
    if not math.isfinite(weight) or weight <= 0:
        raise ValueError(
            f"`{name}` must be a positive finite number. "
            f"Received: {name}={weight!r}"
        )
    return float(weight)


def _kind_from_location(location: str) -> str:
    extension = os.path.splitext(location)[1].lower().lstrip(".")
    if any(char in location for char in _GLOB_CHARS):
        return "glob"
    if extension in FILE_KINDS:
        return extension
    return "dir"


def parse_corpus_spec(spec: str) -> CorpusSource:
    """Parses a corpus flag string into a `CorpusSource`.

    See the module docstring for the syntax.

    Args:
        spec: e.g. `"reviews.txt:0.7"`, `"data.jsonl?field=body:0.3"` or
            `"tfds:imdb_reviews/plain_text?split=unsupervised&data_dir=/x"`.

    Example:

    >>> parse_corpus_spec("tfds:imdb_reviews?split=unsupervised:0.5").split
    'unsupervised'
    """
    if not isinstance(spec, str):
        raise TypeError(
            f"`spec` must be a string. Received: spec={spec!r} "
            f"of type {type(spec).__name__}"
        )
    body = spec.strip()
    weight = 1.0
    head, sep, tail = body.rpartition(":")
    if sep and _WEIGHT_RE.match(tail):
        try:
            weight = validate_weight(float(tail))
        except ValueError:
            raise ValueError(
                "The weight of a corpus spec must be a positive finite "
                f"number. Received: spec={spec!r} (weight {tail!r}). "
                "Expected e.g. 'reviews.txt:0.7'."
            ) from None
        body = head
    options = {}
    location, sep, query = body.rpartition("?")
    # `?` is also a glob wildcard: only `?key=value&...` is a query.
    if sep and _QUERY_RE.match(query):
        body = location
        for pair in query.split("&"):
            key, _, value = pair.partition("=")
            if key not in _SPEC_KEYS:
                raise ValueError(
                    f"Unknown option {key!r} in corpus spec. Expected one of "
                    f"{_SPEC_KEYS}. Received: spec={spec!r}"
                )
            if key in options:
                raise ValueError(
                    f"Option {key!r} is given twice in corpus spec. "
                    f"Received: spec={spec!r}"
                )
            if not value:
                raise ValueError(
                    f"Option {key!r} in corpus spec has an empty value. "
                    f"Received: spec={spec!r}"
                )
            options[key] = value
    if body.startswith(_TFDS_PREFIX):
        kind, body = "tfds", body[len(_TFDS_PREFIX) :]
    else:
        kind = _kind_from_location(body)
    if not body:
        raise ValueError(
            "A corpus spec needs a file, directory, glob or `tfds:NAME`. "
            f"Received: spec={spec!r}"
        )
    if "field" in options and kind in ("txt", "conll"):
        raise ValueError(
            f"Option 'field' does not apply to .{kind} files, which have no "
            f"fields. Received: spec={spec!r}. Remove '?field=...'."
        )
    if "data_dir" in options and kind != "tfds":
        raise ValueError(
            "Option 'data_dir' only applies to TFDS corpora ('tfds:NAME'). "
            f"Received: spec={spec!r}"
        )
    return CorpusSource(
        kind=kind,
        path=body,
        text_field=options.get("field", DEFAULT_TEXT_FIELD),
        weight=weight,
        split=options.get("split"),
        data_dir=options.get("data_dir"),
    )


def to_corpus_sources(
    sources: CorpusSource | str | Iterable[CorpusSource | str],
) -> list[CorpusSource]:
    """Returns a list of `CorpusSource`s from sources and/or spec strings.

    Args:
        sources: a `CorpusSource`, a spec string, or a sequence of these.

    Example:

    >>> [s.kind for s in to_corpus_sources(["a.txt", "b.csv:2"])]
    ['txt', 'csv']
    """
    if isinstance(sources, (CorpusSource, str)):
        sources = [sources]
    try:
        items = list(sources)
    except TypeError:
        raise TypeError(
            "`sources` must be a CorpusSource, a corpus spec string or a "
            f"sequence of these. Received: sources={sources!r}"
        ) from None
    if not items:
        raise ValueError(
            "`sources` must name at least one corpus. Received: sources=[]"
        )
    result = []
    for item in items:
        if isinstance(item, str):
            result.append(parse_corpus_spec(item))
        elif isinstance(item, CorpusSource):
            result.append(item)
        else:
            raise TypeError(
                "Each corpus must be a CorpusSource or a spec string. "
                f"Received: {item!r} of type {type(item).__name__}"
            )
    return result


def _supported_kind(path: str) -> str | None:
    extension = os.path.splitext(path)[1].lower().lstrip(".")
    return extension if extension in FILE_KINDS else None


def resolve_files(source: CorpusSource) -> list[tuple[str, str]]:
    """Returns the `(path, kind)` files a file-based corpus reads, in order.

    Args:
        source: a corpus that is not TFDS.

    Example:

    >>> resolve_files(parse_corpus_spec("/data/reviews/"))  # doctest: +SKIP
    [('/data/reviews/a.txt', 'txt'), ('/data/reviews/b.jsonl', 'jsonl')]
    """
    if source.kind == "tfds":
        raise ValueError(
            f"TFDS corpus {source.name!r} has no files to resolve."
        )
    path = source.path
    if source.kind in FILE_KINDS:
        if not os.path.isfile(path):
            raise ValueError(
                f"Corpus file not found: {path!r} (corpus {source.name!r}). "
                "Check the path."
            )
        return [(path, source.kind)]
    if source.kind == "glob":
        matches = sorted(glob.glob(path, recursive=True))
        if not matches:
            raise ValueError(
                f"Corpus glob {path!r} matches no files. Check the pattern."
            )
        files = [m for m in matches if os.path.isfile(m) and _supported_kind(m)]
        if not files:
            raise ValueError(
                f"Corpus glob {path!r} matches no supported files "
                f"(extensions {FILE_KINDS}). Matched: {matches[:5]}"
            )
        return [(f, _supported_kind(f)) for f in files]
    if not os.path.exists(path):
        raise ValueError(
            f"Corpus directory not found: {path!r}. Check the path."
        )
    if not os.path.isdir(path):
        raise ValueError(
            f"Corpus path {path!r} is neither a directory nor a file with a "
            f"supported extension {FILE_KINDS}. Rename it or pass a directory."
        )
    files = []
    for root, dirs, names in os.walk(path):
        dirs.sort()
        files.extend(os.path.join(root, n) for n in names if _supported_kind(n))
    files.sort()
    if not files:
        raise ValueError(
            f"Corpus directory {path!r} contains no supported files "
            f"(extensions {FILE_KINDS})."
        )
    return [(f, _supported_kind(f)) for f in files]


def _warn(counts: FileCounts, where: str, message: str) -> None:
    if counts.problems <= _MAX_WARNINGS_PER_FILE:
        logging.warning("Corpus %s: %s; skipped.", where, message)
        if counts.problems == _MAX_WARNINGS_PER_FILE:
            logging.warning(
                "Corpus %s: further problems in this file are counted, "
                "not logged.",
                where.rsplit(", line", 1)[0],
            )


def _decoded_lines(
    path: str, counts: FileCounts
) -> Iterator[tuple[int, str | None]]:
    """Yields `(line_number, text)`; `text` is None for undecodable lines."""
    with open(path, "rb") as f:
        for line_number, raw in enumerate(f, start=1):
            if line_number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            try:
                yield line_number, raw.decode("utf-8")
            except UnicodeDecodeError as e:
                counts.undecodable_lines += 1
                where = f"{path}, line {line_number}"
                _warn(counts, where, f"invalid UTF-8 ({e.reason})")
                yield line_number, None


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
        _warn(counts, where, "text is not valid UTF-8")
        return None
    counts.documents += 1
    return text


def _read_txt(path: str, field: str, counts: FileCounts) -> Iterator[str]:
    del field
    for line_number, line in _decoded_lines(path, counts):
        if line is not None:
            text = _accept(line, counts, f"{path}, line {line_number}")
            if text is not None:
                yield text


def _read_jsonl(path: str, field: str, counts: FileCounts) -> Iterator[str]:
    for line_number, line in _decoded_lines(path, counts):
        if line is None:
            continue
        where = f"{path}, line {line_number}"
        if not line.strip():
            counts.empty_lines += 1
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            counts.skipped_records += 1
            _warn(counts, where, f"not valid JSON ({e.msg})")
            continue
        if not isinstance(record, dict) or field not in record:
            counts.skipped_records += 1
            _warn(counts, where, f"no field {field!r}")
            continue
        if not isinstance(record[field], str):
            counts.skipped_records += 1
            _warn(counts, where, f"field {field!r} is not a string")
            continue
        text = _accept(record[field], counts, where)
        if text is not None:
            yield text


def _surrogate_lines(path: str) -> Iterator[str]:
    # Decoding leniently keeps multi-line quoted fields intact; bad bytes
    # become lone surrogates that `_accept` rejects per record.
    with open(path, "rb") as f:
        for line_number, raw in enumerate(f, start=1):
            if line_number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            yield raw.decode("utf-8", errors="surrogateescape")


def _read_delimited(
    path: str, field: str, counts: FileCounts, delimiter: str
) -> Iterator[str]:
    reader = csv.reader(_surrogate_lines(path), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as e:
        raise ValueError(f"Malformed header in {path}, line 1: {e}") from None
    header = [name.strip() for name in header]
    if field not in header:
        raise ValueError(
            f"{path}, line 1: the header has no column {field!r}. Columns: "
            f"{header}. Pass the text column with '?field=NAME'."
        )
    column = header.index(field)
    while True:
        line_number = reader.line_num + 1
        where = f"{path}, line {line_number}"
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            # The reader cannot resynchronise after e.g. an oversized field.
            raise ValueError(f"Malformed CSV/TSV in {where}: {e}") from None
        if not row:
            counts.empty_lines += 1
            continue
        if len(row) <= column:
            counts.skipped_records += 1
            _warn(counts, where, f"row has {len(row)} columns, no {field!r}")
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
    tokens, start, broken = [], None, False

    def flush():
        if broken:
            counts.skipped_records += 1
            _warn(counts, f"{path}, line {start}", "sentence has invalid UTF-8")
            return None
        if tokens:
            return _accept(" ".join(tokens), counts, f"{path}, line {start}")
        return None

    for line_number, line in _decoded_lines(path, counts):
        if line is not None and not line.strip():
            text = flush()
            if text is not None:
                yield text
            tokens, start, broken = [], None, False
            continue
        start = start or line_number
        if line is None:
            broken = True
            continue
        token = line.split()[0]
        if token != "-DOCSTART-":
            tokens.append(token)
    text = flush()
    if text is not None:
        yield text


_READERS = {
    "txt": _read_txt,
    "jsonl": _read_jsonl,
    "csv": _read_csv,
    "tsv": _read_tsv,
    "conll": _read_conll,
}


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


def _read_tfds(source: CorpusSource, stats: CorpusStats) -> Iterator[str]:
    key = f"tfds:{source.path}[{source.split}]"
    counts = stats.for_file(key)
    for index, value in enumerate(_tfds_texts(source).as_numpy_iterator()):
        where = f"{key}, example {index + 1}"
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError as e:
            counts.undecodable_lines += 1
            _warn(counts, where, f"invalid UTF-8 ({e.reason})")
            continue
        text = _accept(text, counts, where)
        if text is not None:
            yield text


def iter_texts(
    source: CorpusSource | str, stats: CorpusStats | None = None
) -> Iterator[str]:
    """Streams the documents of one corpus as Python strings.

    Files are resolved (and missing paths reported) on the first `next()`.

    Args:
        source: a `CorpusSource` or spec string.
        stats: updated with per-file counts while the stream is consumed.

    Example:

    >>> texts = iter_texts("reviews.txt")  # doctest: +SKIP
    >>> next(texts)  # doctest: +SKIP
    'a fine film .'
    """
    (source,) = to_corpus_sources(source)
    stats = CorpusStats() if stats is None else stats
    if source.kind == "tfds":
        yield from _read_tfds(source, stats)
        return
    for path, kind in resolve_files(source):
        yield from _READERS[kind](path, source.text_field, stats.for_file(path))


def check_has_text(source: CorpusSource | str) -> None:
    """Raises a `ValueError` naming the corpus if it yields no text.

    Reads only up to the first document, so it is cheap on real corpora.

    Args:
        source: a `CorpusSource` or spec string.
    """
    (source,) = to_corpus_sources(source)
    probe = CorpusStats()
    for _ in iter_texts(source, probe):
        return
    raise ValueError(
        f"Corpus {source.name!r} yields no text. {probe.summary()}. "
        "Check the file format, the encoding (UTF-8) and '?field='."
    )


def text_dataset(
    sources: CorpusSource | str | Iterable[CorpusSource | str],
    *,
    stats: CorpusStats | None = None,
) -> tf.data.Dataset:
    """Returns a streamed `tf.data.Dataset` of scalar `tf.string` documents.

    Several corpora are read one after the other (weights are ignored; use
    `kerasft.data.mixing.mix_corpora` to sample by weight). Each corpus is
    checked up front: a missing path or a corpus without text raises here,
    not while training.

    Args:
        sources: a `CorpusSource`, a spec string, or a sequence of these.
        stats: updated with per-file counts while the dataset is iterated
            (in chunks of a few hundred documents).

    Example:

    >>> dataset = text_dataset(["reviews.txt", "notes.jsonl?field=body"])
    ... # doctest: +SKIP
    >>> dataset.element_spec  # doctest: +SKIP
    TensorSpec(shape=(), dtype=tf.string, name=None)
    """
    sources = to_corpus_sources(sources)
    for source in sources:
        check_has_text(source)
    stats = CorpusStats() if stats is None else stats

    def generate():
        # Chunks amortise the per-call cost of crossing into Python, which
        # otherwise dominates reading short documents.
        chunk = []
        for source in sources:
            for text in iter_texts(source, stats):
                chunk.append(text.encode("utf-8"))
                if len(chunk) == _GENERATOR_CHUNK_SIZE:
                    yield chunk
                    chunk = []
        if chunk:
            yield chunk

    return tf.data.Dataset.from_generator(
        generate, output_signature=tf.TensorSpec(shape=(None,), dtype=tf.string)
    ).unbatch()


def count_corpus(
    sources: CorpusSource | str | Iterable[CorpusSource | str],
) -> CorpusStats:
    """Reads corpora once, logs a summary and returns the counts.

    Args:
        sources: a `CorpusSource`, a spec string, or a sequence of these.

    Example:

    >>> count_corpus("reviews.txt").documents  # doctest: +SKIP
    8528
    """
    sources = to_corpus_sources(sources)
    stats = CorpusStats()
    for source in sources:
        before = stats.documents
        for _ in iter_texts(source, stats):
            pass
        if stats.documents == before:
            raise ValueError(
                f"Corpus {source.name!r} yields no text. {stats.summary()}. "
                "Check the file format, the encoding (UTF-8) and '?field='."
            )
    logging.info("Corpus counts: %s", stats.summary())
    return stats


def _split_names(split: str) -> set[str]:
    # TFDS split strings look like "train[:10%]+test".
    return {part.split("[")[0].strip() for part in split.split("+")}


def labelled_text_sources(
    dataset_dir: str,
    splits: Sequence[str] = ("train",),
    *,
    allow_test: bool = False,
) -> list[CorpusSource]:
    """Returns corpora for the text (not labels) of a labelled dataset.

    The dataset folder holds `{split}.jsonl` (field `text`) or
    `{split}.conll` files, like `shared/data/sentiment_rt_polarity`. Each
    source records its split, so `corpus_provenance` can report which splits
    a run pretrained on and whether it is transductive.

    Args:
        dataset_dir: the dataset folder.
        splits: split names to read, e.g. `("train", "validation")`.
        allow_test: pretraining on the `test` split is refused unless this is
            `True`: then the run is transductive and a warning is logged.

    Example:

    >>> sources = labelled_text_sources("shared/data/ner_conll2003")
    ... # doctest: +SKIP
    >>> [s.to_spec() for s in sources]  # doctest: +SKIP
    ['shared/data/ner_conll2003/train.conll?split=train']
    """
    if isinstance(splits, str):
        splits = (splits,)
    splits = list(splits)
    if not splits or not all(isinstance(s, str) and s for s in splits):
        raise ValueError(
            "`splits` must be a non-empty sequence of split names. "
            f"Received: splits={splits!r}"
        )
    if len(set(splits)) != len(splits):
        raise ValueError(
            f"`splits` has duplicates. Received: splits={splits!r}"
        )
    if not os.path.isdir(dataset_dir):
        raise ValueError(
            "`dataset_dir` must be a dataset folder. "
            f"Received: dataset_dir={dataset_dir!r}, which is not a directory."
        )
    if _TEST_SPLIT in splits:
        if not allow_test:
            raise ValueError(
                f"`splits` includes 'test' for {dataset_dir!r}. Pretraining "
                "on the test text makes the run transductive: the backbone "
                "has seen the test inputs (not their labels), so the test "
                "score no longer measures performance on unseen text and is "
                "not comparable with inductive runs. Pass `allow_test=True` "
                "to opt in; the run config then records the run as "
                f"transductive. Received: splits={splits!r}"
            )
        logging.warning(
            "Pretraining on the test split of %s: this run is transductive; "
            "report its test score as such.",
            dataset_dir,
        )
    sources = []
    for split in splits:
        candidates = [
            os.path.join(dataset_dir, f"{split}.{ext}")
            for ext in _LABELLED_EXTENSIONS
        ]
        found = [c for c in candidates if os.path.isfile(c)]
        if len(found) != 1:
            problem = "none" if not found else "more than one"
            raise ValueError(
                f"Expected exactly one of {candidates} for split {split!r}, "
                f"found {problem}. Files in {dataset_dir!r}: "
                f"{sorted(os.listdir(dataset_dir))}"
            )
        path = found[0]
        sources.append(
            CorpusSource(kind=_supported_kind(path), path=path, split=split)
        )
    return sources


def corpus_provenance(
    sources: CorpusSource | str | Iterable[CorpusSource | str],
) -> dict:
    """Returns what a run config should record about its corpora.

    Args:
        sources: the corpora a run pretrained on.

    Returns:
        A dict with `corpora` (spec strings, parseable back), `splits` (split
        names the text came from) and `transductive` (whether any corpus is a
        `test` split).

    Example:

    >>> corpus_provenance(["tfds:imdb_reviews?split=test"])["transductive"]
    True
    """
    sources = to_corpus_sources(sources)
    splits = set()
    for source in sources:
        if source.split is not None:
            splits |= _split_names(source.split)
    return {
        "corpora": [source.to_spec() for source in sources],
        "splits": sorted(splits),
        "transductive": _TEST_SPLIT in splits,
    }
