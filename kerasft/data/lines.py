"""Numbered UTF-8 lines of a file: the one line reader under every format."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import NamedTuple

_BOM = "\ufeff"


class Line(NamedTuple):
    """One line of a file, decoded, or the reason it could not be.

    Args:
        path: the file the line is from.
        number: the 1-based line number.
        raw: the line's bytes as stored, line end included.
        text: the decoded line, line end included, without the UTF-8 byte
            order mark of line 1; `None` when `raw` is not valid UTF-8.
        error: why `raw` is not valid UTF-8, else `None`.

    Example:

    >>> line = Line("a.txt", 3, b"hi\\n", "hi\\n")
    >>> (line.where, line.is_blank)
    ('a.txt, line 3', False)
    """

    # A named tuple, not a dataclass: readers build one a line, and a tuple
    # is several times cheaper to build on multi-gigabyte corpora.
    path: str
    number: int
    raw: bytes
    text: str | None
    error: UnicodeDecodeError | None = None

    @property
    def where(self) -> str:
        """`"PATH, line N"`, the prefix of every message about the line."""
        return f"{self.path}, line {self.number}"

    @property
    def is_blank(self) -> bool:
        """Whether the line decoded to nothing but white space."""
        return self.text is not None and not self.text.strip()


def read_lines(path: str | os.PathLike, *, errors: str = "strict") -> Iterator[Line]:
    """Streams the lines of a file, decoding each one on its own.

    An undecodable line is yielded with its `error` instead of raising, so
    that strict readers can name the file and line and lenient readers can
    count it and read on.

    Args:
        path: the file.
        errors: `"strict"`, or a lenient codec error handler such as
            `"surrogateescape"` (then no line has an `error`).

    Example:

    >>> [line.text for line in read_lines("a.txt")]  # doctest: +SKIP
    ['first\\n', 'second']
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                text = raw.decode("utf-8", errors)
            except UnicodeDecodeError as e:
                yield Line(path, number, raw, None, e)
                continue
            if number == 1:
                # Decoding first keeps byte offsets in errors those of the file.
                text = text.removeprefix(_BOM)
            yield Line(path, number, raw, text)
