"""Subsets of a labelled file: the records at given indices, written as they were.

A record is what a head's `read_examples` turns into one example: a
non-blank line of a JSONL file, a sentence of a CoNLL file. Writing the
original lines (not re-encoding the examples) keeps every field, column and
quirk of the source, so the subset reads back as exactly those examples.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

from kerasft.atomic_files import atomic_path
from kerasft.data.conll import iter_sentence_lines
from kerasft.data.lines import read_lines


def _records(path: str) -> Iterator[list[str]]:
    """Each record of a labelled file as its lines (without line endings)."""
    if path.endswith(".conll"):
        for sentence in iter_sentence_lines(path):
            yield [token.line.text.rstrip("\r\n") for token in sentence]
    elif path.endswith(".jsonl"):
        for line in read_lines(path):
            if line.error is None and not line.is_blank:
                yield [line.text.rstrip("\r\n")]
    else:
        raise ValueError(
            f"A label subset needs a .jsonl or .conll file. Received: {path!r}."
        )


def write_subset(path: str, indices: Sequence[int], out_path: str) -> int:
    """Write the records of `path` at `indices` to `out_path`, in file order.

    Written to a temporary file and renamed into place, so a reader never
    sees half a subset.

    Args:
        path: a labelled `.jsonl` (a record a non-blank line) or `.conll`
            (a record a sentence) file.
        indices: 0-based record indices, as `read_examples` numbers the
            examples.
        out_path: the subset file (same extension as `path`).

    Returns:
        The number of records written.

    Example:
    >>> write_subset("train.jsonl", [0, 5, 9], "train-0.1.jsonl")  # doctest: +SKIP
    3
    """
    wanted = set(int(i) for i in indices)
    conll = path.endswith(".conll")
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    written = total = 0
    # The ValueError below leaves out_path as it was (no temporary either).
    with atomic_path(out_path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            for total, lines in enumerate(_records(path), 1):
                if total - 1 in wanted:
                    f.write("\n".join(lines) + ("\n\n" if conll else "\n"))
                    written += 1
        if written != len(wanted):
            raise ValueError(
                f"`indices` must be record numbers of {path}, which has {total} "
                f"records. Received: indices up to {max(wanted)}."
            )
    return written
