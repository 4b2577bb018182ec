"""Which unlabeled corpora to read: corpus specs, sources and their files.

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
skipped and counted in a `CorpusStats`, never fatal (see
`kerasft.data.corpus_readers`). A corpus that yields no text at all, a missing
path or a glob matching nothing is a `ValueError`.

The stages after this one: `corpus_readers` (one file into texts),
`corpus_stream` (corpora into a `tf.data.Dataset`), `mixing` (by weight).
"""

from __future__ import annotations

import dataclasses
import glob
import math
import numbers
import os
import re
from collections.abc import Iterable

FILE_KINDS = ("txt", "jsonl", "csv", "tsv", "conll")
KINDS = FILE_KINDS + ("dir", "glob", "tfds")
DEFAULT_TEXT_FIELD = "text"
DEFAULT_TFDS_SPLIT = "train"
_TFDS_PREFIX = "tfds:"
_SPEC_KEYS = ("field", "split", "data_dir")
_WEIGHT_RE = re.compile(
    r"^[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|inf|nan)$",
    re.IGNORECASE,
)
_QUERY_RE = re.compile(r"^[A-Za-z_]+=[^&]*(?:&[A-Za-z_]+=[^&]*)*$")
_GLOB_CHARS = ("*", "?", "[")


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


def validate_weight(weight: float, name: str = "weight") -> float:
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
    if any(char in location for char in _GLOB_CHARS):
        return "glob"
    return file_kind(location) or "dir"


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


def file_kind(path: str) -> str | None:
    """Returns the corpus kind a file's extension names, or `None`.

    Args:
        path: a file name or path.

    Example:

    >>> (file_kind("data/Train.JSONL"), file_kind("README.md"))
    ('jsonl', None)
    """
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
        files = [m for m in matches if os.path.isfile(m) and file_kind(m)]
        if not files:
            raise ValueError(
                f"Corpus glob {path!r} matches no supported files "
                f"(extensions {FILE_KINDS}). Matched: {matches[:5]}"
            )
        return [(f, file_kind(f)) for f in files]
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
        files.extend(os.path.join(root, n) for n in names if file_kind(n))
    files.sort()
    if not files:
        raise ValueError(
            f"Corpus directory {path!r} contains no supported files "
            f"(extensions {FILE_KINDS})."
        )
    return [(f, file_kind(f)) for f in files]

