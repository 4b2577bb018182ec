"""CoNLL files: a token and its tag a line, a blank line after each sentence."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterator
from typing import NamedTuple

from kerasft.data import tag_schemes
from kerasft.data.lines import Line, read_lines

_COLUMN_SEPARATOR = re.compile(r"[ \t]+")
_DOCSTART = "-DOCSTART-"


@dataclasses.dataclass(frozen=True)
class Sentence:
    """One tagged sentence and where it came from (for error messages).

    Args:
        tokens: the tokens, first column of the file.
        tags: one tag per token, last column of the file.
        source: the file the sentence was read from.
        line: the 1-based line number of the sentence's first token.
    """

    tokens: tuple[str, ...]
    tags: tuple[str, ...]
    source: str
    line: int

    def __post_init__(self):
        if len(self.tokens) != len(self.tags):
            raise ValueError(
                "`tokens` and `tags` must have the same length. Received: "
                f"{len(self.tokens)} tokens and {len(self.tags)} tags "
                f"({self.source}, line {self.line})"
            )


def _check_path(path) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            "`path` must be a string or a path-like object. Received: "
            f"path={path!r} of type {type(path).__name__}"
        )
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(
            f"CoNLL file not found: {path!r}. Expected a file with one token a "
            "line (token first, tag last) and an empty line after each sentence."
        )
    return path


class TokenLine(NamedTuple):
    """One line of a CoNLL sentence: the line and its columns.

    Args:
        line: the line, with its number and, if not UTF-8, its `error`.
        columns: the fields split on spaces and tabs (token first, tag
            last); `None` when the line is not valid UTF-8.

    Example:

    >>> first = next(iter_sentence_lines("train.conll"))[0]  # doctest: +SKIP
    >>> first.line.number, first.columns  # doctest: +SKIP
    (3, ['EU', 'NNP', 'B-NP', 'B-ORG'])
    """

    line: Line
    columns: list[str] | None


def _strip(text: str) -> str:
    return text.rstrip("\r\n").strip(" \t")


def has_lone_carriage_return(line: Line) -> bool:
    """Whether a decoded line holds a `\\r` before its line end.

    Lines end at `\\n` (or `\\r\\n`); a lone `\\r` inside a line, as in
    files with classic Mac line ends, would otherwise glue several token
    lines into one whose middle columns are silently dropped.

    Example:

    >>> has_lone_carriage_return(Line("a.conll", 1, b"", "EU B-ORG\\rrejects O\\n"))
    True
    """
    return line.text is not None and "\r" in line.text.rstrip("\r\n")


def iter_sentence_lines(path: str | os.PathLike) -> Iterator[list[TokenLine]]:
    """Streams the sentences of a CoNLL file as their lines, unchecked.

    This is the one place that splits CoNLL text into sentences: an empty
    line or a `-DOCSTART-` line ends a sentence, and so does the end of the
    file. Nothing is validated, so that callers choose: `read_conll` stops
    at the first bad line, the pretraining corpus counts and skips it. An
    undecodable line belongs to the sentence it stands in.

    Args:
        path: the CoNLL file.

    Example:

    >>> for sentence in iter_sentence_lines("train.conll"):  # doctest: +SKIP
    ...     print(sentence[0].line.number, [c[0] for _, c in sentence])
    """
    sentence = []
    for line in read_lines(path):
        columns = None
        if line.text is not None:
            text = _strip(line.text)
            columns = _COLUMN_SEPARATOR.split(text) if text else []
        # An empty line ends a sentence; so does a document marker.
        if columns is not None and (not columns or columns[0] == _DOCSTART):
            if sentence:
                yield sentence
                sentence = []
            continue
        sentence.append(TokenLine(line, columns))
    if sentence:
        yield sentence


def _sentences(path: str) -> Iterator[tuple[tuple[str, ...], tuple[str, ...], int]]:
    expected_columns, expected_from = None, 0
    count = 0
    for sentence in iter_sentence_lines(path):
        for line, columns in sentence:
            lineno = line.number
            if line.error is not None:
                e = line.error
                raise ValueError(
                    f"{path}, line {lineno}: not valid UTF-8 ({e.reason} at byte "
                    f"{e.start} of the line). Received: line={line.raw!r:.120}. "
                    "Expected UTF-8 text; re-encode the file, e.g. with "
                    "`iconv -f latin1 -t utf-8`."
                )
            if has_lone_carriage_return(line):
                raise ValueError(
                    f"{path}, line {lineno}: a carriage return (\\r) inside the "
                    f"line. Received: line={line.raw!r:.120}. Expected lines "
                    "ending in \\n or \\r\\n; convert classic Mac line ends, "
                    "e.g. with `tr '\\r' '\\n'`."
                )
            if expected_columns is None:
                if len(columns) < 2:
                    raise ValueError(
                        f"{path}, line {lineno}: too few columns. Received: "
                        f"line={_strip(line.text)!r} (1 column). Expected at least "
                        "2 columns separated by spaces or tabs: the token first, "
                        "the tag last."
                    )
                expected_columns, expected_from = len(columns), lineno
            elif len(columns) != expected_columns:
                raise ValueError(
                    f"{path}, line {lineno}: wrong number of columns. Received: "
                    f"line={_strip(line.text)!r} ({len(columns)} columns). Expected "
                    f"{expected_columns} columns like the first token line (line "
                    f"{expected_from}). Tokens must not contain spaces or tabs."
                )
        count += 1
        yield (
            tuple(columns[0] for _, columns in sentence),
            tuple(columns[-1] for _, columns in sentence),
            sentence[0].line.number,
        )
    if count == 0:
        raise ValueError(
            f"CoNLL file {path!r} contains no sentences. Expected one token a "
            "line (token first, tag last) and an empty line after each sentence."
        )


def iter_conll_sentences(
    path: str | os.PathLike,
) -> Iterator[tuple[tuple[str, ...], tuple[str, ...], int]]:
    """Stream `(tokens, tags, line)` from a CoNLL file, one sentence at a time.

    Only the current sentence is held in memory. Tags are not checked against
    any scheme (use `read_conll` for labelled data). `-DOCSTART-` lines are
    skipped. A missing file raises at once; a file without sentences raises
    when the stream ends.

    Args:
        path: the CoNLL file.

    Example:
    >>> for tokens, tags, line in iter_conll_sentences("train.conll"):  # doctest: +SKIP
    ...     print(" ".join(tokens))
    """
    return _sentences(_check_path(path))


def _check_scheme_argument(name: str, value, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(
            f"`{name}` must be one of {', '.join(map(repr, allowed))}. "
            f"Received: {name}={value!r}"
        )


def read_conll(
    path: str | os.PathLike,
    *,
    tag_scheme: str = "auto",
    convert_to: str | None = "iob2",
) -> list[Sentence]:
    """Read a tagged CoNLL file, validating and converting its tags.

    Columns are separated by spaces or tabs; every token line must have the
    same number of columns (at least 2). The token is the first column and
    the tag the last. Errors name the file and the 1-based line.

    Args:
        path: the CoNLL file.
        tag_scheme: `"auto"` (detect over the whole file), `"iob1"`,
            `"iob2"` or `"bioes"`. Every sentence must be well-formed in the
            scheme (see `tag_schemes.find_invalid_tag`).
        convert_to: the scheme of the returned tags (`"iob1"`, `"iob2"` or
            `"bioes"`), or `None` to keep the file's tags.

    Example:
    >>> sentences = read_conll("validation.conll")  # doctest: +SKIP
    >>> sentences[0].tokens, sentences[0].tags  # doctest: +SKIP
    """
    _check_scheme_argument(
        "tag_scheme", tag_scheme, ("auto",) + tag_schemes.TAG_SCHEMES
    )
    _check_scheme_argument(
        "convert_to", convert_to, tag_schemes.TAG_SCHEMES + (None,)
    )
    path = _check_path(path)
    raw = []
    for tokens, tags, line in _sentences(path):
        for offset, tag in enumerate(tags):
            try:
                tag_schemes.split_tag(tag)
            except ValueError as e:
                raise ValueError(f"{path}, line {line + offset}: {e}") from None
        raw.append((tokens, tags, line))

    scheme = tag_scheme
    if scheme == "auto":
        scheme = tag_schemes.detect_tag_scheme([tags for _, tags, _ in raw])
    sentences = []
    for tokens, tags, line in raw:
        problem = tag_schemes.find_invalid_tag(tags, scheme)
        if problem is not None:
            offset, reason = problem
            how = "detected" if tag_scheme == "auto" else "given"
            raise ValueError(
                f"{path}, line {line + offset}: {reason} (tag scheme {how}: "
                f"{scheme!r})"
            )
        if convert_to is not None and convert_to != scheme:
            tags = tuple(tag_schemes.convert_tags(tags, scheme, convert_to))
        sentences.append(Sentence(tokens, tags, path, line))
    return sentences
