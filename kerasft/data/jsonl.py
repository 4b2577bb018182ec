"""JSONL files: one JSON value a line; labelled data is `{"text", "label"}`."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator

from kerasft.data.lines import Line, read_lines


@dataclasses.dataclass(frozen=True)
class LabelledText:
    """One labelled example and where it came from (for error messages)."""

    text: str
    label: object  # a str, or a list of str for multi-label data
    source: str
    line: int


class MissingFieldError(ValueError):
    """A JSONL object lacks a field the reader needs (callers can suggest another head).

    Args:
        message: the error text (file, line, what was expected).
        field: the missing key.
        received_keys: the keys the object has.
    """

    def __init__(self, message: str, field: str, received_keys: list[str]):
        super().__init__(message)
        self.field = field
        self.received_keys = received_keys


@dataclasses.dataclass(frozen=True)
class JsonLine:
    """One line of a JSONL file and its parsed value, or why it has none.

    Args:
        line: the line; its `error` is set when it is not valid UTF-8.
        value: the parsed JSON value; `None` for a blank or broken line.
        error: why a decoded, non-blank line is not valid JSON, else `None`.

    Example:

    >>> [record.value for record in iter_json_lines("a.jsonl")]  # doctest: +SKIP
    [{'text': 'good', 'label': 'pos'}]
    """

    line: Line
    value: object = None
    error: json.JSONDecodeError | None = None


def iter_json_lines(path: str | os.PathLike) -> Iterator[JsonLine]:
    """Streams every line of a JSONL file, parsed, without raising on bad lines.

    Callers decide what an undecodable, blank or invalid line means: the
    labelled reader stops at it, the pretraining corpus reader counts it.

    Args:
        path: the `.jsonl` file.

    Example:

    >>> for record in iter_json_lines("a.jsonl"):  # doctest: +SKIP
    ...     print(record.line.number, record.value)
    """
    for line in read_lines(path):
        if line.error is not None or line.is_blank:
            yield JsonLine(line)
            continue
        try:
            value = json.loads(line.text)
        except json.JSONDecodeError as e:
            yield JsonLine(line, error=e)
        except (ValueError, RecursionError) as e:
            # Valid syntax past a limit of Python's parser: an integer of
            # over 4,300 digits (ValueError) or arrays nested deeper than
            # the recursion limit. Reported like any other invalid line.
            yield JsonLine(line, error=_limit_error(e, line.text))
        else:
            yield JsonLine(line, value)


def _limit_error(e: Exception, text: str) -> json.JSONDecodeError:
    if isinstance(e, RecursionError):
        reason = "nested too deeply to read"
    else:
        reason = f"a number too long to read: {str(e).split(';')[0]}"
    return json.JSONDecodeError(reason, text, 0)


def _lone_surrogate(value) -> str | None:
    """The first string in `value` (a str or a list of str) that is not
    valid Unicode, i.e. holds an unpaired `\\ud800`-`\\udfff` escape."""
    for item in value if isinstance(value, list) else [value]:
        try:
            item.encode("utf-8")
        except UnicodeEncodeError:
            return item
    return None


def read_labelled_jsonl(
    path: str | os.PathLike,
    *,
    text_field: str = "text",
    label_field: str = "label",
    label_type: type = str,
) -> list[LabelledText]:
    """Read a labelled JSONL file, failing clearly on the first bad line.

    Args:
        path: the `.jsonl` file.
        text_field: the key holding the text.
        label_field: the key holding the label.
        label_type: `str` for single-label data, `list` for multi-label
            (a list of strings).

    Example:
    >>> examples = read_labelled_jsonl("train.jsonl")  # doctest: +SKIP
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(
            f"Data file not found: {path!r}. Expected a JSONL file with one "
            f'{{"{text_field}": ..., "{label_field}": ...}} object a line.'
        )
    examples = []
    for record in iter_json_lines(path):
        line, obj = record.line, record.value
        where = line.where
        if line.error is not None:
            e = line.error
            raise ValueError(
                f"{where}: not valid UTF-8 ({e.reason} at byte {e.start}). "
                "Expected UTF-8 text."
            )
        if line.is_blank:
            continue
        if record.error is not None:
            e = record.error
            raise ValueError(
                f"{where}: not valid JSON ({e.msg}, column {e.colno}). "
                f'Expected one object like {{"{text_field}": "...", '
                f'"{label_field}": "..."}} a line. Received: {line.text.strip()[:80]!r}'
            )
        if not isinstance(obj, dict):
            raise ValueError(
                f"{where}: expected a JSON object, received "
                f"{type(obj).__name__}: {line.text.strip()[:80]!r}"
            )
        for field in (text_field, label_field):
            if field not in obj:
                raise MissingFieldError(
                    f"{where}: missing the {field!r} field. Received keys: "
                    f"{sorted(obj)}. Expected {text_field!r} and "
                    f"{label_field!r} (set --text_field/--label_field if "
                    "your file names them differently).",
                    field, sorted(obj),
                )
        text, label = obj[text_field], obj[label_field]
        if not isinstance(text, str):
            raise ValueError(
                f"{where}: {text_field!r} must be a string. Received: {text!r}"
            )
        if label_type is str and not isinstance(label, str):
            raise ValueError(
                f"{where}: {label_field!r} must be a string. Received: "
                f"{label!r}"
            )
        if label_type is list and not (
            isinstance(label, list) and all(isinstance(x, str) for x in label)
        ):
            raise ValueError(
                f"{where}: {label_field!r} must be a list of strings. "
                f"Received: {label!r}"
            )
        for field, value in ((text_field, text), (label_field, label)):
            bad = _lone_surrogate(value)
            if bad is not None:
                raise ValueError(
                    f"{where}: {field!r} holds an unpaired surrogate escape "
                    f"(\\ud800-\\udfff), which is not valid Unicode text. "
                    f"Received: {bad[:80]!r}. Expected text that encodes as "
                    "UTF-8."
                )
        examples.append(LabelledText(text, label, path, line.number))
    if not examples:
        raise ValueError(
            f"Data file is empty: {path!r}. Expected at least one "
            f'{{"{text_field}": ..., "{label_field}": ...}} line.'
        )
    return examples
