"""Labelled JSONL: one `{"text": ..., "label": ...}` object a line."""

from __future__ import annotations

import dataclasses
import json
import os


@dataclasses.dataclass(frozen=True)
class LabelledText:
    """One labelled example and where it came from (for error messages)."""

    text: str
    label: object  # a str, or a list of str for multi-label data
    source: str
    line: int


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
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            where = f"{path}, line {lineno}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ValueError(
                    f"{where}: not valid UTF-8 ({e.reason} at byte {e.start}). "
                    "Expected UTF-8 text."
                ) from None
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(
                    f"{where}: not valid JSON ({e.msg}, column {e.colno}). "
                    f'Expected one object like {{"{text_field}": "...", '
                    f'"{label_field}": "..."}} a line. Received: {line.strip()[:80]!r}'
                ) from None
            if not isinstance(obj, dict):
                raise ValueError(
                    f"{where}: expected a JSON object, received "
                    f"{type(obj).__name__}: {line.strip()[:80]!r}"
                )
            for field in (text_field, label_field):
                if field not in obj:
                    raise ValueError(
                        f"{where}: missing the {field!r} field. Received keys: "
                        f"{sorted(obj)}. Expected {text_field!r} and "
                        f"{label_field!r} (set --text_field/--label_field if "
                        "your file names them differently)."
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
            examples.append(LabelledText(text, label, path, lineno))
    if not examples:
        raise ValueError(
            f"Data file is empty: {path!r}. Expected at least one "
            f'{{"{text_field}": ..., "{label_field}": ...}} line.'
        )
    return examples
